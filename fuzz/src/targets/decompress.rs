//! `unpack::unpack_layer` on arbitrary bytes as a gzip or zstd compressed layer (low
//! bit of the first byte: 0 gzip, 1 zstd; the rest is the blob), applied to an empty
//! in-memory tree with a 64 MiB expansion limit.
//!
//! Checks: no panic and no runaway memory in the decompressors; the same tree checks as
//! `unpack_layer` (clean paths, consistency, mtree and layer round trips).

use crate::{FuzzTree, layer_round_trip, round_trip};
use repack_guest::unpack::{self, Options};

/// One input.
pub fn run(data: &[u8]) {
    let Some((&flags, blob)) = data.split_first() else {
        return;
    };
    let media_type = if flags & 1 == 0 {
        "application/vnd.oci.image.layer.v1.tar+gzip"
    } else {
        "application/vnd.oci.image.layer.v1.tar+zstd"
    };
    let options = Options {
        max_layer_size: 64 << 20,
        digester: None,
        ..Options::default()
    };
    let mut tree = FuzzTree::new();
    // The diff_id cannot match; every entry is applied before it is checked.
    let diff_id = format!("sha256:{}", "0".repeat(64));
    let result = unpack::unpack_layer(&mut tree, &mut &blob[..], media_type, &diff_id, &options);
    assert!(result.is_err(), "a layer matched a zero diff_id");
    tree.check();
    round_trip(&tree);
    layer_round_trip(&tree);
}
