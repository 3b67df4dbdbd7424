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
fn pax_values_holding_newlines_apply_byte_for_byte() {
    // What the fuzzer's unpack → repack → unpack round trip produced: repack writes the
    // binary `user.rootlesscontainers` value of an owner 163840 (varint 80 80 0a) as a
    // PAX record, which must read back by its length, newline and all.
    let layer = regression(include_bytes!(
        "../../../fuzz/regressions/unpack_layer/repacked-xattr-newline.bin"
    ));
    let mut tree = MemTree::new();
    apply(&mut tree, layer).unwrap();
    assert_eq!(
        tree.nodes[&b"sp ace"[..]].xattrs,
        [(
            b"user.rootlesscontainers".to_vec(),
            b"\x08\x80\x80\x0a\x10\xff\xff\xff\xff\x0f".to_vec()
        )]
    );
    assert!(tree.nodes.contains_key(&b"nl\ndir/x"[..]));

    // A record framed inside a value stays part of the value: the link target is the
    // `harmless` Go and GNU tar see, never the `/etc/evil` a newline-splitting reader
    // would take.
    let layer = regression(include_bytes!(
        "../../../fuzz/regressions/unpack_layer/pax-newline-smuggles-linkpath.bin"
    ));
    let mut tree = MemTree::new();
    apply(&mut tree, layer).unwrap();
    let link = &tree.nodes[&b"link"[..]];
    assert_eq!(link.data, b"harmless");
    assert_eq!(
        link.xattrs,
        [(b"user.a".to_vec(), b"x\n22 linkpath=/etc/evil".to_vec())]
    );
}

#[test]
fn binary_xattrs_round_trip_through_repack() {
    // unpack → repack → unpack keeps every byte of a value holding newlines.
    let value: Vec<u8> = b"\x01\x00\x00\x02\x0a\x00\n\n12 path=x\n".to_vec();
    let mut file = header("f", EntryType::Regular);
    file.xattrs = vec![
        (b"security.capability".to_vec(), value.clone()),
        (b"user.nl".to_vec(), b"\n".to_vec()),
    ];
    let layer = archive(&[(file, b"data")]);
    let mut tree = MemTree::new();
    apply(&mut tree, &layer).unwrap();
    let options = crate::repack::Options {
        manifest: "#mtree\n. type=dir mode=0755 uid=0 gid=0\n".into(),
        ..Default::default()
    };
    let (relayer, _) = crate::repack::repack(&tree, &options, Vec::new()).unwrap();
    let mut again = MemTree::new();
    apply(&mut again, &relayer).unwrap();
    let mut got = again.nodes[&b"f"[..]].xattrs.clone();
    got.sort();
    assert_eq!(
        got,
        [
            (b"security.capability".to_vec(), value),
            (b"user.nl".to_vec(), b"\n".to_vec()),
        ]
    );
    assert_eq!(again.nodes[&b"f"[..]].data, b"data");
}

/// A PAX record, its length counting itself.
fn pax_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3;
    let mut len = rest + rest.to_string().len();
    len = rest + len.to_string().len();
    [format!("{len} ").as_bytes(), key, b"=", value, b"\n"].concat()
}

/// A PAX format 1.0 sparse file `name` of `size` bytes holding `regions` (offset,
/// data), as GNU tar writes it.
fn sparse_entry(name: &str, size: u64, regions: &[(u64, &[u8])]) -> Vec<u8> {
    let records = [
        pax_record(b"GNU.sparse.major", b"1"),
        pax_record(b"GNU.sparse.minor", b"0"),
        pax_record(b"GNU.sparse.name", name.as_bytes()),
        pax_record(b"GNU.sparse.realsize", size.to_string().as_bytes()),
    ]
    .concat();
    let mut map = format!("{}\n", regions.len());
    for (offset, data) in regions {
        map += &format!("{offset}\n{}\n", data.len());
    }
    let mut stored = map.into_bytes();
    stored.resize(stored.len() + tar::padding(stored.len() as u64), 0);
    for (_, data) in regions {
        stored.extend_from_slice(data);
    }
    let mut out = raw_header("PaxHeaders/s", records.len() as u64, b'x');
    out.extend_from_slice(&records);
    out.resize(out.len() + tar::padding(records.len() as u64), 0);
    out.extend_from_slice(&raw_header("GNUSparseFile.0/s", stored.len() as u64, b'0'));
    out.extend_from_slice(&stored);
    out.resize(out.len() + tar::padding(stored.len() as u64), 0);
    out
}

#[test]
fn sparse_files_get_holes_and_count_against_the_limit() {
    let mut layer = sparse_entry("big", 1 << 20, &[(4096, b"data"), (1 << 19, b"more")]);
    layer.extend_from_slice(&tar::END_OF_ARCHIVE);
    let mut tree = MemTree::new();
    apply(&mut tree, &layer).unwrap();
    let node = &tree.nodes[&b"big"[..]];
    assert_eq!(node.data.len(), 1 << 20);
    assert_eq!(&node.data[4096..4100], b"data");
    assert_eq!(&node.data[1 << 19..(1 << 19) + 4], b"more");
    assert_eq!(node.data.iter().filter(|&&b| b != 0).count(), 8);
    assert_eq!(node.holes, (1 << 20) - 8, "holes skipped, not written");
    assert!(!tree.nodes.contains_key(&b"GNUSparseFile.0"[..]));

    // The archive is small, the file is not: the limit counts the file.
    let mut small = options();
    small.max_layer_size = 1 << 19;
    let mut tree = MemTree::new();
    let err = unpack_layer(&mut tree, &mut &layer[..], TAR, &diff_id(&layer), &small).unwrap_err();
    assert!(err.to_string().contains("--max-layer-size"), "{err}");
    assert_eq!(err.path(), b"big");
    assert!(
        !tree.nodes.contains_key(&b"big"[..]),
        "refused before it was created"
    );
}

#[test]
fn a_directory_replaced_later_in_its_layer_is_not_restored() {
    // `a/a/f`, then `a` as a file (and `b/b/f`, then `b` as a symlink): the parent
    // times recorded for `a/a` and `b/b` are dropped with them.
    let mut b = header("b", EntryType::Symlink);
    b.linkname = b"target".to_vec();
    let layer = archive(&[
        (header("a/", EntryType::Directory), b""),
        (header("a/a/", EntryType::Directory), b""),
        (header("a/a/f", EntryType::Regular), b"x"),
        (header("a", EntryType::Regular), b"file a"),
        (header("b/b/f", EntryType::Regular), b"y"),
        (b, b""),
    ]);
    let mut tree = MemTree::new();
    let before = tree.metadata(b"").unwrap().mtime_sec;
    apply(&mut tree, &layer).unwrap();
    assert_eq!(tree.nodes[&b"a"[..]].data, b"file a");
    assert_eq!(tree.nodes[&b"b"[..]].meta.kind, Kind::Symlink);
    assert_eq!(tree.metadata(b"").unwrap().mtime_sec, before);
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
