//! Opening directories and regular files below a handle without following symlinks.
//!
//! A regular file is first opened with `O_PATH` (which opens nothing: no fifo blocks, no
//! device driver runs, no terminal becomes ours), checked to be a regular file, and only
//! then reopened for reading through `/proc/self/fd`, which reaches exactly the object
//! checked. Without procfs the name is opened again (non-blocking, no controlling
//! terminal) and must be the same inode.

use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::OnceLock;

use cap_std::fs::Dir;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

/// An object that should have been a regular file is something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotRegular(pub FileType);

impl fmt::Display for NotRegular {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.0 {
            FileType::Directory => "a directory",
            FileType::Symlink => "a symlink",
            FileType::Fifo => "a fifo",
            FileType::Socket => "a socket",
            FileType::CharacterDevice => "a character device",
            FileType::BlockDevice => "a block device",
            _ => "of an unknown type",
        };
        write!(f, "not a regular file (it is {what}); refusing to open it")
    }
}

impl std::error::Error for NotRegular {}

impl From<NotRegular> for io::Error {
    fn from(e: NotRegular) -> Self {
        io::Error::new(io::ErrorKind::InvalidInput, e)
    }
}

/// Flags of every directory we open: readable (for listing and fsync), never a symlink.
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

fn dir_from(fd: OwnedFd) -> Dir {
    Dir::from_std_file(File::from(fd))
}

/// The directory `name` inside `parent`; a symlink there is refused.
pub fn dir_at(parent: &impl AsFd, name: impl AsRef<OsStr>) -> io::Result<Dir> {
    let name = name.as_ref();
    match rustix::fs::openat(parent, name, DIR_FLAGS, Mode::empty()) {
        Ok(fd) => Ok(dir_from(fd)),
        Err(Errno::LOOP | Errno::NOTDIR) => {
            let kind = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
                .map(|st| FileType::from_raw_mode(st.st_mode))?;
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                match kind {
                    FileType::Symlink => "is a symlink; refusing to follow it",
                    _ => "not a directory",
                },
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// [`dir_at`], with `None` when nothing has that name.
pub fn dir_at_if_exists(parent: &impl AsFd, name: impl AsRef<OsStr>) -> io::Result<Option<Dir>> {
    match dir_at(parent, name) {
        Ok(d) => Ok(Some(d)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The directory at the path a user named. The components leading to it are followed
/// as the user's shell would; the final one is followed only if `follow` (a directory
/// we are about to create things in and change the mode of must not be a symlink).
pub fn ambient_dir(path: &Path, follow: bool) -> io::Result<Dir> {
    let flags = if follow {
        DIR_FLAGS.difference(OFlags::NOFOLLOW)
    } else {
        DIR_FLAGS
    };
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => Ok(dir_from(fd)),
        Err(Errno::LOOP | Errno::NOTDIR)
            if !follow && std::fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink()) =>
        {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "is a symlink; refusing to follow it",
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// `/proc/self/fd`, when procfs is mounted there.
fn proc_fds() -> Option<&'static OwnedFd> {
    static FDS: OnceLock<Option<OwnedFd>> = OnceLock::new();
    FDS.get_or_init(|| {
        let fd = rustix::fs::open(
            "/proc/self/fd",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let fs = rustix::fs::fstatfs(&fd).ok()?;
        (fs.f_type == rustix::fs::PROC_SUPER_MAGIC).then_some(fd)
    })
    .as_ref()
}

/// Open `name` in `dir` with `O_PATH` (never following it) and describe it.
pub fn open_path(dir: &impl AsFd, name: &OsStr) -> io::Result<(OwnedFd, Stat)> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let stat = rustix::fs::fstat(&fd)?;
    Ok((fd, stat))
}

/// The object `checked` (an `O_PATH` descriptor of `name` in `dir`, described by
/// `stat`) opened again with `flags` (plus non-blocking, no controlling terminal).
pub fn reopen(
    dir: &impl AsFd,
    name: &OsStr,
    checked: &OwnedFd,
    stat: &Stat,
    flags: OFlags,
) -> io::Result<File> {
    let flags = flags | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    if let Some(fds) = proc_fds() {
        let fd = rustix::fs::openat(fds, checked.as_raw_fd().to_string(), flags, Mode::empty())?;
        return Ok(File::from(fd));
    }
    let fd = rustix::fs::openat(dir, name, flags | OFlags::NOFOLLOW, Mode::empty())?;
    let now = rustix::fs::fstat(&fd)?;
    if (now.st_dev, now.st_ino) != (stat.st_dev, stat.st_ino) {
        return Err(io::Error::other("replaced while it was being opened"));
    }
    Ok(File::from(fd))
}

/// Open the regular file `name` in `dir` for reading: never a symlink, and anything
/// but a regular file is refused before it is opened ([`NotRegular`]).
pub fn open_regular(dir: &impl AsFd, name: impl AsRef<OsStr>) -> io::Result<File> {
    open_regular_with(dir, name, OFlags::RDONLY)
}

/// [`open_regular`] with other access `flags` (`O_WRONLY` for a lock file).
pub fn open_regular_with(
    dir: &impl AsFd,
    name: impl AsRef<OsStr>,
    flags: OFlags,
) -> io::Result<File> {
    let name = name.as_ref();
    let (fd, stat) = open_path(dir, name).map_err(|e| {
        if e.raw_os_error() == Some(Errno::LOOP.raw_os_error()) {
            NotRegular(FileType::Symlink).into()
        } else {
            e
        }
    })?;
    let kind = FileType::from_raw_mode(stat.st_mode);
    if kind != FileType::RegularFile {
        return Err(NotRegular(kind).into());
    }
    reopen(dir, name, &fd, &stat, flags)
}

/// The bytes of the regular file `name` in `dir`, refusing one over `max` bytes.
pub fn read_regular(dir: &impl AsFd, name: impl AsRef<OsStr>, max: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(dir, name)?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::other(format!(
            "larger than {max} bytes; refusing to read it"
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn regular_files_only() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("f"), b"data").unwrap();
        symlink("f", tmp.path().join("link")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            tmp.path().join("fifo"),
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        let dir = ambient_dir(tmp.path(), true).unwrap();
        assert_eq!(read_regular(&dir, "f", 4).unwrap(), b"data");
        assert!(read_regular(&dir, "f", 3).is_err());
        for (name, says) in [
            ("link", "a symlink"),
            ("fifo", "a fifo"),
            ("d", "a directory"),
        ] {
            let e = open_regular(&dir, name).unwrap_err();
            assert!(e.to_string().contains(says), "{name}: {e}");
        }
        assert!(dir_at(&dir, "link").is_err());
        assert!(dir_at(&dir, "d").is_ok());
        assert!(dir_at_if_exists(&dir, "none").unwrap().is_none());
    }

    #[test]
    fn a_symlinked_final_component_is_refused_unless_followed() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        symlink("d", tmp.path().join("l")).unwrap();
        assert!(ambient_dir(&tmp.path().join("l"), true).is_ok());
        let e = ambient_dir(&tmp.path().join("l"), false).unwrap_err();
        assert!(e.to_string().contains("is a symlink"), "{e}");
    }
}
