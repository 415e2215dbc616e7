#![no_main]
//! See `hookline::fuzz::address`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| hookline::fuzz::address(data));
