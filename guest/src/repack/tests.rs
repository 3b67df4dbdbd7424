//! Whole repacks over in-memory trees, the layer read back with the `tar` crate.

use std::io::Read;

use super::*;
use crate::ids::IdMapping;
use crate::tree::Kind;
use crate::tree::mem::{MemTree, meta};
use crate::tree::recorded::Recorded;

/// One entry of a layer as read back.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    name: String,
    kind: char,
    link: String,
    uid: u64,
    gid: u64,
    mode: u32,
    mtime: u64,
    data: Vec<u8>,
    pax: Vec<(String, Vec<u8>)>,
}

fn read_layer(bytes: &[u8]) -> Vec<Seen> {
    let mut archive = ::tar::Archive::new(bytes);
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut pax = Vec::new();
        if let Some(exts) = entry.pax_extensions().unwrap() {
            for ext in exts {
                let ext = ext.unwrap();
                pax.push((ext.key().unwrap().to_owned(), ext.value_bytes().to_vec()));
            }
        }
        let h = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.push(Seen {
            name: String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
            kind: h.entry_type().as_byte() as char,
            link: entry
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default(),
            uid: h.uid().unwrap(),
            gid: h.gid().unwrap(),
            mode: h.mode().unwrap(),
            mtime: h.mtime().unwrap(),
            data,
            pax,
        });
    }
    out
}

fn names(seen: &[Seen]) -> Vec<&str> {
    seen.iter().map(|s| s.name.as_str()).collect()
}

/// A small tree and its manifest.
fn base() -> (MemTree, String) {
    let mut tree = MemTree::new();
    tree.insert(b"etc", meta(Kind::Directory, 0o755), b"");
    tree.insert(b"etc/hostname", meta(Kind::Regular, 0o644), b"box\n");
    tree.insert(b"etc/motd", meta(Kind::Regular, 0o644), b"hi\n");
    tree.insert(b"old", meta(Kind::Directory, 0o755), b"");
    tree.insert(b"old/a", meta(Kind::Directory, 0o755), b"");
    tree.insert(b"old/a/f", meta(Kind::Regular, 0o600), b"x");
    tree.insert(b"bin", meta(Kind::Symlink, 0o777), b"usr/bin");
    let manifest = mtree::manifest(&tree, &Header::default()).unwrap();
    (tree, manifest)
}

fn run(tree: &MemTree, options: &Options) -> (Vec<u8>, Summary) {
    repack(tree, options, Vec::new()).unwrap()
}

fn options(manifest: String) -> Options {
    Options {
        manifest,
        ..Options::default()
    }
}

#[test]
fn no_change_writes_nothing() {
    let (tree, manifest) = base();
    let (bytes, summary) = run(&tree, &options(manifest));
    assert!(bytes.is_empty());
    assert_eq!(summary.written, Written::default());
}

#[test]
fn changes_become_sorted_entries_and_one_whiteout_per_deleted_tree() {
    let (mut tree, manifest) = base();
    tree.insert(b"etc/motd", meta(Kind::Regular, 0o644), b"changed\n");
    tree.insert(b"etc/new", meta(Kind::Regular, 0o640), b"new");
    tree.insert(b"etc-b", meta(Kind::Regular, 0o644), b"");
    tree.nodes.retain(|p, _| !p.starts_with(b"old"));
    tree.nodes.get_mut(&b"etc/hostname"[..]).unwrap().meta.mode = 0o4755;
    let (bytes, summary) = run(&tree, &options(manifest));
    let seen = read_layer(&bytes);
    assert_eq!(
        names(&seen),
        ["etc-b", "etc/hostname", "etc/motd", "etc/new", ".wh.old"],
        "a whiteout sorts at its deleted path, \"old\""
    );
    assert_eq!(seen[4].kind, '0');
    assert_eq!((seen[4].mode, seen[4].mtime, seen[4].uid), (0, 0, 0));
    assert_eq!(seen[1].mode, 0o4755);
    assert_eq!(seen[2].data, b"changed\n");
    assert_eq!(seen[3].mode, 0o640);
    assert_eq!(
        (
            summary.written.added,
            summary.written.modified,
            summary.written.deleted
        ),
        (2, 2, 1)
    );
    assert_eq!(summary.written.entries, 5);
    assert_eq!(bytes.len() % 512, 0);
    assert_eq!(&bytes[bytes.len() - 1024..], &[0u8; 1024][..]);
}

#[test]
fn a_new_directory_is_emitted_with_a_trailing_slash_and_the_root_as_dot() {
    let (mut tree, manifest) = base();
    tree.insert(b"opt", meta(Kind::Directory, 0o700), b"");
    tree.nodes.get_mut(&b""[..]).unwrap().meta.mode = 0o700;
    let (bytes, _) = run(&tree, &options(manifest));
    let seen = read_layer(&bytes);
    assert_eq!(names(&seen), [".", "opt/"]);
    assert_eq!(seen[0].kind, '5');
    assert_eq!(seen[0].mode, 0o700);
}

#[test]
fn hardlinks_within_the_layer_point_at_the_first_name() {
    let (mut tree, manifest) = base();
    let mut m = meta(Kind::Regular, 0o644);
    m.ino = 4242;
    m.nlink = 3;
    tree.insert(b"z", m, b"data");
    tree.insert(b"a", m, b"data");
    tree.insert(b"etc/m", m, b"data");
    let (bytes, _) = run(&tree, &options(manifest));
    let seen = read_layer(&bytes);
    assert_eq!(names(&seen), ["a", "etc/m", "z"]);
    assert_eq!((seen[0].kind, seen[0].data.as_slice()), ('0', &b"data"[..]));
    assert_eq!((seen[1].kind, seen[1].link.as_str()), ('1', "a"));
    assert_eq!((seen[2].kind, seen[2].link.as_str()), ('1', "a"));
    assert!(seen[2].data.is_empty());
}

#[test]
fn masks_leave_paths_out() {
    let (mut tree, manifest) = base();
    tree.insert(b"volume", meta(Kind::Directory, 0o755), b"");
    tree.insert(b"volume/x", meta(Kind::Regular, 0o644), b"");
    tree.insert(b"volumetest", meta(Kind::Regular, 0o644), b"");
    let mut opts = options(manifest);
    opts.masks = vec![b"/volume".to_vec()];
    let (bytes, _) = run(&tree, &opts);
    assert_eq!(names(&read_layer(&bytes)), ["volumetest"]);
}

#[test]
fn whiteout_names_in_the_tree_are_refused() {
    let (mut tree, manifest) = base();
    tree.insert(b"etc/.wh. THIS IS A TEST ", meta(Kind::Regular, 0o644), b"");
    let err = repack(&tree, &options(manifest), Vec::new()).unwrap_err();
    assert_eq!(err.path(), b"etc/.wh. THIS IS A TEST ");
    assert!(err.to_string().contains("reserved for whiteouts"), "{err}");
}

#[test]
fn sockets_are_skipped_with_a_warning() {
    let (mut tree, manifest) = base();
    tree.insert(b"run.sock", meta(Kind::Socket, 0o755), b"");
    tree.insert(b"s", meta(Kind::Regular, 0o644), b"");
    let (bytes, summary) = run(&tree, &options(manifest));
    assert_eq!(names(&read_layer(&bytes)), ["s"]);
    assert_eq!(summary.written.warnings.len(), 1);
    assert!(summary.written.warnings[0].starts_with("run.sock: sockets"));
}

#[test]
fn rootless_owner_comes_from_the_xattr_which_is_not_stored() {
    let (mut tree, manifest) = base();
    let mut m = meta(Kind::Regular, 0o644);
    m.uid = 1000;
    m.gid = 1000;
    let node = tree.insert(b"f", m, b"");
    node.xattrs.push((
        b"user.rootlesscontainers".to_vec(),
        vec![0x08, 0xe0, 0x07, 0x10, 0x7b],
    ));
    node.xattrs.push((b"user.keep".to_vec(), b"v".to_vec()));
    node.xattrs.push((b"user.empty".to_vec(), Vec::new()));
    node.xattrs
        .push((b"security.selinux".to_vec(), b"ctx".to_vec()));
    let mut opts = options(manifest);
    opts.layer.map.rootless = true;
    let (bytes, summary) = run(&tree, &opts);
    let seen = read_layer(&bytes);
    assert_eq!((seen[0].uid, seen[0].gid), (992, 123));
    assert_eq!(
        seen[0].pax,
        [("SCHILY.xattr.user.keep".to_owned(), b"v".to_vec())]
    );
    assert_eq!(summary.written.warnings.len(), 1, "the empty xattr");
}

#[test]
fn owners_are_mapped_into_the_image() {
    let (mut tree, manifest) = base();
    let mut m = meta(Kind::Regular, 0o644);
    m.uid = 2000;
    m.gid = 8000;
    tree.insert(b"f", m, b"");
    let mut opts = options(manifest);
    opts.layer.map.uid_mappings = vec![IdMapping {
        container_id: 0,
        host_id: 1337,
        size: 65535,
    }];
    opts.layer.map.gid_mappings = vec![IdMapping {
        container_id: 0,
        host_id: 7331,
        size: 65535,
    }];
    let mut stranger = meta(Kind::Regular, 0o644);
    stranger.uid = 5;
    tree.insert(b"g", stranger, b"");
    let err = repack(&tree, &opts, Vec::new()).unwrap_err();
    assert_eq!(err.path(), b"g", "uid 5 is outside the mapping");
    assert!(err.to_string().contains("uid 5 has no mapping"), "{err}");
    tree.nodes.remove(&b"g"[..]);
    let (bytes, _) = run(&tree, &opts);
    let seen = read_layer(&bytes);
    assert_eq!(names(&seen), ["f"]);
    assert_eq!((seen[0].uid, seen[0].gid), (663, 669));
}

#[test]
fn mtimes_after_the_clamp_are_clamped() {
    let (mut tree, manifest) = base();
    let mut late = meta(Kind::Regular, 0o644);
    late.mtime_sec = 5000;
    tree.insert(b"late", late, b"");
    tree.insert(b"early", meta(Kind::Regular, 0o644), b"");
    let mut opts = options(manifest);
    opts.layer.clamp_mtime = Some(2000);
    let (bytes, _) = run(&tree, &opts);
    let seen = read_layer(&bytes);
    assert_eq!(names(&seen), ["early", "late"]);
    assert_eq!((seen[0].mtime, seen[1].mtime), (1000, 2000));
}

#[test]
fn a_directory_replaced_by_a_file_has_no_whiteouts_below_it() {
    let (mut tree, manifest) = base();
    tree.nodes.retain(|p, _| !p.starts_with(b"etc"));
    tree.insert(b"etc", meta(Kind::Regular, 0o644), b"file now");
    let (bytes, summary) = run(&tree, &options(manifest));
    assert_eq!(names(&read_layer(&bytes)), ["etc"]);
    assert_eq!(summary.written.modified, 1);
}

#[test]
fn a_file_that_shrank_is_a_change_during_repack() {
    let (mut tree, manifest) = base();
    tree.insert(b"grow", meta(Kind::Regular, 0o644), b"abc")
        .meta
        .size = 10;
    let err = repack(&tree, &options(manifest), Vec::new()).unwrap_err();
    assert!(matches!(err, RepackError::Changed { .. }), "{err}");
    assert!(err.to_string().starts_with("changed during repack: grow"));
}

#[test]
fn refresh_returns_the_manifest_of_the_same_walk() {
    let (mut tree, manifest) = base();
    tree.insert(b"etc/new", meta(Kind::Regular, 0o644), b"n");
    let mut opts = options(manifest);
    opts.refresh = Some(Header::default());
    let (_, summary) = run(&tree, &opts);
    assert_eq!(
        summary.manifest.as_deref(),
        Some(mtree::manifest(&tree, &Header::default()).unwrap().as_str())
    );
}

#[test]
fn a_corrupt_manifest_is_refused_with_its_line() {
    let (tree, _) = base();
    let err = repack(&tree, &options("/set type=file\n\\".into()), Vec::new());
    let err = err.unwrap_err();
    assert!(matches!(err, RepackError::Manifest(_)), "{err}");
}

#[test]
fn a_long_non_utf8_name_round_trips_through_pax() {
    let (mut tree, manifest) = base();
    let mut name = b"etc/".to_vec();
    name.extend(std::iter::repeat_n(b'\xff', 200));
    tree.insert(&name, meta(Kind::Regular, 0o644), b"");
    let (bytes, _) = run(&tree, &options(manifest));
    let mut archive = ::tar::Archive::new(&bytes[..]);
    let entry = archive.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(&entry.path_bytes()[..], &name[..]);
}

/// A tree whose one big file is all zeros, served without holding it in memory.
struct Sparse {
    inner: MemTree,
    path: &'static [u8],
    size: u64,
}

struct Zeros(u64);

impl crate::tree::FileReader for Zeros {
    fn read(&mut self, max: u32) -> Result<Vec<u8>, crate::tree::FsError> {
        let n = self.0.min(u64::from(max));
        self.0 -= n;
        Ok(vec![0; n as usize])
    }
}

impl crate::tree::Tree for Sparse {
    fn metadata(&self, p: &[u8]) -> Result<crate::tree::Metadata, crate::tree::FsError> {
        let mut m = self.inner.metadata(p)?;
        if p == self.path {
            m.size = self.size;
        }
        Ok(m)
    }
    fn read_dir(&self, p: &[u8]) -> Result<Vec<crate::tree::Entry>, crate::tree::FsError> {
        let mut entries = self.inner.read_dir(p)?;
        for e in &mut entries {
            if crate::tree::join(p, &e.name) == self.path {
                e.meta.size = self.size;
            }
        }
        Ok(entries)
    }
    fn read_link(&self, p: &[u8]) -> Result<Vec<u8>, crate::tree::FsError> {
        self.inner.read_link(p)
    }
    fn xattrs(&self, p: &[u8]) -> Result<crate::tree::Xattrs, crate::tree::FsError> {
        self.inner.xattrs(p)
    }
    fn digest(&self, p: &[u8]) -> Result<[u8; 32], crate::tree::FsError> {
        self.inner.digest(p)
    }
    fn open_read(
        &self,
        p: &[u8],
    ) -> Result<Box<dyn crate::tree::FileReader + '_>, crate::tree::FsError> {
        if p == self.path {
            return Ok(Box::new(Zeros(self.size)));
        }
        self.inner.open_read(p)
    }
}

/// Keeps the head and the length of a stream.
#[derive(Default)]
struct Counting {
    head: Vec<u8>,
    tail: Vec<u8>,
    len: u64,
}

impl Sink for Counting {
    fn write(&mut self, bytes: &[u8]) -> Result<(), crate::tree::FsError> {
        if self.head.len() < 4096 {
            let take = bytes.len().min(4096 - self.head.len());
            self.head.extend_from_slice(&bytes[..take]);
        }
        self.tail.extend_from_slice(bytes);
        let keep = self.tail.len().saturating_sub(2048);
        self.tail.drain(..keep);
        self.len += bytes.len() as u64;
        Ok(())
    }
}

#[test]
fn a_file_of_8_gib_and_more_gets_a_pax_size_and_all_its_bytes() {
    let (mut tree, manifest) = base();
    tree.insert(b"big", meta(Kind::Regular, 0o644), b"");
    let size = (8u64 << 30) + 1;
    let sparse = Sparse {
        inner: tree,
        path: b"big",
        size,
    };
    let (sink, summary) = repack(&sparse, &options(manifest), Counting::default()).unwrap();
    assert_eq!(summary.written.entries, 1);
    // PAX header + its one 512-byte data block, the ustar header, the data padded to a
    // block, and the two end blocks.
    assert_eq!(sink.len, 512 + 512 + 512 + size.div_ceil(512) * 512 + 1024);
    assert_eq!(sink.head[156], b'x', "a PAX extended header comes first");
    let records = String::from_utf8_lossy(&sink.head[512..1024]);
    assert!(records.contains("size=8589934593\n"), "{records}");
    assert_eq!(&sink.head[1024 + 124..1024 + 136], b"00000000000\0");
    assert_eq!(sink.tail, vec![0u8; 2048]);
}

#[test]
fn insert_places_the_tree_under_a_prefix_with_an_opaque_marker() {
    let mut tree = MemTree::new();
    tree.insert(b"a", meta(Kind::Regular, 0o644), b"x");
    let mut m = meta(Kind::Regular, 0o644);
    m.nlink = 2;
    m.ino = 77;
    tree.insert(b"d", meta(Kind::Directory, 0o755), b"");
    tree.insert(b"d/h1", m, b"y");
    tree.insert(b"d/h2", m, b"y");
    let mut opts = options(String::new());
    opts.layer.prefix = b"opt/app".to_vec();
    opts.layer.opaque = true;
    let (bytes, summary) = run(&tree, &opts);
    let seen = read_layer(&bytes);
    assert_eq!(
        names(&seen),
        [
            "opt/app/",
            "opt/app/.wh..wh..opq",
            "opt/app/a",
            "opt/app/d/",
            "opt/app/d/h1",
            "opt/app/d/h2"
        ]
    );
    assert_eq!(seen[5].link, "opt/app/d/h1");
    assert_eq!(summary.written.added, 5);
    let mut opts = options(String::new());
    opts.layer.prefix = b"etc".to_vec();
    opts.layer.skip_root = true;
    let (bytes, _) = run(&tree, &opts);
    assert_eq!(names(&read_layer(&bytes))[0], "etc/a");
}

#[test]
fn insert_of_a_file_with_opaque_first_writes_the_marker_before_it() {
    let mut tree = MemTree::new();
    tree.insert(b"f", meta(Kind::Regular, 0o644), b"x");
    let mut opts = options(String::new());
    opts.layer.prefix = b"etc".to_vec();
    opts.layer.skip_root = true;
    opts.layer.opaque_first = vec![b"etc/f".to_vec()];
    let (bytes, summary) = run(&tree, &opts);
    let seen = read_layer(&bytes);
    assert_eq!(names(&seen), ["etc/f/.wh..wh..opq", "etc/f"]);
    assert_eq!((seen[0].mode, seen[0].uid, seen[0].mtime), (0, 0, 0));
    assert_eq!((summary.written.entries, summary.written.added), (2, 1));
}

#[test]
fn a_whiteout_layer_deletes_each_path_in_order() {
    let (bytes, entries) =
        layer::whiteouts(&[b"a/b".to_vec(), b"top".to_vec()], Vec::new()).unwrap();
    assert_eq!(entries, 2);
    let seen = read_layer(&bytes);
    assert_eq!(names(&seen), ["a/.wh.b", ".wh.top"]);
    assert!(
        seen.iter()
            .all(|s| (s.mode, s.uid, s.gid, s.mtime) == (0, 0, 0, 0))
    );
    assert_eq!(
        bytes.len(),
        2 * 512 + 1024,
        "two headers, the end of the archive"
    );
    for bad in [&b""[..], b"a/.wh.b", b"a/..", b"."] {
        let err = layer::whiteouts(&[bad.to_vec()], Vec::new()).unwrap_err();
        assert_eq!(err.path(), bad, "{err}");
    }
}

#[test]
fn files_the_manifest_lacks_are_only_hashed_for_a_new_manifest() {
    let (mut tree, manifest) = base();
    tree.insert(b"etc/new", meta(Kind::Regular, 0o640), b"new");
    tree.insert(b"etc/motd", meta(Kind::Regular, 0o644), b"changed\n");
    let hashed = Recorded::new(&tree);
    let mut plain = options(manifest.clone());
    plain.now = 1 << 62; // long after every ctime: nothing is racy
    let (bytes, summary) = repack(&hashed, &plain, Vec::new()).unwrap();
    let calls = hashed.take();
    assert!(
        calls.contains(&"digest etc/motd".to_owned()),
        "known files are compared"
    );
    assert!(!calls.contains(&"digest etc/new".to_owned()), "{calls:?}");
    // The addition is in the layer all the same, and the stat cache leaves it out.
    let seen = read_layer(&bytes);
    assert_eq!(names(&seen), ["etc/motd", "etc/new"]);
    assert_eq!(seen[1].data, b"new");
    assert_eq!(summary.written.added, 1);
    let cache = crate::statcache::StatCache::parse(&summary.stat_cache).unwrap();
    let known = |path: &[u8]| {
        let state = tree.metadata(path).unwrap();
        cache.get(&crate::statcache::fingerprint::object(path, &state))
    };
    assert_eq!(known(b"etc/new"), None, "{}", summary.stat_cache);
    let motd = known(b"etc/motd").unwrap();
    assert!(!motd.agrees);
    assert_eq!(motd.digest, Some(tree.digest(b"etc/motd").unwrap()));
    assert!(
        known(b"").is_some_and(|k| k.agrees),
        "the root is unchanged"
    );

    // A refreshed manifest needs every digest.
    let mut refresh = options(manifest);
    refresh.refresh = Some(Header::default());
    let (_, summary) = repack(&hashed, &refresh, Vec::new()).unwrap();
    assert!(hashed.take().contains(&"digest etc/new".to_owned()));
    let new_manifest = summary.manifest.unwrap();
    let digest = crate::mtree::keywords::hex(&tree.digest(b"etc/new").unwrap());
    assert!(new_manifest.contains(&digest), "{new_manifest}");
}

#[test]
fn a_layer_asks_again_for_nothing_the_walk_read() {
    let mut tree = MemTree::new();
    tree.insert(b"d", meta(Kind::Directory, 0o755), b"")
        .xattrs
        .push((b"user.dir".to_vec(), b"1".to_vec()));
    tree.insert(b"d/f", meta(Kind::Regular, 0o644), b"data")
        .xattrs
        .push((b"user.file".to_vec(), b"2".to_vec()));
    tree.insert(b"d/link", meta(Kind::Symlink, 0o777), b"f")
        .xattrs
        .push((b"trusted.link".to_vec(), b"3".to_vec()));
    tree.insert(b"d/pipe", meta(Kind::Fifo, 0o600), b"");
    let asked = Recorded::new(&tree);
    let (bytes, _) = repack(&asked, &options(String::new()), Vec::new()).unwrap();
    // The root's attributes (no listing gives them) and those of the kinds a listing
    // leaves out; each symlink's target once, in the walk.
    assert_eq!(
        asked.take(),
        [
            "xattrs ",
            "read-link d/link",
            "xattrs d/link",
            "xattrs d/pipe"
        ]
    );
    let seen = read_layer(&bytes);
    assert_eq!(names(&seen), [".", "d/", "d/f", "d/link", "d/pipe"]);
    let pax = |i: usize| {
        seen[i]
            .pax
            .iter()
            .map(|(k, _)| k.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(pax(1), ["SCHILY.xattr.user.dir"]);
    assert_eq!(pax(2), ["SCHILY.xattr.user.file"]);
    assert_eq!(pax(3), ["SCHILY.xattr.trusted.link"]);
    assert_eq!(seen[3].link, "f");
}
