//! The read-only filesystem view the guest walks.
//!
//! These types mirror the `repack:bundle/fs` interface of the WIT contract. Paths are byte
//! strings relative to the tree's root, components separated by `/`; the empty path is
//! the root itself.

use thiserror::Error;

/// The type of a filesystem object, as `lstat` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A named pipe.
    Fifo,
    /// A unix domain socket.
    Socket,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
}

impl Kind {
    /// Whether a directory listing ([`Tree::read_dir_xattrs`]) gives this kind's
    /// extended attributes: regular files and directories, the kinds manifests record
    /// them for.
    pub fn lists_xattrs(self) -> bool {
        matches!(self, Kind::Regular | Kind::Directory)
    }
}

/// POSIX metadata of one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    /// Object type.
    pub kind: Kind,
    /// Permission bits plus setuid, setgid and sticky; no file-type bits.
    pub mode: u32,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// `st_size`.
    pub size: u64,
    /// Modification time, seconds.
    pub mtime_sec: i64,
    /// Modification time, nanoseconds part.
    pub mtime_nsec: u32,
    /// Status change time, seconds.
    pub ctime_sec: i64,
    /// Status change time, nanoseconds part.
    pub ctime_nsec: u32,
    /// Inode number.
    pub ino: u64,
    /// Hard link count.
    pub nlink: u64,
    /// Device major number.
    pub rdev_major: u32,
    /// Device minor number.
    pub rdev_minor: u32,
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Name within its directory.
    pub name: Vec<u8>,
    /// The entry's own metadata.
    pub meta: Metadata,
}

/// Why a filesystem call failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FsError {
    /// The path does not exist.
    #[error("no such file or directory")]
    NotFound,
    /// The path would leave the granted directory.
    #[error("path escapes the granted directory")]
    EscapesRoot,
    /// The host refused the operation.
    #[error("permission denied")]
    PermissionDenied,
    /// The operation does not apply to this object.
    #[error("operation not supported on this object")]
    NotSupported,
    /// Another I/O failure.
    #[error("{0}")]
    Io(String),
}

/// Extended attributes as (name, value) pairs, in listing order.
pub type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// An open regular file, read front to back.
pub trait FileReader {
    /// Up to `max` bytes; an empty result means end of file.
    fn read(&mut self, max: u32) -> Result<Vec<u8>, FsError>;
}

/// A read-only directory tree with POSIX metadata.
pub trait Tree {
    /// Metadata of `path`, not following a final symlink.
    fn metadata(&self, path: &[u8]) -> Result<Metadata, FsError>;
    /// Entries of the directory at `path` (no `.`/`..`), in any order.
    fn read_dir(&self, path: &[u8]) -> Result<Vec<Entry>, FsError>;
    /// [`Tree::read_dir`] with the extended attributes of each regular file and
    /// directory (other kinds get none). Trees that can list both in one go override it.
    fn read_dir_xattrs(&self, path: &[u8]) -> Result<Vec<(Entry, Xattrs)>, FsError> {
        self.read_dir(path)?
            .into_iter()
            .map(|e| {
                let xattrs = if e.meta.kind.lists_xattrs() {
                    self.xattrs(&join(path, &e.name))?
                } else {
                    Vec::new()
                };
                Ok((e, xattrs))
            })
            .collect()
    }
    /// Target of the symlink at `path`.
    fn read_link(&self, path: &[u8]) -> Result<Vec<u8>, FsError>;
    /// Extended attributes of `path` in listing order.
    fn xattrs(&self, path: &[u8]) -> Result<Xattrs, FsError>;
    /// SHA-256 of the regular file at `path`.
    fn digest(&self, path: &[u8]) -> Result<[u8; 32], FsError>;
    /// Open the regular file at `path` (never through a final symlink).
    fn open_read(&self, path: &[u8]) -> Result<Box<dyn FileReader + '_>, FsError>;
}

/// A file being created, written front to back.
pub trait FileWrite {
    /// Append `bytes`.
    fn write(&mut self, bytes: &[u8]) -> Result<(), FsError>;
    /// Append `len` zero bytes without writing them: a hole where the filesystem
    /// supports one.
    fn skip(&mut self, len: u64) -> Result<(), FsError>;
}

/// A point in time: seconds and nanoseconds since the epoch.
pub type Time = (i64, u32);

/// A tree the guest may change (unpack's new rootfs). Like reads, writes never act
/// through a symlink: paths must be made of real directories.
pub trait TreeMut: Tree {
    /// Create a regular file that must not exist.
    fn create_file(&mut self, path: &[u8], mode: u32) -> Result<Box<dyn FileWrite + '_>, FsError>;
    /// Create a directory.
    fn mkdir(&mut self, path: &[u8], mode: u32) -> Result<(), FsError>;
    /// Create a symlink holding `target`.
    fn symlink(&mut self, path: &[u8], target: &[u8]) -> Result<(), FsError>;
    /// Hard-link `path` to the existing `target`.
    fn hard_link(&mut self, path: &[u8], target: &[u8]) -> Result<(), FsError>;
    /// Create a device node or fifo.
    fn mknod(
        &mut self,
        path: &[u8],
        kind: Kind,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> Result<(), FsError>;
    /// Set the owner.
    fn set_owner(&mut self, path: &[u8], uid: u32, gid: u32) -> Result<(), FsError>;
    /// Set the mode bits (not on symlinks).
    fn set_mode(&mut self, path: &[u8], mode: u32) -> Result<(), FsError>;
    /// Set the modification time and, if given, the access time.
    fn set_times(&mut self, path: &[u8], mtime: Time, atime: Option<Time>) -> Result<(), FsError>;
    /// Set an extended attribute.
    fn set_xattr(&mut self, path: &[u8], name: &[u8], value: &[u8]) -> Result<(), FsError>;
    /// Remove an extended attribute.
    fn remove_xattr(&mut self, path: &[u8], name: &[u8]) -> Result<(), FsError>;
    /// Remove an object (a directory with its contents).
    fn remove(&mut self, path: &[u8]) -> Result<(), FsError>;
    /// Create `objects` in order, each at a path that must not exist, with its owner,
    /// xattrs, mode and times. Stops at the first that fails: its index and the error.
    /// xattrs refused as `NotSupported` or `PermissionDenied` are returned instead.
    fn create(&mut self, objects: Vec<NewObject>) -> Result<Vec<Refused>, (usize, FsError)> {
        create::one_by_one(self, objects)
    }
}

/// Join a directory path and a child name (`""` is the root).
pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        return name.to_vec();
    }
    let mut path = Vec::with_capacity(dir.len() + 1 + name.len());
    path.extend_from_slice(dir);
    path.push(b'/');
    path.extend_from_slice(name);
    path
}

pub mod create;
#[cfg(test)]
pub(crate) mod mem;
#[cfg(test)]
pub(crate) mod recorded;

pub use create::{Attributes, NewKind, NewObject, Refused};
