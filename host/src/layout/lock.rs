//! Locks and the per-process temp area.
//!
//! Writers of `index.json` take an exclusive `flock` on `<layout>/.repack.lock` for the
//! read-modify-write. Each process keeps its temp files in its own `.umoci-XXXXXXXX`
//! directory, flocked for the process's lifetime: garbage collection (ours, and
//! umoci's) removes such directories only when nobody holds them.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

use super::LayoutError;

/// The lock file serialising `index.json` updates.
pub const LOCK_FILE: &str = ".repack.lock";

/// The prefix of per-process temp directories (shared with umoci, whose `gc` honours
/// the same lock).
pub const TEMP_PREFIX: &str = ".umoci-";

/// An exclusive lock, released on drop.
#[derive(Debug)]
pub struct Locked {
    _file: File,
}

/// Block until the layout's index lock is ours.
pub fn lock_index(layout: &Path) -> Result<Locked, LayoutError> {
    let path = layout.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(LayoutError::io(&path))?;
    // Like every file we add to a layout, the lock file belongs to the layout's owner
    // when we run as root (else a layout owned by a user gains a file it cannot open).
    if rustix::process::geteuid().is_root() {
        let owner = fs::metadata(layout).map_err(LayoutError::io(layout))?;
        rustix::fs::fchown(
            &file,
            Some(rustix::fs::Uid::from_raw(owner.uid())),
            Some(rustix::fs::Gid::from_raw(owner.gid())),
        )
        .map_err(|e| LayoutError::io(&path)(e.into()))?;
    }
    flock(&file, FlockOperation::LockExclusive).map_err(|e| LayoutError::io(&path)(e.into()))?;
    Ok(Locked { _file: file })
}

/// A process's temp directory inside the layout, removed on drop.
#[derive(Debug)]
pub struct TempArea {
    path: PathBuf,
    _lock: File,
}

impl TempArea {
    /// Create and lock a fresh temp directory in `layout`.
    pub fn create(layout: &Path) -> Result<Self, LayoutError> {
        let dir = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .rand_bytes(8)
            .tempdir_in(layout)
            .map_err(LayoutError::io(layout))?;
        let path = dir.keep();
        let lock = File::open(&path).map_err(LayoutError::io(&path))?;
        flock(&lock, FlockOperation::NonBlockingLockExclusive)
            .map_err(|e| LayoutError::io(&path)(e.into()))?;
        Ok(TempArea { path, _lock: lock })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempArea {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Whether someone holds the lock on the temp directory `path`.
pub fn temp_in_use(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    flock(&file, FlockOperation::NonBlockingLockExclusive).is_err()
}
