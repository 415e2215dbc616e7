#![no_main]
//! See `hookline::fuzz::webhook`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| hookline::fuzz::webhook(data));
