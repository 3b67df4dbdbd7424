//! See `src/targets/mtree_parse.rs` for what this target feeds and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| repack_fuzz::targets::mtree_parse::run(data));
