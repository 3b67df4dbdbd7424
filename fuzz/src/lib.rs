//! cargo-fuzz targets for repack (see README.md). The bodies live here, not in the
//! `fuzz_targets/` binaries, so `cargo test` can replay the seeds and the regressions.

pub mod targets;
pub mod tree;

pub use tree::{FuzzTree, assert_clean, layer_round_trip, manifest, round_trip};
