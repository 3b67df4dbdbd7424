//! Removing a directory tree without recursion and with three descriptors at most,
//! however deep the tree is.
//!
//! The walk goes down one directory at a time; each directory is read once, its
//! non-directories unlinked and its subdirectories remembered by name. Going back up
//! opens `..` and checks it is the very directory that was left (device and inode), so
//! a tree moved while it is being removed stops the removal instead of leading it
//! elsewhere. Memory grows with the depth (one name list per level), descriptors do not.
//!
//! Run by a user other than root, a directory that user owns but lacks the owner bits
//! to list or empty (a 0000 or 0555 directory of a rootless rootfs) is given `u+rwx`
//! on the way down: it is going away, and its owner may.

use std::ffi::{CStr, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// One directory on the way down.
struct Level {
    /// Its name in its parent.
    name: OsString,
    /// The parent's device and inode.
    parent: (u64, u64),
    /// Subdirectories not removed yet.
    pending: Vec<OsString>,
}

fn id(fd: &impl AsFd) -> io::Result<(u64, u64)> {
    let st = rustix::fs::fstat(fd)?;
    Ok((st.st_dev, st.st_ino))
}

fn open_dir(parent: &impl AsFd, name: &OsStr) -> Result<OwnedFd, Errno> {
    let open = || {
        rustix::fs::openat(
            parent,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
    };
    let fd = match open() {
        Err(Errno::ACCESS) if owner_bits_help(parent, name)? => open()?,
        other => other?,
    };
    give_owner_bits(&fd)?;
    Ok(fd)
}

/// Without root: whether `name` in `parent` is a directory of the effective user's
/// that lacked owner bits (now given, through an `O_PATH` descriptor of it).
fn owner_bits_help(parent: &impl AsFd, name: &OsStr) -> Result<bool, Errno> {
    let uid = rustix::process::geteuid();
    if uid.is_root() {
        return Ok(false);
    }
    let fd = rustix::fs::openat(
        parent,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let st = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory
        || st.st_uid != uid.as_raw()
        || st.st_mode & 0o700 == 0o700
    {
        return Ok(false);
    }
    let proc = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
    rustix::fs::chmodat(
        rustix::fs::CWD,
        proc.as_str(),
        Mode::from_raw_mode((st.st_mode & 0o7777) | 0o700),
        AtFlags::empty(),
    )?;
    Ok(true)
}

/// Without root: give the open directory `fd` the owner bits emptying it needs, if the
/// effective user owns it.
fn give_owner_bits(fd: &OwnedFd) -> Result<(), Errno> {
    let uid = rustix::process::geteuid();
    if uid.is_root() {
        return Ok(());
    }
    let st = rustix::fs::fstat(fd)?;
    if st.st_uid == uid.as_raw() && st.st_mode & 0o700 != 0o700 {
        rustix::fs::fchmod(fd, Mode::from_raw_mode((st.st_mode & 0o7777) | 0o700))?;
    }
    Ok(())
}

/// Unlink every non-directory in `dir`; return the names of its subdirectories.
fn clear(dir: &OwnedFd) -> io::Result<Vec<OsString>> {
    let mut subdirs = Vec::new();
    let mut entries = rustix::fs::Dir::read_from(dir)?;
    while let Some(entry) = entries.read() {
        let entry = entry?;
        let name: &CStr = entry.file_name();
        if matches!(name.to_bytes(), b"." | b"..") {
            continue;
        }
        let name = OsStr::from_bytes(name.to_bytes());
        let kind = match entry.file_type() {
            FileType::Unknown => {
                let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
                FileType::from_raw_mode(st.st_mode)
            }
            kind => kind,
        };
        if kind == FileType::Directory {
            subdirs.push(name.to_owned());
        } else {
            match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(subdirs)
}

/// Remove `name` in `parent` and everything below it; `name` itself is never
/// followed (a symlink there is unlinked, not its target's contents).
pub fn remove_tree(parent: &impl AsFd, name: &OsStr) -> io::Result<()> {
    let mut current = match open_dir(parent, name) {
        Ok(fd) => fd,
        Err(Errno::NOTDIR | Errno::LOOP) => {
            return Ok(rustix::fs::unlinkat(parent, name, AtFlags::empty())?);
        }
        Err(e) => return Err(e.into()),
    };
    let mut levels = vec![Level {
        name: name.to_owned(),
        parent: id(parent)?,
        pending: clear(&current)?,
    }];
    while let Some(level) = levels.last_mut() {
        if let Some(sub) = level.pending.pop() {
            match open_dir(&current, &sub) {
                Ok(next) => {
                    let here = id(&current)?;
                    let pending = clear(&next)?;
                    current = next;
                    levels.push(Level {
                        name: sub,
                        parent: here,
                        pending,
                    });
                }
                Err(Errno::NOENT) => {}
                // No longer a directory: an object of another kind took its place.
                Err(Errno::NOTDIR | Errno::LOOP) => {
                    rustix::fs::unlinkat(&current, &sub, AtFlags::empty())?;
                }
                Err(e) => return Err(e.into()),
            }
            continue;
        }
        let done = levels.pop().expect("the loop holds a level");
        if levels.is_empty() {
            drop(current);
            rustix::fs::unlinkat(parent, &done.name, AtFlags::REMOVEDIR)?;
            return Ok(());
        }
        let up = open_dir(&current, OsStr::new(".."))?;
        if id(&up)? != done.parent {
            return Err(io::Error::other(
                "a directory was moved while its tree was being removed",
            ));
        }
        drop(current);
        rustix::fs::unlinkat(&up, &done.name, AtFlags::REMOVEDIR)?;
        current = up;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn removes_a_deep_tree_with_few_descriptors() {
        let tmp = tempfile::tempdir().unwrap();
        let top = super::super::ambient_dir(tmp.path(), true).unwrap();
        rustix::fs::mkdirat(&top, "t", Mode::from_raw_mode(0o755)).unwrap();
        // 5,000 levels, each with a file, a symlink and a sibling directory.
        let mut dir = open_dir(&top, OsStr::new("t")).unwrap();
        for _ in 0..5000 {
            rustix::fs::mkdirat(&dir, "side", Mode::from_raw_mode(0o755)).unwrap();
            std::fs::write(
                format!("/proc/self/fd/{}/f", std::os::fd::AsRawFd::as_raw_fd(&dir)),
                b"x",
            )
            .unwrap();
            rustix::fs::symlinkat("/", &dir, "l").unwrap();
            rustix::fs::mkdirat(&dir, "d", Mode::from_raw_mode(0o755)).unwrap();
            dir = open_dir(&dir, OsStr::new("d")).unwrap();
        }
        drop(dir);
        remove_tree(&top, OsStr::new("t")).unwrap();
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_symlink_is_unlinked_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("keep")).unwrap();
        std::fs::write(tmp.path().join("keep/file"), b"x").unwrap();
        symlink("keep", tmp.path().join("link")).unwrap();
        let top = super::super::ambient_dir(tmp.path(), true).unwrap();
        remove_tree(&top, OsStr::new("link")).unwrap();
        assert!(tmp.path().join("keep/file").exists());
        assert!(!tmp.path().join("link").exists());
    }
}
