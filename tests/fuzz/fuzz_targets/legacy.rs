#![no_main]
// medsettle_fuzz::run lets the panics of known, reported bugs pass (src/lib.rs, KNOWN_BUGS).
libfuzzer_sys::fuzz_target!(|data: &[u8]| medsettle_fuzz::run("legacy", data));
