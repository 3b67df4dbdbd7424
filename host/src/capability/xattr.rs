//! Extended attributes without following symlinks.
//!
//! cap-std has no xattr calls. An object inside an opened parent directory is reached
//! through `/proc/self/fd/<parent>/<name>` with the `l*xattr` calls: the descriptor link
//! resolves to the very directory cap-std opened, and the final name is never followed.
//! The granted root itself is `/proc/self/fd/<root>/.`: cap-std opens directories with
//! `O_PATH`, and such descriptors do not take the `f*xattr` calls.

use std::cell::Cell;
use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;

use cap_std::fs::Dir;
use rustix::io::Errno;

use super::{CapError, xattrat};

/// Attribute names and values, in listing order.
pub type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// Attributes of `name` inside the opened directory `parent`, not following `name`.
pub fn list_at(parent: &Dir, name: &OsStr) -> Result<Xattrs, CapError> {
    let mut path = format!("/proc/self/fd/{}/", parent.as_fd().as_raw_fd()).into_bytes();
    path.extend_from_slice(name.as_bytes());
    let path = OsStr::from_bytes(&path);
    let by_path = || {
        collect(
            // rustix answers 0 for an empty buffer; the size query is a call of its own.
            |buf| {
                if buf.is_empty() {
                    rustix::fs::llistxattr_query(path)
                } else {
                    rustix::fs::llistxattr(path, buf)
                }
            },
            |attr, buf| rustix::fs::lgetxattr(path, attr, buf),
        )
    };
    if !xattrat::supported() {
        return by_path();
    }
    let cname = CString::new(name.as_bytes()).map_err(|_| CapError::NotFound)?;
    let dir = parent.as_fd();
    let probe = xattrat::list(dir, &cname, &mut []);
    if let Err(errno @ (Errno::NOSYS | Errno::PERM | Errno::ACCESS | Errno::NOTSUP)) = probe {
        // No such call, or a seccomp profile that refuses calls it does not know with
        // EPERM, EACCES or EOPNOTSUPP. The path-based call tells a refused system call
        // from an answer about this object: if it answers differently, stop using the
        // new calls for good.
        let old = rustix::fs::llistxattr_query(path);
        if errno == Errno::NOSYS || old != Err(errno) {
            xattrat::disable();
        }
        return by_path();
    }
    let first = Cell::new(Some(probe));
    collect(
        |buf| match first.take() {
            Some(probed) if buf.is_empty() => probed,
            _ => xattrat::list(dir, &cname, buf),
        },
        |attr, buf| {
            let attr = CString::new(attr.as_bytes()).map_err(|_| Errno::INVAL)?;
            xattrat::get(dir, &cname, &attr, buf)
        },
    )
}

/// Linux's limits on an attribute list and on one value (`XATTR_LIST_MAX`,
/// `XATTR_SIZE_MAX`): one buffer this size always suffices.
const XATTR_MAX: usize = 64 * 1024;

/// List names with `list`, then read each value with `get`. A filesystem without xattr
/// support has none; an attribute removed between the two calls is skipped. The first
/// call only asks for the list's size: most objects have no attributes, and then that
/// one call is all it takes.
fn collect(
    list: impl Fn(&mut [u8]) -> Result<usize, Errno>,
    get: impl Fn(&OsStr, &mut [u8]) -> Result<usize, Errno>,
) -> Result<Xattrs, CapError> {
    match list(&mut []) {
        Ok(0) | Err(Errno::NOTSUP) => return Ok(Vec::new()),
        Ok(_) => {}
        Err(e) => return Err(e.into()),
    }
    let mut buf = vec![0u8; XATTR_MAX];
    let names = match list(&mut buf) {
        Ok(n) => buf[..n].to_vec(),
        Err(Errno::NOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        match get(OsStr::from_bytes(name), &mut buf) {
            Ok(n) => out.push((name.to_vec(), buf[..n].to_vec())),
            Err(Errno::NODATA) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}
