#![no_main]
//! See `hookline::fuzz::bridge`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| hookline::fuzz::bridge(data));
