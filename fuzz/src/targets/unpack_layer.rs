//! `unpack::unpack_layer` on arbitrary bytes as an uncompressed tar layer, applied to an
//! in-memory tree that checks every path the guest hands it.
//!
//! Checks: no panic; every path the guest passes to the tree is a cleaned relative path
//! (not absolute, no empty, `.` or `..` component) that never goes through a symlink;
//! the root is never created or removed; afterwards (success or error) the tree is
//! consistent, its mtree manifest parses back to exactly its paths and repacks against
//! the tree with no change, and the layer repack writes for the whole tree unpacks onto
//! a bare root into a tree with the same manifest.
//!
//! The first input byte picks the options (keep_dirlinks, rootless, an id mapping) and
//! the lower tree (empty or a small one with symlinks); the rest is the archive.

use crate::{FuzzTree, layer_round_trip, round_trip};
use repack_guest::ids::{IdMapping, MapOptions};
use repack_guest::unpack::{self, Options, UnpackError};
use sha2::{Digest, Sha256};

/// One input.
pub fn run(data: &[u8]) {
    let Some((tree, result)) = apply(data) else {
        return;
    };
    if let Err(e) = &result {
        // Errors render (paths vis-encoded) without panicking.
        let _ = e.to_string();
    }
    tree.check();
    round_trip(&tree);
    layer_round_trip(&tree);
}

/// Apply the layer in `data` (after its flags byte) and return the tree and the outcome.
pub fn apply(data: &[u8]) -> Option<(FuzzTree, Result<Vec<String>, UnpackError>)> {
    let (&flags, layer) = data.split_first()?;
    let mut tree = if flags & 1 != 0 {
        FuzzTree::lower()
    } else {
        FuzzTree::new()
    };
    let options = options(flags);
    let diff_id = format!("sha256:{:x}", Sha256::digest(layer));
    let result = unpack::unpack_layer(
        &mut tree,
        &mut &layer[..],
        "application/vnd.oci.image.layer.v1.tar",
        &diff_id,
        &options,
    );
    Some((tree, result))
}

fn options(flags: u8) -> Options {
    let mut map = MapOptions::default();
    map.rootless = flags & 4 != 0;
    if flags & 8 != 0 {
        let m = IdMapping {
            container_id: 0,
            host_id: 100_000,
            size: 65_536,
        };
        map.uid_mappings = vec![m];
        map.gid_mappings = vec![m];
    }
    Options {
        map,
        keep_dirlinks: flags & 2 != 0,
        max_layer_size: 64 << 20,
        digester: None,
    }
}
