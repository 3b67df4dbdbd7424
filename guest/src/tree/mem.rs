//! An in-memory [`Tree`] for unit tests: objects that need root to create on disk
//! (devices, foreign owners, `security.*` xattrs) cost nothing here.

use std::collections::BTreeMap;

use super::{Entry, FileReader, FileWrite, FsError, Kind, Metadata, Time, Tree, TreeMut, Xattrs};

/// One object of a [`MemTree`].
#[derive(Debug, Clone)]
pub struct Node {
    pub meta: Metadata,
    pub data: Vec<u8>,
    pub xattrs: Xattrs,
    /// Bytes of `data` that were skipped, not written (holes).
    pub holes: u64,
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
            meta.ino = self.nodes.values().map(|n| n.meta.ino).max().unwrap_or(0) + 1;
        }
        self.nodes.insert(
            path.to_vec(),
            Node {
                meta,
                data: data.to_vec(),
                xattrs: Vec::new(),
                holes: 0,
            },
        );
        self.nodes.get_mut(path).expect("just inserted")
    }

    fn node(&self, path: &[u8]) -> Result<&Node, FsError> {
        self.nodes.get(path).ok_or_else(|| self.missing(path))
    }

    /// Why `path` is not there, as the host says it: a path through a symlink escapes,
    /// one through another non-directory is `NotSupported` (`ENOTDIR`).
    fn missing(&self, path: &[u8]) -> FsError {
        let mut at = 0;
        while let Some(i) = path[at..].iter().position(|&b| b == b'/') {
            match self.nodes.get(&path[..at + i]) {
                Some(n) if n.meta.kind == Kind::Symlink => return FsError::EscapesRoot,
                Some(n) if n.meta.kind != Kind::Directory => return FsError::NotSupported,
                Some(_) => at += i + 1,
                None => break,
            }
        }
        FsError::NotFound
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

impl MemTree {
    fn node_mut(&mut self, path: &[u8]) -> Result<&mut Node, FsError> {
        let missing = self.missing(path);
        self.nodes.get_mut(path).ok_or(missing)
    }

    /// A new object's parent must be a real directory, and the name free.
    fn check_new(&self, path: &[u8]) -> Result<(), FsError> {
        let parent = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => &path[..i],
            None => b"",
        };
        match self.nodes.get(parent) {
            Some(n) if n.meta.kind == Kind::Directory => {}
            Some(n) if n.meta.kind == Kind::Symlink => return Err(FsError::EscapesRoot),
            _ => return Err(FsError::NotFound),
        }
        if self.nodes.contains_key(path) {
            return Err(FsError::Io("file exists".into()));
        }
        Ok(())
    }

    fn add(&mut self, path: &[u8], kind: Kind, mode: u32, data: &[u8]) -> Result<(), FsError> {
        self.check_new(path)?;
        let mut m = meta(kind, mode);
        m.ino = 0;
        self.insert(path, m, data);
        Ok(())
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
        self.0.holes += len as u64;
        Ok(())
    }
}

impl TreeMut for MemTree {
    fn create_file(&mut self, path: &[u8], mode: u32) -> Result<Box<dyn FileWrite + '_>, FsError> {
        self.add(path, Kind::Regular, mode, b"")?;
        Ok(Box::new(MemWriter(self.node_mut(path)?)))
    }
    fn mkdir(&mut self, path: &[u8], mode: u32) -> Result<(), FsError> {
        self.add(path, Kind::Directory, mode, b"")
    }
    fn symlink(&mut self, path: &[u8], target: &[u8]) -> Result<(), FsError> {
        self.add(path, Kind::Symlink, 0o777, target)
    }
    fn hard_link(&mut self, path: &[u8], target: &[u8]) -> Result<(), FsError> {
        self.check_new(path)?;
        let node = self.node_mut(target)?;
        if node.meta.kind == Kind::Directory {
            return Err(FsError::PermissionDenied);
        }
        node.meta.nlink += 1;
        let copy = node.clone();
        for n in self.nodes.values_mut() {
            if n.meta.ino == copy.meta.ino {
                n.meta.nlink = copy.meta.nlink;
            }
        }
        self.nodes.insert(path.to_vec(), copy);
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
        self.add(path, kind, mode, b"")?;
        let node = self.node_mut(path)?;
        node.meta.rdev_major = major;
        node.meta.rdev_minor = minor;
        Ok(())
    }
    fn set_owner(&mut self, path: &[u8], uid: u32, gid: u32) -> Result<(), FsError> {
        let node = self.node_mut(path)?;
        node.meta.uid = uid;
        node.meta.gid = gid;
        Ok(())
    }
    fn set_mode(&mut self, path: &[u8], mode: u32) -> Result<(), FsError> {
        let node = self.node_mut(path)?;
        if node.meta.kind == Kind::Symlink {
            return Err(FsError::NotSupported);
        }
        node.meta.mode = mode & 0o7777;
        Ok(())
    }
    fn set_times(&mut self, path: &[u8], mtime: Time, _atime: Option<Time>) -> Result<(), FsError> {
        let node = self.node_mut(path)?;
        node.meta.mtime_sec = mtime.0;
        node.meta.mtime_nsec = mtime.1;
        Ok(())
    }
    fn set_xattr(&mut self, path: &[u8], name: &[u8], value: &[u8]) -> Result<(), FsError> {
        let node = self.node_mut(path)?;
        node.xattrs.retain(|(n, _)| n != name);
        node.xattrs.push((name.to_vec(), value.to_vec()));
        Ok(())
    }
    fn remove_xattr(&mut self, path: &[u8], name: &[u8]) -> Result<(), FsError> {
        self.node_mut(path)?.xattrs.retain(|(n, _)| n != name);
        Ok(())
    }
    fn remove(&mut self, path: &[u8]) -> Result<(), FsError> {
        if path.is_empty() {
            return Err(FsError::PermissionDenied);
        }
        self.node(path)?;
        self.nodes.retain(|p, _| {
            !(p == path || (p.starts_with(path) && p.get(path.len()) == Some(&b'/')))
        });
        Ok(())
    }
}
