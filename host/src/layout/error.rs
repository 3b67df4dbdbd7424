//! Why a layout operation failed. Every message names the file or blob it is about.

use std::path::PathBuf;

use thiserror::Error;

/// A layout operation that failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// A file could not be read, written or renamed.
    ///
    /// The reason is part of the message and not also a `source()`: a report that
    /// prints the source chain would repeat it.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        error: std::io::Error,
    },
    /// The directory is not an OCI image layout.
    #[error("{}: not an OCI image layout: {why}", path.display())]
    NotALayout {
        /// The directory.
        path: PathBuf,
        /// What is missing or wrong.
        why: String,
    },
    /// A JSON document does not parse or has the wrong shape.
    #[error("{what}: malformed: {why}")]
    Malformed {
        /// The file or blob, as a user would name it.
        what: String,
        /// The parser's reason.
        why: String,
    },
    /// A blob's bytes do not match its descriptor.
    #[error("blob {digest}: {why}")]
    Verify {
        /// The descriptor's digest.
        digest: String,
        /// Size or digest mismatch, or a missing blob.
        why: String,
    },
    /// A tag or reference is not valid.
    #[error("{0}")]
    Reference(String),
    /// The tag names no image, or more than one.
    #[error("{layout}: tag {tag:?} {why}")]
    Tag {
        /// The layout.
        layout: String,
        /// The tag.
        tag: String,
        /// "is not found" or "is ambiguous".
        why: &'static str,
    },
    /// The tag names an index without one manifest for the platform wanted.
    #[error("{layout}: tag {tag:?} {why}")]
    Platform {
        /// The layout.
        layout: String,
        /// The tag.
        tag: String,
        /// Which platform was wanted, and which there are.
        why: String,
    },
}

impl LayoutError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> LayoutError {
        let path = path.into();
        move |error| LayoutError::Io { path, error }
    }
}
