//! Creating an object with its metadata in one go (`dir.create`): unpack's many small
//! files, directories and symlinks.
//!
//! The object is made with an exclusive, no-follow call relative to its opened parent.
//! A regular file or directory is then finished through the descriptor that call gave
//! (or opened without following): contents, owner, xattrs, mode and times never go
//! through a path, so nothing can be swapped in under them. A symlink is finished with
//! the `*at` calls that do not follow it.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use rustix::fs::{AtFlags, Mode, OFlags, Timespec, Timestamps, UTIME_OMIT};
use rustix::io::Errno;

use super::write::Time;
use super::{CapDir, CapError, FileWriter, lend};

/// What to create.
#[derive(Debug, Clone, Copy)]
pub enum NewKind<'a> {
    /// A regular file with these contents.
    Regular(&'a [u8]),
    /// An empty directory.
    Directory,
    /// A symlink holding this target.
    Symlink(&'a [u8]),
}

/// The metadata a new object is given.
#[derive(Debug, Clone, Copy)]
pub struct Attributes<'a> {
    /// Owner; `None` keeps the creator's.
    pub owner: Option<(u32, u32)>,
    /// Mode bits with setuid, setgid and sticky (not applied to symlinks).
    pub mode: u32,
    /// Extended attributes, in order.
    pub xattrs: &'a [(Vec<u8>, Vec<u8>)],
    /// Modification time.
    pub mtime: Time,
    /// Access time; `None` leaves it.
    pub atime: Option<Time>,
}

/// An extended attribute that was not set: its name and why.
pub type Refused = (Vec<u8>, CapError);

fn timestamps(a: &Attributes<'_>) -> Timestamps {
    let ts = |t: Option<Time>| match t {
        Some((sec, nsec)) => Timespec {
            tv_sec: sec,
            tv_nsec: i64::from(nsec),
        },
        None => Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_OMIT,
        },
    };
    Timestamps {
        last_access: ts(a.atime),
        last_modification: ts(Some(a.mtime)),
    }
}

/// Whether an xattr error is a refusal the caller may live with (the filesystem has no
/// such attributes, or the user may not set them) rather than a failure.
fn refusal(e: Errno) -> Option<CapError> {
    match e {
        Errno::OPNOTSUPP => Some(CapError::NotSupported),
        Errno::PERM | Errno::ACCESS => Some(CapError::PermissionDenied),
        _ => None,
    }
}

/// Set `xattrs` through `set`, collecting refusals.
fn set_xattrs(
    xattrs: &[(Vec<u8>, Vec<u8>)],
    refused: &mut Vec<Refused>,
    mut set: impl FnMut(&OsStr, &[u8]) -> Result<(), Errno>,
) -> Result<(), CapError> {
    for (name, value) in xattrs {
        if let Err(e) = set(OsStr::from_bytes(name), value) {
            match refusal(e) {
                Some(why) => refused.push((name.clone(), why)),
                None => return Err(e.into()),
            }
        }
    }
    Ok(())
}

impl CapDir {
    /// Create the object `kind` at `path`, which must not exist, and give it
    /// `attributes`. Returns the xattrs that were refused.
    pub fn create(
        &self,
        path: &[u8],
        kind: NewKind<'_>,
        attributes: &Attributes<'_>,
    ) -> Result<Vec<Refused>, CapError> {
        let (parent, name) = self.child(path)?;
        let mut refused = Vec::new();
        match kind {
            NewKind::Regular(contents) => {
                let fd = self.lending(&parent, path, Some(name), || {
                    Ok(rustix::fs::openat(
                        &*parent,
                        name,
                        OFlags::CREATE
                            | OFlags::EXCL
                            | OFlags::WRONLY
                            | OFlags::NOFOLLOW
                            | OFlags::CLOEXEC,
                        Mode::from_raw_mode(0o600),
                    )?)
                })?;
                let mut writer = FileWriter::new(
                    cap_std::fs::File::from_std(std::fs::File::from(fd)),
                    super::normalized(path)?,
                    Arc::clone(&self.written),
                );
                if !contents.is_empty() {
                    writer.write(contents)?;
                }
                let file = writer.file();
                self.finish(file.as_fd(), path, attributes, false, &mut refused)?;
                // Recording the digest only saves hashing the file again later.
                if let Err(e) = writer.finish() {
                    tracing::debug!("digest of a written file not kept: {e}");
                }
            }
            NewKind::Directory => {
                self.lending(&parent, path, Some(name), || {
                    Ok(rustix::fs::mkdirat(
                        &*parent,
                        name,
                        Mode::from_raw_mode(0o700),
                    )?)
                })?;
                let fd: OwnedFd = self.lending(&parent, path, Some(name), || {
                    Ok(rustix::fs::openat(
                        &*parent,
                        name,
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?)
                })?;
                self.finish(fd.as_fd(), path, attributes, true, &mut refused)?;
            }
            NewKind::Symlink(target) => {
                self.lending(&parent, path, Some(name), || {
                    Ok(rustix::fs::symlinkat(
                        OsStr::from_bytes(target),
                        &*parent,
                        name,
                    )?)
                })?;
                if let Some((uid, gid)) = attributes.owner {
                    rustix::fs::chownat(
                        &*parent,
                        name,
                        Some(rustix::fs::Uid::from_raw(uid)),
                        Some(rustix::fs::Gid::from_raw(gid)),
                        AtFlags::SYMLINK_NOFOLLOW,
                    )?;
                }
                if !attributes.xattrs.is_empty() {
                    // No descriptor takes xattrs for a symlink: its parent's
                    // `/proc/self/fd` path with the `l*` calls, as `set-xattr` does.
                    let proc = super::write::proc_path(&*parent, Some(name));
                    let proc = OsStr::from_bytes(&proc);
                    set_xattrs(attributes.xattrs, &mut refused, |n, v| {
                        rustix::fs::lsetxattr(proc, n, v, rustix::fs::XattrFlags::empty())
                    })?;
                }
                rustix::fs::utimensat(
                    &*parent,
                    name,
                    &timestamps(attributes),
                    AtFlags::SYMLINK_NOFOLLOW,
                )?;
            }
        }
        Ok(refused)
    }

    /// Owner, xattrs, mode and times of a file or directory just created, through its
    /// descriptor. The owner goes first (a change of owner clears setuid, setgid and
    /// file capabilities), xattrs before the mode (a mode without owner bits would
    /// refuse them to a user other than root), times last.
    fn finish(
        &self,
        fd: BorrowedFd<'_>,
        path: &[u8],
        attributes: &Attributes<'_>,
        directory: bool,
        refused: &mut Vec<Refused>,
    ) -> Result<(), CapError> {
        if let Some((uid, gid)) = attributes.owner {
            rustix::fs::fchown(
                fd,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
            )?;
        }
        set_xattrs(attributes.xattrs, refused, |n, v| {
            rustix::fs::fsetxattr(fd, n, v, rustix::fs::XattrFlags::empty())
        })?;
        let mode = attributes.mode & 0o7777;
        // Without root, a directory keeps its owner bits until the job ends.
        let lent = match &self.loans {
            Some(loans) if directory => loans.set_dir_mode(fd, &super::normalized(path)?, mode)?,
            _ => false,
        };
        if !lent {
            lend::chmod_fd(fd, mode)?;
        }
        rustix::fs::futimens(fd, &timestamps(attributes))?;
        Ok(())
    }
}
