//! See `src/targets/json_loaders.rs` for what this target feeds and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| repack_fuzz::targets::json_loaders::run(data));
