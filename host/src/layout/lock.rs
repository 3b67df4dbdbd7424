//! Locks and the per-process temp area.
//!
//! Writers of `index.json` take an exclusive `flock` on `<layout>/.repack.lock` for the
//! read-modify-write. Each process keeps its temp files in its own `.umoci-XXXXXXXX`
//! directory, flocked for the process's lifetime: garbage collection (ours, and
//! umoci's) removes such directories only when nobody holds them.
//!
//! A writer's blobs become visible in `blobs/sha256` before the tag that reaches them
//! is written, so a garbage collection running in between would delete them. Writers
//! therefore hold a *shared* `flock` on `<layout>/.repack-writers.lock` for as long as
//! their temp area exists (from before its creation until after its removal), and
//! [`lock_writers`] takes it *exclusive* for the whole collection: a collection waits
//! for the writers running when it starts, and writers starting during one wait for
//! it. Lock order, everywhere: the writers lock, then the index lock. (umoci does not
//! know this lock: its writers and collections are not kept apart from ours.)

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

use super::LayoutError;

/// The lock file serialising `index.json` updates.
pub const LOCK_FILE: &str = ".repack.lock";

/// The lock file keeping garbage collection and writers apart.
pub const WRITERS_LOCK_FILE: &str = ".repack-writers.lock";

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
    let (file, path) = open_lock_file(layout, LOCK_FILE)?;
    flock(&file, FlockOperation::LockExclusive).map_err(|e| LayoutError::io(&path)(e.into()))?;
    Ok(Locked { _file: file })
}

/// Block until no writer is running in the layout, and keep new ones out until the
/// returned lock is dropped (for garbage collection).
pub fn lock_writers(layout: &Path) -> Result<Locked, LayoutError> {
    let (file, path) = open_lock_file(layout, WRITERS_LOCK_FILE)?;
    if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
        tracing::info!("waiting for the writers running in {}", layout.display());
        flock(&file, FlockOperation::LockExclusive)
            .map_err(|e| LayoutError::io(&path)(e.into()))?;
    }
    Ok(Locked { _file: file })
}

/// A writer's shared hold on the layout, released on drop: no garbage collection
/// runs while it is held.
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
}

impl WriterLock {
    /// Block until no garbage collection is running, then hold the layout shared.
    pub fn acquire(layout: &Path) -> Result<Self, LayoutError> {
        let (file, path) = open_lock_file(layout, WRITERS_LOCK_FILE)?;
        if flock(&file, FlockOperation::NonBlockingLockShared).is_err() {
            tracing::info!(
                "waiting for a garbage collection of {} to finish",
                layout.display()
            );
            flock(&file, FlockOperation::LockShared)
                .map_err(|e| LayoutError::io(&path)(e.into()))?;
        }
        Ok(WriterLock { _file: file })
    }
}

/// Open (creating it) the lock file `name` in `layout`.
fn open_lock_file(layout: &Path, name: &str) -> Result<(File, PathBuf), LayoutError> {
    let path = layout.join(name);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(LayoutError::io(&path))?;
    // Like every file we add to a layout, a lock file belongs to the layout's owner
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
    Ok((file, path))
}

/// A process's temp directory inside the layout, removed on drop. While it exists its
/// owner holds the layout's [`WriterLock`] (taken before the directory is made,
/// released after it is removed).
#[derive(Debug)]
pub struct TempArea {
    path: PathBuf,
    _lock: File,
    _writer: WriterLock,
}

impl TempArea {
    /// Take the writer lock, then create and lock a fresh temp directory in `layout`.
    pub fn create(layout: &Path) -> Result<Self, LayoutError> {
        let writer = WriterLock::acquire(layout)?;
        let dir = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .rand_bytes(8)
            .tempdir_in(layout)
            .map_err(LayoutError::io(layout))?;
        let path = dir.keep();
        let lock = File::open(&path).map_err(LayoutError::io(&path))?;
        flock(&lock, FlockOperation::NonBlockingLockExclusive)
            .map_err(|e| LayoutError::io(&path)(e.into()))?;
        Ok(TempArea {
            path,
            _lock: lock,
            _writer: writer,
        })
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
