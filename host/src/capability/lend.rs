//! Owner permission bits lent to a job that runs without root, as umoci's rootless mode
//! does.
//!
//! Root passes every permission check; the owner of a tree does not. Fedora ships
//! `/usr/bin` as 0555 and `/root` as 0550, a rootfs may hold a 0000 directory with
//! children, and a file may be 0000 or 0200. Without root, the owner of such objects can
//! still change their modes, so a job that hits `EACCES` on an object the effective user
//! owns lends itself the owner bits it needs and retries:
//!
//! - a **directory** gets `u+rwx` for the rest of the job (its children are looked up,
//!   listed and created while the job goes on); its real mode is kept in a [`Loans`]
//!   record, reported in its place by every metadata call, updated by `set-mode`, and put
//!   back when the job ends (deepest first, so every directory is reachable while its
//!   children are restored), also when it fails;
//! - a **file** gets `u+rw` only for the one call that needed it (an open for reading, an
//!   xattr read or write), and its mode is put back at once.
//!
//! A directory the job gives a mode without all owner bits (`set-mode 0555` on unpack)
//! is lent from the start: its mode is applied after its contents, when the job ends.
//! The lent bits are therefore never seen by the guest, in a layer or in a manifest.
//! Nothing is lent to root, nor on an object another user owns.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::{Mutex, MutexGuard};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::CapError;

/// The owner bits a directory needs while a job works in it.
const DIR_BITS: u32 = 0o700;
/// The owner bits a file needs for the one call that reads or writes it.
const FILE_BITS: u32 = 0o600;

/// A directory's mode while owner bits are lent to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loan {
    /// Its inode, so a path reused by another object is never given this mode.
    pub ino: u64,
    /// The mode it gets back (permission bits with setuid, setgid and sticky).
    pub mode: u32,
}

/// The directories of one job that hold lent bits, by normalized path (components
/// joined by `/`, the root being empty).
#[derive(Debug)]
pub struct Loans {
    uid: u32,
    dirs: Mutex<BTreeMap<Vec<u8>, Loan>>,
}

impl Loans {
    /// Loans for the effective user, or `None` for root (who needs none).
    pub fn for_effective_user() -> Option<Self> {
        let uid = rustix::process::geteuid();
        (!uid.is_root()).then(|| Loans {
            uid: uid.as_raw(),
            dirs: Mutex::new(BTreeMap::new()),
        })
    }

    fn dirs(&self) -> MutexGuard<'_, BTreeMap<Vec<u8>, Loan>> {
        self.dirs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether any directory holds lent bits.
    pub fn any(&self) -> bool {
        !self.dirs().is_empty()
    }

    /// The real mode of the directory at `path` if bits are lent to it.
    pub fn mode_of(&self, path: &[u8], ino: u64) -> Option<u32> {
        let dirs = self.dirs();
        if dirs.is_empty() {
            return None;
        }
        dirs.get(path).filter(|l| l.ino == ino).map(|l| l.mode)
    }

    /// Lend [`DIR_BITS`] to the directory open at `fd` (found at `path`), if the
    /// effective user owns it and it lacks some of them. Returns whether anything was
    /// lent (whether a retry can succeed).
    pub fn lend_dir(&self, fd: BorrowedFd<'_>, path: &[u8]) -> Result<bool, CapError> {
        let st = rustix::fs::fstat(fd)?;
        let mode = st.st_mode & 0o7777;
        if FileType::from_raw_mode(st.st_mode) != FileType::Directory
            || st.st_uid != self.uid
            || mode & DIR_BITS == DIR_BITS
        {
            return Ok(false);
        }
        let mut dirs = self.dirs();
        let original = match dirs.get(path) {
            Some(loan) if loan.ino == st.st_ino => loan.mode,
            _ => mode,
        };
        chmod_fd(fd, mode | DIR_BITS)?;
        dirs.insert(
            path.to_vec(),
            Loan {
                ino: st.st_ino,
                mode: original,
            },
        );
        Ok(true)
    }

    /// Give the directory at `path` (open at `fd`) the mode `mode`: now if it has every
    /// owner bit, else `mode` plus the owner bits now and `mode` when the job ends.
    /// Returns `false` if `fd` is not a directory the effective user owns (the caller
    /// then sets the mode itself).
    pub fn set_dir_mode(
        &self,
        fd: BorrowedFd<'_>,
        path: &[u8],
        mode: u32,
    ) -> Result<bool, CapError> {
        let st = rustix::fs::fstat(fd)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::Directory || st.st_uid != self.uid {
            return Ok(false);
        }
        let mut dirs = self.dirs();
        if mode & DIR_BITS == DIR_BITS {
            chmod_fd(fd, mode)?;
            dirs.remove(path);
        } else {
            chmod_fd(fd, mode | DIR_BITS)?;
            dirs.insert(
                path.to_vec(),
                Loan {
                    ino: st.st_ino,
                    mode,
                },
            );
        }
        Ok(true)
    }

    /// Run `op` with [`FILE_BITS`] lent to the file open (`O_PATH`) at `fd`, putting its
    /// mode back right after. Returns `None` if nothing could be lent (not a file the
    /// effective user owns, or it has the bits already).
    pub fn with_file<T>(
        &self,
        fd: BorrowedFd<'_>,
        op: impl FnOnce() -> Result<T, CapError>,
    ) -> Result<Option<T>, CapError> {
        let st = rustix::fs::fstat(fd)?;
        let mode = st.st_mode & 0o7777;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile
            || st.st_uid != self.uid
            || mode & FILE_BITS == FILE_BITS
        {
            return Ok(None);
        }
        chmod_fd(fd, mode | FILE_BITS)?;
        let result = op();
        let restored = chmod_fd(fd, mode);
        let value = result?;
        restored?;
        Ok(Some(value))
    }

    /// Forget the loans at `path` and below it (they were removed).
    pub fn forget(&self, path: &[u8]) {
        let mut dirs = self.dirs();
        if dirs.is_empty() {
            return;
        }
        dirs.retain(|p, _| !below_or_at(p, path));
    }

    /// Take the loan with the longest path: no other loan lies below it.
    pub fn take_deepest(&self) -> Option<(Vec<u8>, Loan)> {
        let mut dirs = self.dirs();
        let deepest = dirs.keys().max_by_key(|p| p.len())?.clone();
        dirs.remove_entry(&deepest)
    }
}

/// Whether `path` is `top` or lies below it (the root, empty, is above everything).
fn below_or_at(path: &[u8], top: &[u8]) -> bool {
    top.is_empty() || path == top || (path.starts_with(top) && path.get(top.len()) == Some(&b'/'))
}

/// Set the mode of the object open at `fd`: `fchmod`, or through `/proc/self/fd` for an
/// `O_PATH` descriptor (which `fchmod` refuses).
pub fn chmod_fd(fd: BorrowedFd<'_>, mode: u32) -> Result<(), CapError> {
    match rustix::fs::fchmod(fd, Mode::from_raw_mode(mode)) {
        Err(Errno::BADF) => {
            let proc = format!("/proc/self/fd/{}", fd.as_raw_fd());
            Ok(rustix::fs::chmodat(
                CWD,
                OsStr::new(&proc),
                Mode::from_raw_mode(mode),
                AtFlags::empty(),
            )?)
        }
        other => Ok(other?),
    }
}

/// An `O_PATH` descriptor of `name` in `parent`, not following a final symlink.
pub fn open_path(parent: &impl AsFd, name: &OsStr) -> Result<OwnedFd, CapError> {
    let name = if name.is_empty() {
        OsStr::new(".")
    } else {
        name
    };
    Ok(rustix::fs::openat(
        parent,
        OsStr::from_bytes(name.as_bytes()),
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_or_at_respects_component_boundaries() {
        assert!(below_or_at(b"a", b"a"));
        assert!(below_or_at(b"a/b", b"a"));
        assert!(!below_or_at(b"ab", b"a"));
        assert!(!below_or_at(b"a-b/c", b"a"));
        assert!(below_or_at(b"x/y", b""));
    }
}
