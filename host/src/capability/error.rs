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
    /// The operation does not apply to this kind of object.
    #[error("operation not supported on this object")]
    NotSupported,
    /// Any other I/O failure.
    #[error(transparent)]
    Io(io::Error),
}

impl From<io::Error> for CapError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::NotFound => CapError::NotFound,
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
