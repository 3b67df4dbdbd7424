//! `lstat` metadata in the contract's terms.

use cap_std::fs::{FileTypeExt, MetadataExt};

use super::{Kind, Metadata};

/// Convert cap-std metadata (taken without following symlinks) to the WIT record.
pub fn from_cap(m: &cap_std::fs::Metadata) -> Metadata {
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
