//! `listxattrat` and `getxattrat` (Linux 6.13): the attributes of a name inside an open
//! directory, not following it, resolved from the directory's descriptor alone.
//!
//! The older calls need a path, and the only confined one is
//! `/proc/self/fd/<parent>/<name>`, whose lookup through procfs costs more than the
//! call itself. Older kernels answer `ENOSYS`, and seccomp profiles that do not know
//! the calls answer `EPERM` (or another errno of their choosing); [`supported`] then
//! turns false (see [`super::xattr::list_at`]) and the caller goes the procfs way.

// Two raw system calls that neither libc nor rustix wraps yet.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::io::Errno;

/// The calls' numbers; the same on every architecture (the unified syscall table).
const SYS_GETXATTRAT: libc::c_long = 464;
const SYS_LISTXATTRAT: libc::c_long = 465;

/// `struct xattr_args` of `getxattrat`.
#[repr(C)]
struct XattrArgs {
    value: u64,
    size: u32,
    flags: u32,
}

static SUPPORTED: AtomicBool = AtomicBool::new(true);

/// Whether the running kernel has the calls, as far as we know.
pub fn supported() -> bool {
    SUPPORTED.load(Ordering::Relaxed)
}

/// Stop using the calls (the kernel lacks them, or a filter refuses them).
pub fn disable() {
    SUPPORTED.store(false, Ordering::Relaxed);
}

fn result(ret: libc::c_long) -> Result<usize, Errno> {
    if ret >= 0 {
        return Ok(usize::try_from(ret).unwrap_or(0));
    }
    let errno =
        Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    if errno == Errno::NOSYS {
        disable();
    }
    Err(errno)
}

/// The attribute names of `name` in `dir` into `buf` (`buf` empty: only the size).
pub fn list(dir: BorrowedFd<'_>, name: &CStr, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: `name` is NUL-terminated, `buf` is valid for `buf.len()` bytes, and the
    // kernel writes at most that many.
    let ret = unsafe {
        libc::syscall(
            SYS_LISTXATTRAT,
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    result(ret)
}

/// The value of attribute `attr` of `name` in `dir` into `buf`.
pub fn get(dir: BorrowedFd<'_>, name: &CStr, attr: &CStr, buf: &mut [u8]) -> Result<usize, Errno> {
    let mut args = XattrArgs {
        value: buf.as_mut_ptr() as u64,
        size: u32::try_from(buf.len()).unwrap_or(u32::MAX),
        flags: 0,
    };
    // SAFETY: the strings are NUL-terminated, `args` describes `buf` (valid for
    // `args.size` bytes) and is passed with its own size, as the call expects.
    let ret = unsafe {
        libc::syscall(
            SYS_GETXATTRAT,
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
            attr.as_ptr(),
            &raw mut args,
            std::mem::size_of::<XattrArgs>(),
        )
    };
    result(ret)
}
