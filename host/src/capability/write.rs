//! The write side of a granted directory, for unpack.
//!
//! Every operation resolves its path like the read side (no `..`, no absolute path, no
//! symlink in any component) and acts on the final name relative to its opened parent
//! with the `*at` calls, never following a final symlink. Calls that have no
//! no-follow form (`chmod`, xattrs on the root) go through `/proc/self/fd/<fd>` of an
//! `O_PATH` descriptor of the object itself.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use cap_std::fs::{Dir, File};
use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, Timespec, Timestamps, UTIME_OMIT};

use std::sync::Arc;

use super::{CapDir, CapError, FileWriter, Kind, Target, lend, normalized};

/// A time to set: seconds and nanoseconds.
pub type Time = (i64, u32);

pub(super) fn proc_path(fd: &impl AsFd, name: Option<&OsStr>) -> Vec<u8> {
    let mut path = format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd()).into_bytes();
    if let Some(name) = name {
        path.push(b'/');
        path.extend_from_slice(name.as_bytes());
    }
    path
}

fn timespec(t: Option<Time>) -> Timespec {
    match t {
        Some((sec, nsec)) => Timespec {
            tv_sec: sec,
            tv_nsec: i64::from(nsec),
        },
        None => Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_OMIT,
        },
    }
}

impl CapDir {
    fn check_writable(&self) -> Result<(), CapError> {
        if self.writable {
            Ok(())
        } else {
            Err(CapError::PermissionDenied)
        }
    }

    /// Resolve `path` to (parent, name) for creating or changing a child.
    pub(super) fn child<'p>(
        &self,
        path: &'p [u8],
    ) -> Result<(std::sync::Arc<Dir>, &'p OsStr), CapError> {
        self.check_writable()?;
        match self.target(path)? {
            Target::Root => Err(CapError::NotSupported),
            Target::Child(parent, name) => Ok((parent, name)),
        }
    }

    /// An `O_PATH` descriptor of the object at `path` itself (the root, or a final
    /// component opened without following it).
    fn object(&self, path: &[u8]) -> Result<OwnedFd, CapError> {
        self.check_writable()?;
        self.open_object(path)
    }

    /// [`CapDir::object`] on any handle.
    fn open_object(&self, path: &[u8]) -> Result<OwnedFd, CapError> {
        match self.target(path)? {
            Target::Root => lend::open_path(&*self.root, OsStr::new(".")),
            Target::Child(parent, name) => self.lending(&parent, path, Some(name), || {
                lend::open_path(&*parent, name)
            }),
        }
    }

    /// Put back the modes of the directories that owner bits were lent to, deepest
    /// first. Runs when the handle is dropped; call it to see the first error.
    pub fn restore_modes(&self) -> Result<(), CapError> {
        let Some(loans) = &self.loans else {
            return Ok(());
        };
        self.forget_open();
        let mut first_error = None;
        while let Some((path, loan)) = loans.take_deepest() {
            let restored = self.open_object(&path).and_then(|fd| {
                let st = rustix::fs::fstat(&fd)?;
                if st.st_ino == loan.ino
                    && FileType::from_raw_mode(st.st_mode) == FileType::Directory
                {
                    lend::chmod_fd(fd.as_fd(), loan.mode)?;
                }
                Ok(())
            });
            match restored {
                Ok(()) | Err(CapError::NotFound) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        self.forget_open();
        first_error.map_or(Ok(()), Err)
    }

    /// Create a regular file that must not exist yet.
    pub fn create_file(&self, path: &[u8], mode: u32) -> Result<FileWriter, CapError> {
        let (parent, name) = self.child(path)?;
        let fd = self.lending(&parent, path, Some(name), || {
            Ok(rustix::fs::openat(
                &*parent,
                name,
                OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(mode & 0o777),
            )?)
        })?;
        let file = File::from_std(std::fs::File::from(fd));
        Ok(FileWriter::new(
            file,
            normalized(path)?,
            Arc::clone(&self.written),
        ))
    }

    /// Create a directory.
    pub fn mkdir(&self, path: &[u8], mode: u32) -> Result<(), CapError> {
        let (parent, name) = self.child(path)?;
        self.lending(&parent, path, Some(name), || {
            Ok(rustix::fs::mkdirat(
                &*parent,
                name,
                Mode::from_raw_mode(mode & 0o7777),
            )?)
        })
    }

    /// Create a symlink holding `target` verbatim.
    pub fn symlink(&self, path: &[u8], target: &[u8]) -> Result<(), CapError> {
        let (parent, name) = self.child(path)?;
        self.lending(&parent, path, Some(name), || {
            Ok(rustix::fs::symlinkat(
                OsStr::from_bytes(target),
                &*parent,
                name,
            )?)
        })
    }

    /// Link `path` to the existing object at `target` (not following a final symlink).
    pub fn hard_link(&self, path: &[u8], target: &[u8]) -> Result<(), CapError> {
        let (from_parent, from_name) = self.child(target)?;
        let (parent, name) = self.child(path)?;
        self.lending(&parent, path, Some(name), || {
            self.lending(&from_parent, target, Some(from_name), || {
                Ok(rustix::fs::linkat(
                    &*from_parent,
                    from_name,
                    &*parent,
                    name,
                    AtFlags::empty(),
                )?)
            })
        })
    }

    /// Create a device node or fifo.
    pub fn mknod(
        &self,
        path: &[u8],
        kind: Kind,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> Result<(), CapError> {
        let (parent, name) = self.child(path)?;
        let file_type = match kind {
            Kind::CharDevice => FileType::CharacterDevice,
            Kind::BlockDevice => FileType::BlockDevice,
            Kind::Fifo => FileType::Fifo,
            _ => return Err(CapError::NotSupported),
        };
        let dev = rustix::fs::makedev(major, minor);
        self.lending(&parent, path, Some(name), || {
            Ok(rustix::fs::mknodat(
                &*parent,
                name,
                file_type,
                Mode::from_raw_mode(mode & 0o7777),
                dev,
            )?)
        })
    }

    /// Set the owner, not following a final symlink.
    pub fn set_owner(&self, path: &[u8], uid: u32, gid: u32) -> Result<(), CapError> {
        let fd = self.object(path)?;
        Ok(rustix::fs::chownat(
            &fd,
            "",
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
            AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW,
        )?)
    }

    /// Set the mode bits; refused on a symlink.
    pub fn set_mode(&self, path: &[u8], mode: u32) -> Result<(), CapError> {
        let fd = self.object(path)?;
        if rustix::fs::fstat(&fd)?.st_mode & 0o170000 == 0o120000 {
            return Err(CapError::NotSupported);
        }
        // Without root, a directory keeps its owner bits until the job ends.
        if let Some(loans) = &self.loans
            && loans.set_dir_mode(fd.as_fd(), &normalized(path)?, mode & 0o7777)?
        {
            return Ok(());
        }
        let proc = proc_path(&fd, None);
        Ok(rustix::fs::chmodat(
            CWD,
            OsStr::from_bytes(&proc),
            Mode::from_raw_mode(mode & 0o7777),
            AtFlags::empty(),
        )?)
    }

    /// Set the modification time and optionally the access time.
    pub fn set_times(&self, path: &[u8], mtime: Time, atime: Option<Time>) -> Result<(), CapError> {
        self.check_writable()?;
        let times = Timestamps {
            last_access: timespec(atime),
            last_modification: timespec(Some(mtime)),
        };
        match self.target(path)? {
            Target::Root => {
                let proc = proc_path(&*self.root, None);
                Ok(rustix::fs::utimensat(
                    CWD,
                    OsStr::from_bytes(&proc),
                    &times,
                    AtFlags::empty(),
                )?)
            }
            Target::Child(parent, name) => self.lending(&parent, path, Some(name), || {
                Ok(rustix::fs::utimensat(
                    &*parent,
                    name,
                    &times,
                    AtFlags::SYMLINK_NOFOLLOW,
                )?)
            }),
        }
    }

    /// Run `op` on the `/proc/self/fd` path of the object at `path` (its parent's
    /// descriptor and its name, or the root's `.`), lending owner bits if needed.
    fn on_xattrs<T>(
        &self,
        path: &[u8],
        op: impl Fn(&OsStr) -> Result<T, CapError>,
    ) -> Result<T, CapError> {
        self.check_writable()?;
        match self.target(path)? {
            Target::Root => {
                let proc = proc_path(&*self.root, Some(OsStr::new(".")));
                self.lending(&self.root, path, None, || op(OsStr::from_bytes(&proc)))
            }
            Target::Child(parent, name) => {
                let proc = proc_path(&*parent, Some(name));
                self.lending(&parent, path, Some(name), || op(OsStr::from_bytes(&proc)))
            }
        }
    }

    /// Set one extended attribute (not following a final symlink).
    pub fn set_xattr(&self, path: &[u8], name: &[u8], value: &[u8]) -> Result<(), CapError> {
        self.on_xattrs(path, |proc| {
            Ok(rustix::fs::lsetxattr(
                proc,
                OsStr::from_bytes(name),
                value,
                rustix::fs::XattrFlags::empty(),
            )?)
        })
    }

    /// Remove one extended attribute.
    pub fn remove_xattr(&self, path: &[u8], name: &[u8]) -> Result<(), CapError> {
        self.on_xattrs(path, |proc| {
            Ok(rustix::fs::lremovexattr(proc, OsStr::from_bytes(name))?)
        })
    }

    /// Remove the object at `path`, a directory with everything below it.
    pub fn remove(&self, path: &[u8]) -> Result<(), CapError> {
        let (parent, name) = self.child(path)?;
        let is_dir = self
            .lending(&parent, path, Some(name), || {
                Ok(parent.symlink_metadata(name)?)
            })?
            .is_dir();
        let key = normalized(path)?;
        self.forget_open();
        self.written.forget(&key);
        if is_dir {
            // Without recursion and with a bounded number of descriptors; without root,
            // directories left without owner bits are given them on the way.
            self.lending(&parent, path, Some(name), || {
                Ok(crate::handle::remove_tree(&*parent, name)?)
            })?;
            if let Some(loans) = &self.loans {
                loans.forget(&key);
            }
        } else {
            self.lending(&parent, path, Some(name), || {
                Ok(rustix::fs::unlinkat(&*parent, name, AtFlags::empty())?)
            })?;
        }
        Ok(())
    }

    /// Remove everything inside the granted directory, which stays.
    pub fn remove_contents(&self) -> Result<(), CapError> {
        for entry in self.read_dir(b"")? {
            self.remove(&entry.name)?;
        }
        Ok(())
    }
}
