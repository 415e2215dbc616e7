#![no_main]
//! See `hookline::fuzz::template`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| hookline::fuzz::template(data));
