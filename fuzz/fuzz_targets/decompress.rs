//! See `src/targets/decompress.rs` for what this target feeds and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| repack_fuzz::targets::decompress::run(data));
