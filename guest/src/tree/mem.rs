//! An in-memory [`Tree`] for unit tests: objects that need root to create on disk
//! (devices, foreign owners, `security.*` xattrs) cost nothing here.

use std::collections::BTreeMap;

use super::{Entry, FileReader, FsError, Kind, Metadata, Tree, Xattrs};

/// One object of a [`MemTree`].
#[derive(Debug, Clone)]
pub struct Node {
    pub meta: Metadata,
    pub data: Vec<u8>,
    pub xattrs: Xattrs,
}

/// A tree held as a map from path (root = `""`) to node.
#[derive(Debug, Default)]
pub struct MemTree {
    pub nodes: BTreeMap<Vec<u8>, Node>,
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

impl MemTree {
    /// A tree holding only a root directory.
    pub fn new() -> Self {
        let mut tree = Self::default();
        tree.insert(b"", meta(Kind::Directory, 0o755), b"");
        tree
    }

    /// Insert (or replace) the object at `path`; regular files and symlinks get their
    /// size from `data` (file contents or link target).
    pub fn insert(&mut self, path: &[u8], mut meta: Metadata, data: &[u8]) -> &mut Node {
        if matches!(meta.kind, Kind::Regular | Kind::Symlink) {
            meta.size = data.len() as u64;
        }
        if meta.ino == 0 {
            meta.ino = self.nodes.len() as u64 + 1;
        }
        self.nodes.insert(
            path.to_vec(),
            Node {
                meta,
                data: data.to_vec(),
                xattrs: Vec::new(),
            },
        );
        self.nodes.get_mut(path).expect("just inserted")
    }

    fn node(&self, path: &[u8]) -> Result<&Node, FsError> {
        self.nodes.get(path).ok_or(FsError::NotFound)
    }
}

impl Tree for MemTree {
    fn metadata(&self, path: &[u8]) -> Result<Metadata, FsError> {
        Ok(self.node(path)?.meta)
    }

    fn read_dir(&self, path: &[u8]) -> Result<Vec<Entry>, FsError> {
        if self.node(path)?.meta.kind != Kind::Directory {
            return Err(FsError::NotSupported);
        }
        let prefix_len = if path.is_empty() { 0 } else { path.len() + 1 };
        // Deliberately reversed: callers must not rely on listing order.
        Ok(self
            .nodes
            .iter()
            .rev()
            .filter(|(p, _)| {
                p.len() > prefix_len
                    && p.starts_with(path)
                    && (path.is_empty() || p[path.len()] == b'/')
                    && !p[prefix_len..].contains(&b'/')
            })
            .map(|(p, n)| Entry {
                name: p[prefix_len..].to_vec(),
                meta: n.meta,
            })
            .collect())
    }

    fn read_link(&self, path: &[u8]) -> Result<Vec<u8>, FsError> {
        let node = self.node(path)?;
        match node.meta.kind {
            Kind::Symlink => Ok(node.data.clone()),
            _ => Err(FsError::NotSupported),
        }
    }

    fn xattrs(&self, path: &[u8]) -> Result<Xattrs, FsError> {
        Ok(self.node(path)?.xattrs.clone())
    }

    fn digest(&self, path: &[u8]) -> Result<[u8; 32], FsError> {
        let node = self.node(path)?;
        if node.meta.kind != Kind::Regular {
            return Err(FsError::NotSupported);
        }
        Ok(fake_digest(&node.data))
    }

    fn open_read(&self, path: &[u8]) -> Result<Box<dyn FileReader + '_>, FsError> {
        let node = self.node(path)?;
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

/// A stand-in for SHA-256 (the guest never hashes itself): the data, zero-padded.
pub fn fake_digest(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (o, b) in out.iter_mut().zip(data) {
        *o = *b;
    }
    out
}
