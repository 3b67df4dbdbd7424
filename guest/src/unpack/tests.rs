//! Layers built with our own tar encoder, applied to in-memory trees.

use sha2::{Digest, Sha256};

use super::*;
use crate::tar::{self, EntryType, Header};
use crate::tree::mem::{MemTree, meta};
use crate::tree::{Kind, Tree};

fn header(name: &str, entry_type: EntryType) -> Header {
    Header {
        name: name.as_bytes().to_vec(),
        entry_type,
        mode: 0o755,
        uid: 0,
        gid: 0,
        size: 0,
        mtime: 1234,
        linkname: Vec::new(),
        devmajor: 0,
        devminor: 0,
        xattrs: Vec::new(),
    }
}

/// An archive of (header, data) pairs.
fn archive(entries: &[(Header, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (h, data) in entries {
        let mut h = h.clone();
        if h.entry_type == EntryType::Regular {
            h.size = data.len() as u64;
        }
        tar::encode_header(&h, &mut out).unwrap();
        out.extend_from_slice(data);
        out.resize(out.len() + tar::padding(data.len() as u64), 0);
    }
    out.extend_from_slice(&tar::END_OF_ARCHIVE);
    out
}

fn diff_id(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

const TAR: &str = "application/vnd.oci.image.layer.v1.tar";

fn options() -> Options {
    Options {
        max_layer_size: 1 << 30,
        ..Options::default()
    }
}

fn apply(tree: &mut MemTree, layer: &[u8]) -> Result<Vec<String>, UnpackError> {
    unpack_layer(tree, &mut &layer[..], TAR, &diff_id(layer), &options())
}

fn lower() -> MemTree {
    let mut tree = MemTree::new();
    tree.insert(b"etc", meta(Kind::Directory, 0o755), b"");
    tree.insert(b"etc/passwd", meta(Kind::Regular, 0o644), b"root\n");
    tree.insert(b"etc/old", meta(Kind::Regular, 0o644), b"");
    tree.insert(b"usr", meta(Kind::Directory, 0o755), b"");
    tree.insert(b"usr/bin", meta(Kind::Directory, 0o755), b"");
    tree.insert(b"bin", meta(Kind::Symlink, 0o777), b"usr/bin");
    tree
}

#[test]
fn every_kind_of_entry_is_created_with_its_metadata() {
    let mut tree = MemTree::new();
    let mut file = header("d/f", EntryType::Regular);
    file.mode = 0o4750;
    file.uid = 12;
    file.gid = 34;
    file.xattrs = vec![(b"user.k".to_vec(), b"v".to_vec())];
    let mut link = header("d/l", EntryType::Symlink);
    link.linkname = b"/etc/x".to_vec();
    let mut hard = header("h", EntryType::Hardlink);
    hard.linkname = b"d/f".to_vec();
    let mut dev = header("null", EntryType::CharDevice);
    dev.devmajor = 1;
    dev.devminor = 3;
    let layer = archive(&[
        (header("d/", EntryType::Directory), b""),
        (file, b"data"),
        (link, b""),
        (hard, b""),
        (dev, b""),
        (header("p", EntryType::Fifo), b""),
    ]);
    apply(&mut tree, &layer).unwrap();
    let f = &tree.nodes[&b"d/f"[..]];
    assert_eq!(f.data, b"data");
    assert_eq!(
        (f.meta.mode, f.meta.uid, f.meta.gid, f.meta.mtime_sec),
        (0o4750, 12, 34, 1234)
    );
    assert_eq!(f.xattrs, [(b"user.k".to_vec(), b"v".to_vec())]);
    assert_eq!(tree.nodes[&b"d/l"[..]].data, b"/etc/x");
    assert_eq!(tree.nodes[&b"h"[..]].meta.ino, f.meta.ino);
    let n = &tree.nodes[&b"null"[..]].meta;
    assert_eq!(
        (n.kind, n.rdev_major, n.rdev_minor),
        (Kind::CharDevice, 1, 3)
    );
    assert_eq!(tree.nodes[&b"p"[..]].meta.kind, Kind::Fifo);
}

#[test]
fn whiteouts_remove_lower_objects_but_not_this_layers() {
    let mut tree = lower();
    let layer = archive(&[
        (header("etc/.wh.old", EntryType::Regular), b""),
        (header("usr/bin/new", EntryType::Regular), b"n"),
        (header("usr/bin/.wh..wh..opq", EntryType::Regular), b""),
        (header(".wh.missing", EntryType::Regular), b""),
    ]);
    tree.insert(b"usr/bin/lower", meta(Kind::Regular, 0o644), b"");
    apply(&mut tree, &layer).unwrap();
    assert!(!tree.nodes.contains_key(&b"etc/old"[..]));
    assert!(tree.nodes.contains_key(&b"etc/passwd"[..]));
    assert!(
        tree.nodes.contains_key(&b"usr/bin/new"[..]),
        "created by this layer"
    );
    assert!(!tree.nodes.contains_key(&b"usr/bin/lower"[..]), "opaque");
}

#[test]
fn paths_resolve_through_symlinks_inside_the_root() {
    let mut tree = lower();
    let mut evil = header("evil", EntryType::Symlink);
    evil.linkname = b"/../../..".to_vec();
    let layer = archive(&[
        (header("bin/sh", EntryType::Regular), b"sh"),
        (evil, b""),
        (header("evil/etc/motd", EntryType::Regular), b"inside"),
        (header("../../escape", EntryType::Regular), b"x"),
        (header("/abs", EntryType::Regular), b"y"),
    ]);
    apply(&mut tree, &layer).unwrap();
    assert_eq!(tree.nodes[&b"usr/bin/sh"[..]].data, b"sh");
    assert_eq!(tree.nodes[&b"etc/motd"[..]].data, b"inside");
    assert_eq!(tree.nodes[&b"escape"[..]].data, b"x");
    assert_eq!(tree.nodes[&b"abs"[..]].data, b"y");
}

#[test]
fn a_non_directory_for_the_root_is_refused() {
    for root in [".", "./", "/", "a/.."] {
        let mut tree = lower();
        let mut link = header(root, EntryType::Symlink);
        link.linkname = b"/".to_vec();
        let err = apply(&mut tree, &archive(&[(link, b"")])).unwrap_err();
        assert!(
            err.to_string().contains("malicious tar entry"),
            "{root}: {err}"
        );
    }
}

#[test]
fn hostile_whiteouts_and_links_are_refused() {
    for name in [".wh.", ".wh..", "etc/.wh.."] {
        let mut tree = lower();
        let err = apply(
            &mut tree,
            &archive(&[(header(name, EntryType::Regular), b"")]),
        );
        assert!(
            err.unwrap_err().to_string().contains("malicious whiteout"),
            "{name}"
        );
        assert!(tree.nodes.contains_key(&b"etc/passwd"[..]));
    }
    let mut tree = lower();
    let mut hard = header("h", EntryType::Hardlink);
    hard.linkname = b"../../../etc/shadow".to_vec();
    let err = apply(&mut tree, &archive(&[(hard, b"")])).unwrap_err();
    assert_eq!(err.path(), b"h");
}

#[test]
fn a_symlink_swapped_in_for_a_directory_is_replaced_not_followed() {
    let mut tree = lower();
    let mut link = header("etc", EntryType::Symlink);
    link.linkname = b"/".to_vec();
    let layer = archive(&[(link, b""), (header("etc/", EntryType::Directory), b"")]);
    apply(&mut tree, &layer).unwrap();
    assert_eq!(tree.nodes[&b"etc"[..]].meta.kind, Kind::Directory);
    assert!(
        !tree.nodes.contains_key(&b"etc/passwd"[..]),
        "the old etc went with the clobber"
    );
}

#[test]
fn keep_dirlinks_writes_through_a_directory_symlink() {
    let mut tree = lower();
    let layer = archive(&[
        (header("bin/", EntryType::Directory), b""),
        (header("bin/tool", EntryType::Regular), b"t"),
    ]);
    let mut opts = options();
    opts.keep_dirlinks = true;
    unpack_layer(&mut tree, &mut &layer[..], TAR, &diff_id(&layer), &opts).unwrap();
    assert_eq!(tree.nodes[&b"bin"[..]].meta.kind, Kind::Symlink);
    assert_eq!(tree.nodes[&b"usr/bin/tool"[..]].data, b"t");
}

#[test]
fn layer_checks() {
    let mut tree = lower();
    let layer = archive(&[(header("f", EntryType::Regular), b"1")]);
    let err = unpack_layer(&mut tree, &mut &layer[..], TAR, "sha256:00", &options()).unwrap_err();
    assert!(err.to_string().contains("diff_id mismatch"), "{err}");
    let err = unpack_layer(
        &mut tree,
        &mut &layer[..],
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        &diff_id(&layer),
        &options(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("unsupported layer media type"),
        "{err}"
    );
    let mut small = options();
    small.max_layer_size = 1000;
    let err = unpack_layer(&mut tree, &mut &layer[..], TAR, &diff_id(&layer), &small).unwrap_err();
    assert!(err.to_string().contains("--max-layer-size"), "{err}");
}

#[test]
fn gzip_and_zstd_layers_apply() {
    use std::io::Write;
    let layer = archive(&[(header("f", EntryType::Regular), b"compressed")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&layer).unwrap();
    let gz = gz.finish().unwrap();
    let mut tree = MemTree::new();
    unpack_layer(
        &mut tree,
        &mut &gz[..],
        &format!("{TAR}+gzip"),
        &diff_id(&layer),
        &options(),
    )
    .unwrap();
    assert_eq!(tree.nodes[&b"f"[..]].data, b"compressed");
    // A zstd frame made by hand: one raw block holding the archive.
    let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd];
    frame.push(0x00); // no checksum, no size, window descriptor follows
    frame.push(0x58); // window 2^(10+11) = 2 MiB
    let len = layer.len() as u32;
    let block_header = (len << 3) | 1; // last block, raw
    frame.extend_from_slice(&block_header.to_le_bytes()[..3]);
    frame.extend_from_slice(&layer);
    let mut tree = MemTree::new();
    unpack_layer(
        &mut tree,
        &mut &frame[..],
        &format!("{TAR}+zstd"),
        &diff_id(&layer),
        &options(),
    )
    .unwrap();
    assert_eq!(tree.nodes[&b"f"[..]].data, b"compressed");
}

#[test]
fn rootless_records_owners_and_fakes_devices() {
    let mut tree = MemTree::new();
    let mut file = header("f", EntryType::Regular);
    file.uid = 992;
    file.gid = 123;
    let mut dev = header("dev", EntryType::BlockDevice);
    dev.devmajor = 8;
    let layer = archive(&[(file, b""), (dev, b"")]);
    let mut opts = options();
    opts.map.rootless = true;
    let warnings = unpack_layer(&mut tree, &mut &layer[..], TAR, &diff_id(&layer), &opts).unwrap();
    let f = &tree.nodes[&b"f"[..]];
    assert_eq!((f.meta.uid, f.meta.gid), (0, 0));
    assert_eq!(
        f.xattrs,
        [(
            b"user.rootlesscontainers".to_vec(),
            vec![0x08, 0xe0, 0x07, 0x10, 0x7b]
        )]
    );
    assert_eq!(tree.nodes[&b"dev"[..]].meta.kind, Kind::Regular);
    assert_eq!(warnings.len(), 1);
}

#[test]
fn rootless_drops_a_layers_own_owner_attribute() {
    let mut forged = header("forged", EntryType::Regular);
    forged.xattrs = vec![(b"user.rootlesscontainers".to_vec(), b"bogus".to_vec())];
    let mut owned = forged.clone();
    owned.name = b"owned".to_vec();
    owned.uid = 98;
    let layer = archive(&[(forged, b""), (owned, b"")]);
    let mut opts = options();
    opts.map.rootless = true;
    let mut tree = MemTree::new();
    unpack_layer(&mut tree, &mut &layer[..], TAR, &diff_id(&layer), &opts).unwrap();
    assert_eq!(tree.nodes[&b"forged"[..]].xattrs, []);
    assert_eq!(
        tree.nodes[&b"owned"[..]].xattrs,
        [(
            b"user.rootlesscontainers".to_vec(),
            vec![0x08, 0x62, 0x10, 0xff, 0xff, 0xff, 0xff, 0x0f]
        )]
    );
}

#[test]
fn parent_times_are_kept() {
    let mut tree = lower();
    let before = tree.metadata(b"etc").unwrap().mtime_sec;
    let layer = archive(&[(header("etc/new", EntryType::Regular), b"")]);
    apply(&mut tree, &layer).unwrap();
    assert_eq!(tree.metadata(b"etc").unwrap().mtime_sec, before);
}

/// A 512-byte block holding a ustar header for `name` with `size` and `kind`.
fn raw_header(name: &str, size: u64, kind: u8) -> Vec<u8> {
    let mut h = vec![0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    h[136..147].copy_from_slice(b"00000002322");
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    h
}

#[test]
fn a_pax_size_record_wins_over_the_header_size() {
    // As writers do for files of 8 GiB and more: the size only in a PAX record, the
    // header's field 0.
    let record = b"11 size=10\n";
    let mut layer = raw_header("PaxHeaders/big", record.len() as u64, b'x');
    layer.extend_from_slice(record);
    layer.resize(1024, 0);
    layer.extend_from_slice(&raw_header("big", 0, b'0'));
    layer.extend_from_slice(b"0123456789");
    layer.resize(layer.len() + 502, 0);
    layer.extend_from_slice(&raw_header("after", 0, b'0'));
    layer.extend_from_slice(&[0; 1024]);
    let mut tree = MemTree::new();
    apply(&mut tree, &layer).unwrap();
    assert_eq!(tree.nodes[&b"big"[..]].data, b"0123456789");
    assert!(tree.nodes.contains_key(&b"after"[..]));
}

/// A fuzz regression input (`fuzz/regressions/unpack_layer/`): a flags byte, then the
/// uncompressed layer.
fn regression(input: &[u8]) -> &[u8] {
    &input[1..]
}

#[test]
fn a_pax_value_holding_a_newline_is_refused_before_anything_is_created() {
    // What the fuzzer's unpack → repack → unpack round trip produced: repack writes the
    // binary `user.rootlesscontainers` value of an owner 163840 (varint 80 80 0a) as a
    // PAX record, and the tar crate splits PAX records at newlines (tar-rs#452).
    let layer = regression(include_bytes!(
        "../../../fuzz/regressions/unpack_layer/repacked-xattr-newline.bin"
    ));
    let mut tree = MemTree::new();
    let err = apply(&mut tree, layer).unwrap_err();
    assert_eq!(err.path(), b"sp ace/");
    assert!(err.to_string().contains("PAX record"), "{err}");
    assert!(!tree.nodes.contains_key(&b"sp ace"[..]));
    assert!(
        tree.nodes.contains_key(&b"nl\ndir/x"[..]),
        "earlier entries applied"
    );

    // The tail of such a value read as a record of its own: `linkpath=/etc/evil` inside
    // an xattr value, where Go and GNU tar see the link target `harmless`.
    let layer = regression(include_bytes!(
        "../../../fuzz/regressions/unpack_layer/pax-newline-smuggles-linkpath.bin"
    ));
    let mut tree = MemTree::new();
    let err = apply(&mut tree, layer).unwrap_err();
    assert!(err.to_string().contains("PAX record"), "{err}");
    assert_eq!(tree.nodes.len(), 1, "nothing but the root");
}

#[test]
fn a_pax_key_given_twice_is_refused() {
    // `path=a` then `path=b`: the tar crate takes the first, Go and GNU tar the last.
    let layer = regression(include_bytes!(
        "../../../fuzz/regressions/unpack_layer/pax-duplicate-path.bin"
    ));
    let mut tree = MemTree::new();
    let err = apply(&mut tree, layer).unwrap_err();
    assert!(err.to_string().contains("given twice"), "{err}");
    assert_eq!(tree.nodes.len(), 1, "nothing but the root");
}

#[test]
fn a_pax_mtime_wins_over_the_header_field() {
    // Python's tarfile (like Go and repack's own writer) puts times before 1970 or after
    // 2242 in a PAX `mtime` record and 0 in the header field.
    let layer = regression(include_bytes!(
        "../../../fuzz/regressions/unpack_layer/pax-mtime.bin"
    ));
    let mut tree = MemTree::new();
    apply(&mut tree, layer).unwrap();
    let time = |name: &[u8]| {
        let m = tree.metadata(name).unwrap();
        (m.mtime_sec, m.mtime_nsec)
    };
    assert_eq!(time(b"old"), (-2, 500_000_000), "-1.5 s, as Go reads it");
    assert_eq!(time(b"future"), (1 << 40, 0));
    assert_eq!(time(b"plain"), (1234, 0));

    // What the fuzzer found: a layer repack writes for such times unpacked as 1970.
    let mut old = header("old", EntryType::Regular);
    old.mtime = -1;
    let mut future = header("future", EntryType::Regular);
    future.mtime = 1 << 40;
    let layer = archive(&[(old, b""), (future, b"")]);
    let mut tree = MemTree::new();
    apply(&mut tree, &layer).unwrap();
    assert_eq!(tree.metadata(b"old").unwrap().mtime_sec, -1);
    assert_eq!(tree.metadata(b"future").unwrap().mtime_sec, 1 << 40);
}
