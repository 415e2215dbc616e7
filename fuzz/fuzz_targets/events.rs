#![no_main]
//! See `hookline::fuzz::events`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| hookline::fuzz::events(data));
