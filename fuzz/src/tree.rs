//! An in-memory [`TreeMut`] that checks every path the guest hands it, a consistency
//! check of the whole tree, and the mtree round trip (walk → manifest → parse → repack
//! against the same tree must find no change).
//!
//! Adapted from the guest's cfg(test) `MemTree` (guest/src/tree/mem.rs), but with real
//! inodes: hard links share one node, `nlink` counts the names, and removing a name only
//! drops the node with its last name.

use std::collections::{BTreeMap, BTreeSet};

use repack_guest::mtree;
use repack_guest::repack;
use repack_guest::tree::{
    Entry, FileReader, FileWrite, FsError, Kind, Metadata, Time, Tree, TreeMut, Xattrs,
};
use sha2::{Digest, Sha256};

/// One object (inode).
#[derive(Debug, Clone)]
pub struct Node {
    /// Metadata; `ino` is the node's key, `nlink` and `size` are kept up to date.
    pub meta: Metadata,
    /// File contents or symlink target.
    pub data: Vec<u8>,
    /// Extended attributes in setting order.
    pub xattrs: Xattrs,
}

/// Metadata with the given kind and mode, owned by root, mtime 1000.
pub fn meta(kind: Kind, mode: u32) -> Metadata {
    Metadata {
        kind,
        mode,
        uid: 0,
        gid: 0,
        size: if kind == Kind::Directory { 4096 } else { 0 },
        mtime_sec: 1000,
        mtime_nsec: 0,
        ctime_sec: 1000,
        ctime_nsec: 0,
        ino: 0,
        nlink: 1,
        rdev_major: 0,
        rdev_minor: 0,
    }
}

/// A tree held as names (path → inode) and inodes (inode → node).
#[derive(Debug, Clone)]
pub struct FuzzTree {
    /// Every name, the root being `""`.
    pub names: BTreeMap<Vec<u8>, u64>,
    /// Every object.
    pub nodes: BTreeMap<u64, Node>,
    next_ino: u64,
}

impl Default for FuzzTree {
    fn default() -> Self {
        Self::new()
    }
}

/// Panic unless `path` is a cleaned relative path: not absolute, and no empty, `.` or
/// `..` component (the root is `""`). This is what the guest promises the host.
#[track_caller]
pub fn assert_clean(op: &str, path: &[u8]) {
    if path.is_empty() {
        return;
    }
    assert!(
        path[0] != b'/',
        "{op}: the guest passed an absolute path {:?}",
        String::from_utf8_lossy(path)
    );
    for part in path.split(|&b| b == b'/') {
        assert!(
            !matches!(part, b"" | b"." | b".."),
            "{op}: the guest passed an uncleaned path {:?} (component {:?})",
            String::from_utf8_lossy(path),
            String::from_utf8_lossy(part)
        );
    }
}

fn parent_of(path: &[u8]) -> Option<&[u8]> {
    if path.is_empty() {
        return None;
    }
    Some(match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[..i],
        None => b"",
    })
}

impl FuzzTree {
    /// A tree holding only a root directory.
    pub fn new() -> Self {
        let mut tree = FuzzTree {
            names: BTreeMap::new(),
            nodes: BTreeMap::new(),
            next_ino: 1,
        };
        tree.insert(b"", meta(Kind::Directory, 0o755), b"");
        tree
    }

    /// A small lower layer: directories, files, a hard link, symlinks (one to a
    /// directory, one absolute, one escaping), a fifo and a device.
    pub fn lower() -> Self {
        let mut t = FuzzTree::new();
        t.insert(b"etc", meta(Kind::Directory, 0o755), b"");
        t.insert(b"etc/passwd", meta(Kind::Regular, 0o644), b"root:x:0:0::/root:/bin/sh\n");
        t.insert(b"etc/group", meta(Kind::Regular, 0o644), b"root:x:0:\n");
        t.insert(b"usr", meta(Kind::Directory, 0o755), b"");
        t.insert(b"usr/bin", meta(Kind::Directory, 0o755), b"");
        t.insert(b"usr/bin/sh", meta(Kind::Regular, 0o755), b"#!sh\n");
        t.link(b"usr/bin/ash", b"usr/bin/sh");
        t.insert(b"bin", meta(Kind::Symlink, 0o777), b"usr/bin");
        t.insert(b"abs", meta(Kind::Symlink, 0o777), b"/etc");
        t.insert(b"up", meta(Kind::Symlink, 0o777), b"../../..");
        t.insert(b"fifo", meta(Kind::Fifo, 0o644), b"");
        let mut dev = meta(Kind::CharDevice, 0o666);
        (dev.rdev_major, dev.rdev_minor) = (1, 3);
        t.insert(b"null", dev, b"");
        t
    }

    /// Insert (or replace) the object at `path` as a new inode.
    pub fn insert(&mut self, path: &[u8], mut meta: Metadata, data: &[u8]) {
        if matches!(meta.kind, Kind::Regular | Kind::Symlink) {
            meta.size = data.len() as u64;
        }
        meta.ino = self.next_ino;
        meta.nlink = 1;
        self.next_ino += 1;
        self.unlink(path);
        self.names.insert(path.to_vec(), meta.ino);
        self.nodes.insert(
            meta.ino,
            Node {
                meta,
                data: data.to_vec(),
                xattrs: Vec::new(),
            },
        );
    }

    /// Add the name `path` for the object at `target` (setup only, no checks).
    fn link(&mut self, path: &[u8], target: &[u8]) {
        let ino = self.names[target];
        self.names.insert(path.to_vec(), ino);
        self.nodes.get_mut(&ino).unwrap().meta.nlink += 1;
    }

    /// Drop one name; the node goes with its last name.
    fn unlink(&mut self, path: &[u8]) {
        if let Some(ino) = self.names.remove(path) {
            let node = self.nodes.get_mut(&ino).expect("a name without a node");
            node.meta.nlink -= 1;
            if node.meta.nlink == 0 {
                self.nodes.remove(&ino);
            }
        }
    }

    /// Look `path` up the way the host does: the path must be clean, no ancestor may
    /// be a symlink (the guest resolves those itself; the host refuses them), and a
    /// missing or non-directory ancestor means the path does not exist.
    #[track_caller]
    fn lookup(&self, op: &str, path: &[u8]) -> Result<u64, FsError> {
        assert_clean(op, path);
        if path.contains(&0) {
            // What the host's capability layer answers.
            return Err(FsError::EscapesRoot);
        }
        let mut ancestor = parent_of(path);
        while let Some(a) = ancestor {
            match self.names.get(a).map(|ino| self.nodes[ino].meta.kind) {
                Some(Kind::Directory) => {}
                Some(Kind::Symlink) => panic!(
                    "{op}: the guest passed {:?}, whose ancestor {:?} is a symlink",
                    String::from_utf8_lossy(path),
                    String::from_utf8_lossy(a)
                ),
                Some(_) => return Err(FsError::Io("not a directory".into())),
                None => return Err(FsError::NotFound),
            }
            ancestor = parent_of(a);
        }
        self.names.get(path).copied().ok_or(FsError::NotFound)
    }

    #[track_caller]
    fn node(&self, op: &str, path: &[u8]) -> Result<&Node, FsError> {
        let ino = self.lookup(op, path)?;
        Ok(&self.nodes[&ino])
    }

    #[track_caller]
    fn node_mut(&mut self, op: &str, path: &[u8]) -> Result<&mut Node, FsError> {
        let ino = self.lookup(op, path)?;
        Ok(self.nodes.get_mut(&ino).expect("a name without a node"))
    }

    /// A new object's path: clean, not the root, its parent a real directory, the
    /// name free.
    #[track_caller]
    fn check_new(&self, op: &str, path: &[u8]) -> Result<(), FsError> {
        assert!(!path.is_empty(), "{op}: the guest tried to create the root");
        let parent = parent_of(path).unwrap();
        match self.lookup(op, parent) {
            Ok(ino) if self.nodes[&ino].meta.kind == Kind::Directory => {}
            Ok(ino) if self.nodes[&ino].meta.kind == Kind::Symlink => panic!(
                "{op}: the guest creates {:?} inside the symlink {:?}",
                String::from_utf8_lossy(path),
                String::from_utf8_lossy(parent)
            ),
            Ok(_) => return Err(FsError::Io("not a directory".into())),
            Err(e) => return Err(e),
        }
        if self.lookup(op, path).is_ok() {
            return Err(FsError::Io("file exists".into()));
        }
        Ok(())
    }

    #[track_caller]
    fn add(&mut self, op: &str, path: &[u8], kind: Kind, mode: u32, data: &[u8]) -> Result<(), FsError> {
        self.check_new(op, path)?;
        self.insert(path, meta(kind, mode & 0o7777), data);
        Ok(())
    }

    /// Panic unless the tree is consistent: a root directory; every name clean with a
    /// directory as parent and a node behind it; every node named `nlink` times (a
    /// directory exactly once); sizes matching the data.
    pub fn check(&self) {
        let root = self.names.get(&b""[..]).expect("the root is gone");
        assert_eq!(self.nodes[root].meta.kind, Kind::Directory, "the root is not a directory");
        let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
        for (path, ino) in &self.names {
            assert_clean("check", path);
            let node = self.nodes.get(ino).unwrap_or_else(|| {
                panic!("{:?} names a missing inode", String::from_utf8_lossy(path))
            });
            *counts.entry(*ino).or_default() += 1;
            if let Some(parent) = parent_of(path) {
                let p = self.names.get(parent).unwrap_or_else(|| {
                    panic!("{:?} has no parent", String::from_utf8_lossy(path))
                });
                assert_eq!(
                    self.nodes[p].meta.kind,
                    Kind::Directory,
                    "the parent of {:?} is not a directory",
                    String::from_utf8_lossy(path)
                );
            }
            if matches!(node.meta.kind, Kind::Regular | Kind::Symlink) {
                assert_eq!(node.meta.size, node.data.len() as u64, "size of {path:?}");
            }
            assert_eq!(node.meta.mode & !0o7777, 0, "file-type bits in the mode of {path:?}");
        }
        for (ino, node) in &self.nodes {
            let n = counts.get(ino).copied().unwrap_or(0);
            assert!(n > 0, "inode {ino} has no name");
            assert_eq!(node.meta.nlink, n, "nlink of inode {ino}");
            if node.meta.kind == Kind::Directory {
                assert_eq!(n, 1, "a directory with several names");
            }
        }
    }

    /// The paths, rendered as `mtree::parse` renders them (`.` for the root).
    pub fn parsed_paths(&self) -> BTreeSet<Vec<u8>> {
        self.names
            .keys()
            .map(|p| if p.is_empty() { b".".to_vec() } else { p.clone() })
            .collect()
    }
}

impl Tree for FuzzTree {
    fn metadata(&self, path: &[u8]) -> Result<Metadata, FsError> {
        Ok(self.node("metadata", path)?.meta)
    }

    fn read_dir(&self, path: &[u8]) -> Result<Vec<Entry>, FsError> {
        if self.node("read_dir", path)?.meta.kind != Kind::Directory {
            return Err(FsError::NotSupported);
        }
        let mut prefix = path.to_vec();
        if !prefix.is_empty() {
            prefix.push(b'/');
        }
        // Deliberately reversed: callers must not rely on listing order.
        Ok(self
            .names
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| p.len() > prefix.len() && !p[prefix.len()..].contains(&b'/'))
            .map(|(p, ino)| Entry {
                name: p[prefix.len()..].to_vec(),
                meta: self.nodes[ino].meta,
            })
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect())
    }

    fn read_link(&self, path: &[u8]) -> Result<Vec<u8>, FsError> {
        let node = self.node("read_link", path)?;
        match node.meta.kind {
            Kind::Symlink => Ok(node.data.clone()),
            _ => Err(FsError::NotSupported),
        }
    }

    fn xattrs(&self, path: &[u8]) -> Result<Xattrs, FsError> {
        Ok(self.node("xattrs", path)?.xattrs.clone())
    }

    fn digest(&self, path: &[u8]) -> Result<[u8; 32], FsError> {
        let node = self.node("digest", path)?;
        if node.meta.kind != Kind::Regular {
            return Err(FsError::NotSupported);
        }
        Ok(Sha256::digest(&node.data).into())
    }

    fn open_read(&self, path: &[u8]) -> Result<Box<dyn FileReader + '_>, FsError> {
        let node = self.node("open_read", path)?;
        if node.meta.kind != Kind::Regular {
            return Err(FsError::NotSupported);
        }
        Ok(Box::new(MemReader(&node.data)))
    }
}

/// Reads a node's data in chunks, as the host's file handles do.
struct MemReader<'a>(&'a [u8]);

impl FileReader for MemReader<'_> {
    fn read(&mut self, max: u32) -> Result<Vec<u8>, FsError> {
        let n = self.0.len().min(max as usize);
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head.to_vec())
    }
}

/// Appends to a node's data.
struct MemWriter<'a>(&'a mut Node);

impl FileWrite for MemWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), FsError> {
        self.0.data.extend_from_slice(bytes);
        self.0.meta.size = self.0.data.len() as u64;
        Ok(())
    }

    fn skip(&mut self, len: u64) -> Result<(), FsError> {
        let len = usize::try_from(len).map_err(|_| FsError::Io("hole too large".into()))?;
        self.0.data.resize(self.0.data.len() + len, 0);
        self.0.meta.size = self.0.data.len() as u64;
        Ok(())
    }
}

impl TreeMut for FuzzTree {
    fn create_file(&mut self, path: &[u8], mode: u32) -> Result<Box<dyn FileWrite + '_>, FsError> {
        self.add("create_file", path, Kind::Regular, mode, b"")?;
        Ok(Box::new(MemWriter(self.node_mut("create_file", path)?)))
    }

    fn mkdir(&mut self, path: &[u8], mode: u32) -> Result<(), FsError> {
        self.add("mkdir", path, Kind::Directory, mode, b"")
    }

    fn symlink(&mut self, path: &[u8], target: &[u8]) -> Result<(), FsError> {
        self.add("symlink", path, Kind::Symlink, 0o777, target)
    }

    fn hard_link(&mut self, path: &[u8], target: &[u8]) -> Result<(), FsError> {
        self.check_new("hard_link", path)?;
        let ino = self.lookup("hard_link target", target)?;
        let node = self.nodes.get_mut(&ino).unwrap();
        if node.meta.kind == Kind::Directory {
            return Err(FsError::PermissionDenied);
        }
        node.meta.nlink += 1;
        self.names.insert(path.to_vec(), ino);
        Ok(())
    }

    fn mknod(
        &mut self,
        path: &[u8],
        kind: Kind,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> Result<(), FsError> {
        assert!(
            matches!(kind, Kind::Fifo | Kind::CharDevice | Kind::BlockDevice | Kind::Socket),
            "mknod of a {kind:?}"
        );
        self.add("mknod", path, kind, mode, b"")?;
        let node = self.node_mut("mknod", path)?;
        node.meta.rdev_major = major;
        node.meta.rdev_minor = minor;
        Ok(())
    }

    fn set_owner(&mut self, path: &[u8], uid: u32, gid: u32) -> Result<(), FsError> {
        let node = self.node_mut("set_owner", path)?;
        node.meta.uid = uid;
        node.meta.gid = gid;
        Ok(())
    }

    fn set_mode(&mut self, path: &[u8], mode: u32) -> Result<(), FsError> {
        let node = self.node_mut("set_mode", path)?;
        if node.meta.kind == Kind::Symlink {
            return Err(FsError::NotSupported);
        }
        node.meta.mode = mode & 0o7777;
        Ok(())
    }

    fn set_times(&mut self, path: &[u8], mtime: Time, _atime: Option<Time>) -> Result<(), FsError> {
        let node = self.node_mut("set_times", path)?;
        node.meta.mtime_sec = mtime.0;
        node.meta.mtime_nsec = mtime.1;
        Ok(())
    }

    fn set_xattr(&mut self, path: &[u8], name: &[u8], value: &[u8]) -> Result<(), FsError> {
        let node = self.node_mut("set_xattr", path)?;
        if name.is_empty() || name.contains(&0) {
            // setxattr(2) refuses these.
            return Err(FsError::NotSupported);
        }
        node.xattrs.retain(|(n, _)| n != name);
        node.xattrs.push((name.to_vec(), value.to_vec()));
        Ok(())
    }

    fn remove_xattr(&mut self, path: &[u8], name: &[u8]) -> Result<(), FsError> {
        self.node_mut("remove_xattr", path)?
            .xattrs
            .retain(|(n, _)| n != name);
        Ok(())
    }

    fn remove(&mut self, path: &[u8]) -> Result<(), FsError> {
        assert!(!path.is_empty(), "remove: the guest tried to remove the root");
        self.lookup("remove", path)?;
        let mut prefix = path.to_vec();
        prefix.push(b'/');
        let doomed: Vec<Vec<u8>> = std::iter::once(path.to_vec())
            .chain(
                self.names
                    .range(prefix.clone()..)
                    .take_while(|(p, _)| p.starts_with(&prefix))
                    .map(|(p, _)| p.clone()),
            )
            .collect();
        for p in doomed {
            self.unlink(&p);
        }
        Ok(())
    }
}

/// The manifest of `tree` (a fixed header).
pub fn manifest(tree: &dyn Tree) -> String {
    let header = mtree::Header {
        user: Some("fuzz".into()),
        machine: None,
        tree: "/fuzz".into(),
        date: "today".into(),
    };
    mtree::manifest(tree, &header).expect("walking an in-memory tree cannot fail")
}

/// The round trip every tree must survive: its manifest parses back to exactly its
/// paths, and repacking the tree against its own manifest finds no change at all.
pub fn round_trip(tree: &FuzzTree) {
    let text = manifest(tree);
    let parsed = mtree::parse(&text)
        .unwrap_or_else(|e| panic!("our own manifest does not parse: {e}\n{text}"));
    let paths: BTreeSet<Vec<u8>> = parsed.iter().map(|e| e.path.clone()).collect();
    assert_eq!(paths.len(), parsed.len(), "a path listed twice:\n{text}");
    assert_eq!(paths, tree.parsed_paths(), "manifest paths differ from the tree:\n{text}");
    let options = repack::Options {
        manifest: text,
        ..Default::default()
    };
    let (layer, summary) = repack::repack(tree, &options, Vec::new())
        .unwrap_or_else(|e| panic!("repacking against our own manifest failed: {e}"));
    assert!(
        layer.is_empty() && summary.written == repack::Written::default(),
        "repacking an unchanged tree wrote {:?}\n{}",
        summary.written,
        options.manifest
    );
}

/// The layer round trip: repacking `tree` against a manifest of its root alone writes a
/// layer of everything in it; applying that layer to a tree holding only the same root
/// must rebuild a tree with the same manifest (repacking it against `tree`'s manifest
/// finds no change).
///
/// Left out on purpose, as a known limitation: xattrs with an empty value, which a
/// layer cannot carry (repack drops them with a warning), are removed from the copy that
/// is repacked.
pub fn layer_round_trip(tree: &FuzzTree) {
    let mut source = tree.clone();
    for node in source.nodes.values_mut() {
        node.xattrs.retain(|(_, v)| !v.is_empty());
    }
    let root = source.names[&b""[..]];
    let mut base = FuzzTree::new();
    let base_root = base.names[&b""[..]];
    let mut root_node = source.nodes[&root].clone();
    root_node.meta.ino = base_root;
    base.nodes.insert(base_root, root_node);

    let options = repack::Options {
        manifest: manifest(&base),
        ..Default::default()
    };
    let (layer, _) = repack::repack(&source, &options, Vec::new()).unwrap_or_else(|e| {
        panic!(
            "repacking an unpacked tree failed: {e}\n{}",
            manifest(&source)
        )
    });
    let mut rebuilt = base;
    if !layer.is_empty() {
        let diff_id = format!("sha256:{:x}", Sha256::digest(&layer));
        let unpack_options = repack_guest::unpack::Options {
            max_layer_size: u64::MAX,
            ..Default::default()
        };
        repack_guest::unpack::unpack_layer(
            &mut rebuilt,
            &mut &layer[..],
            "application/vnd.oci.image.layer.v1.tar",
            &diff_id,
            &unpack_options,
        )
        .unwrap_or_else(|e| {
            panic!(
                "a layer written by repack does not unpack: {e}\n{}",
                manifest(&source)
            )
        });
    }
    rebuilt.check();
    let expected = manifest(&source);
    let options = repack::Options {
        manifest: expected.clone(),
        ..Default::default()
    };
    let (diff, summary) = repack::repack(&rebuilt, &options, Vec::new())
        .unwrap_or_else(|e| panic!("repacking the rebuilt tree failed: {e}"));
    assert!(
        diff.is_empty(),
        "the tree rebuilt from its own layer differs ({:?}):\nexpected\n{expected}\nrebuilt\n{}",
        summary.written,
        manifest(&rebuilt)
    );
}
