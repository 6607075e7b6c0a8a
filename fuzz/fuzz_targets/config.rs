#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| paywatch_fuzz::config(data));
