//! Errors of capability-scoped filesystem calls.

use std::io;

use thiserror::Error;

/// Why a capability-scoped call failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CapError {
    /// The path does not exist.
    #[error("no such file or directory")]
    NotFound,
    /// The path would leave the granted directory: a `..` component, an absolute path,
    /// or a symlink in the path.
    #[error("path escapes the granted directory")]
    EscapesRoot,
    /// The operating system refused access.
    #[error("permission denied")]
    PermissionDenied,
    /// A path with more components than a granted directory is walked to.
    #[error("path deeper than {} components", super::MAX_DEPTH)]
    TooDeep,
    /// The operation does not apply to this kind of object.
    #[error("operation not supported on this object")]
    NotSupported,
    /// Any other I/O failure.
    #[error(transparent)]
    Io(io::Error),
}

/// How cap-std words an attempt to resolve a path outside the directory.
const ESCAPE_MESSAGE: &str = "outside of the filesystem";

impl From<io::Error> for CapError {
    fn from(e: io::Error) -> Self {
        // Every open here refuses to follow symlinks, so ELOOP means a symlink stood
        // where a directory or file was expected, and cap-std's own resolution reports
        // a path that would leave the directory as a permission error of its own.
        match e.raw_os_error() {
            Some(code) if code == rustix::io::Errno::LOOP.raw_os_error() => {
                return CapError::EscapesRoot;
            }
            Some(code) if code == rustix::io::Errno::NOTDIR.raw_os_error() => {
                return CapError::NotSupported;
            }
            _ => {}
        }
        match e.kind() {
            io::ErrorKind::NotFound => CapError::NotFound,
            io::ErrorKind::PermissionDenied if e.to_string().contains(ESCAPE_MESSAGE) => {
                CapError::EscapesRoot
            }
            io::ErrorKind::PermissionDenied => CapError::PermissionDenied,
            _ => CapError::Io(e),
        }
    }
}

impl From<rustix::io::Errno> for CapError {
    fn from(e: rustix::io::Errno) -> Self {
        io::Error::from(e).into()
    }
}
