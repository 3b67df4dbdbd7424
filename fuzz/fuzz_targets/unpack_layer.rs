//! See `src/targets/unpack_layer.rs` for what this target feeds and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| repack_fuzz::targets::unpack_layer::run(data));
