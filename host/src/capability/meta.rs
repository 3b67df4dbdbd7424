//! POSIX metadata as the guest sees it.

use cap_std::fs::{FileTypeExt, MetadataExt};

/// The type of a filesystem object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// `lstat` metadata of one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    /// Object type.
    pub kind: Kind,
    /// Permission bits plus setuid, setgid and sticky.
    pub mode: u32,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// `st_size`.
    pub size: u64,
    /// Modification time, seconds.
    pub mtime_sec: i64,
    /// Modification time, nanoseconds.
    pub mtime_nsec: u32,
    /// Status change time, seconds.
    pub ctime_sec: i64,
    /// Status change time, nanoseconds.
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

impl Metadata {
    /// Convert cap-std metadata (taken without following symlinks).
    pub fn from_cap(m: &cap_std::fs::Metadata) -> Self {
        let ft = m.file_type();
        let kind = if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_dir() {
            Kind::Directory
        } else if ft.is_file() {
            Kind::Regular
        } else if ft.is_fifo() {
            Kind::Fifo
        } else if ft.is_socket() {
            Kind::Socket
        } else if ft.is_char_device() {
            Kind::CharDevice
        } else {
            Kind::BlockDevice
        };
        let (rdev_major, rdev_minor) = match kind {
            Kind::CharDevice | Kind::BlockDevice => {
                (rustix::fs::major(m.rdev()), rustix::fs::minor(m.rdev()))
            }
            _ => (0, 0),
        };
        Metadata {
            kind,
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            size: m.size(),
            mtime_sec: m.mtime(),
            mtime_nsec: m.mtime_nsec() as u32,
            ctime_sec: m.ctime(),
            ctime_nsec: m.ctime_nsec() as u32,
            ino: m.ino(),
            nlink: m.nlink(),
            rdev_major,
            rdev_minor,
        }
    }
}
