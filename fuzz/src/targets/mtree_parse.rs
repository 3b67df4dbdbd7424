//! `mtree::parse` on arbitrary UTF-8, and the parsed manifest used for a repack.
//!
//! Checks: no panic; every parsed path is `.` or a cleaned relative path; `vis` decodes
//! what it encodes; a manifest that parses can be repacked against a small in-memory
//! tree (and an empty one) without panicking, and what it writes is whole tar blocks.

use crate::{FuzzTree, assert_clean};
use repack_guest::mtree::{self, vis};
use repack_guest::repack;

/// One input.
pub fn run(data: &[u8]) {
    // vis is a bijection on bytes.
    let encoded = vis::encode(data);
    assert!(encoded.bytes().all(|b| b.is_ascii_graphic()), "{encoded:?}");
    assert_eq!(vis::decode(&encoded).expect("decoding our own encoding"), data);

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(entries) = mtree::parse(text) else {
        return;
    };
    for entry in &entries {
        assert!(!entry.path.is_empty(), "an empty path");
        if entry.path != b"." {
            assert_clean("parse", &entry.path);
        }
        assert!(entry.keywords.keys().all(|k| !k.is_empty()), "an empty keyword");
    }

    // Repack a small tree against the manifest: an arbitrary manifest may make the
    // repack fail, but never panic.
    let tree = FuzzTree::lower();
    let options = repack::Options {
        manifest: text.to_owned(),
        ..Default::default()
    };
    if let Ok((layer, _)) = repack::repack(&tree, &options, Vec::new()) {
        assert_eq!(layer.len() % 512, 0, "a layer of {} bytes", layer.len());
    }
    // And an empty tree: everything in the manifest is a deletion.
    let _ = repack::repack(&FuzzTree::new(), &options, Vec::new());
}
