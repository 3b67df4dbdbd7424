//! `lstat` metadata in the capability layer's own terms; the sandbox converts it to the
//! contract's records.

/// The type of a filesystem object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link (never followed).
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

/// POSIX metadata of one object, as `lstat` reports it.
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
    /// `st_size`: bytes for regular files, target length for symlinks.
    pub size: u64,
    /// Modification time, whole seconds since the Unix epoch.
    pub mtime_sec: i64,
    /// Nanoseconds part of the modification time.
    pub mtime_nsec: u32,
    /// Status change time, whole seconds since the Unix epoch.
    pub ctime_sec: i64,
    /// Nanoseconds part of the status change time.
    pub ctime_nsec: u32,
    /// Inode number.
    pub ino: u64,
    /// Number of hard links.
    pub nlink: u64,
    /// Major number of a device node (0 for other kinds).
    pub rdev_major: u32,
    /// Minor number of a device node (0 for other kinds).
    pub rdev_minor: u32,
}

/// One directory entry with its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's name within its directory (one component, raw bytes).
    pub name: Vec<u8>,
    /// The entry's own metadata (a symlink is described, not followed).
    pub meta: Metadata,
}

/// The metadata of an open file (`fstat`).
pub fn of_file(file: &cap_std::fs::File) -> std::io::Result<Metadata> {
    Ok(from_stat(&rustix::fs::fstat(file)?))
}

/// Convert `lstat` (`fstatat` with `AT_SYMLINK_NOFOLLOW`) output.
pub fn from_stat(st: &rustix::fs::Stat) -> Metadata {
    use rustix::fs::FileType;
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::Symlink => Kind::Symlink,
        FileType::Directory => Kind::Directory,
        FileType::RegularFile => Kind::Regular,
        FileType::Fifo => Kind::Fifo,
        FileType::Socket => Kind::Socket,
        FileType::CharacterDevice => Kind::CharDevice,
        FileType::BlockDevice => Kind::BlockDevice,
        // The kernel reports no other kind.
        FileType::Unknown => Kind::Regular,
    };
    let (rdev_major, rdev_minor) = match kind {
        Kind::CharDevice | Kind::BlockDevice => {
            (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev))
        }
        _ => (0, 0),
    };
    Metadata {
        kind,
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        size: st.st_size as u64,
        mtime_sec: st.st_mtime,
        mtime_nsec: st.st_mtime_nsec as u32,
        ctime_sec: st.st_ctime,
        ctime_nsec: st.st_ctime_nsec as u32,
        ino: st.st_ino,
        nlink: st.st_nlink,
        rdev_major,
        rdev_minor,
    }
}
