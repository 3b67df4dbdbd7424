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

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};

use cap_std::fs::Dir;
use rustix::fs::{FlockOperation, Mode, OFlags, flock};
use rustix::io::Errno;

use super::LayoutError;
use crate::handle::{self, Owner};

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

/// Block until the index lock of the layout `dir` (at `path`, for messages) is ours.
pub fn lock_index(dir: &Dir, path: &Path, owner: Owner) -> Result<Locked, LayoutError> {
    let (file, path) = open_lock_file(dir, path, LOCK_FILE, owner)?;
    flock(&file, FlockOperation::LockExclusive).map_err(|e| LayoutError::io(&path)(e.into()))?;
    Ok(Locked { _file: file })
}

/// Block until no writer is running in the layout, and keep new ones out until the
/// returned lock is dropped (for garbage collection).
pub fn lock_writers(dir: &Dir, path: &Path, owner: Owner) -> Result<Locked, LayoutError> {
    let (file, lock_path) = open_lock_file(dir, path, WRITERS_LOCK_FILE, owner)?;
    if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
        tracing::info!("waiting for the writers running in {}", path.display());
        flock(&file, FlockOperation::LockExclusive)
            .map_err(|e| LayoutError::io(&lock_path)(e.into()))?;
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
    pub fn acquire(dir: &Dir, path: &Path, owner: Owner) -> Result<Self, LayoutError> {
        let (file, lock_path) = open_lock_file(dir, path, WRITERS_LOCK_FILE, owner)?;
        if flock(&file, FlockOperation::NonBlockingLockShared).is_err() {
            tracing::info!(
                "waiting for a garbage collection of {} to finish",
                path.display()
            );
            flock(&file, FlockOperation::LockShared)
                .map_err(|e| LayoutError::io(&lock_path)(e.into()))?;
        }
        Ok(WriterLock { _file: file })
    }
}

/// Open the lock file `name` of the layout `dir`, creating it if it is missing.
///
/// It is never followed if it is a symlink, and must be a regular file (a fifo or
/// device is refused before anything is opened). A file we create gets `owner` (the
/// layout's, when running as root: else a layout owned by a user gains a file it
/// cannot open); one that exists is only opened, never chowned, chmodded or written.
fn open_lock_file(
    dir: &Dir,
    layout: &Path,
    name: &str,
    owner: Owner,
) -> Result<(File, PathBuf), LayoutError> {
    let path = layout.join(name);
    let err = |e: std::io::Error| LayoutError::io(&path)(e);
    let flags = OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat(
        dir,
        name,
        flags | OFlags::CREATE | OFlags::EXCL,
        Mode::from_raw_mode(0o644),
    ) {
        Ok(fd) => {
            let file = File::from(fd);
            handle::finish(&file, owner).map_err(err)?;
            return Ok((file, path));
        }
        Err(Errno::EXIST) => {}
        Err(e) => return Err(err(e.into())),
    }
    // It exists: what it is is checked before it is opened (O_PATH opens nothing).
    let file = handle::open::open_regular_with(dir, name, OFlags::WRONLY).map_err(err)?;
    Ok((file, path))
}

/// A process's temp directory inside the layout, removed on drop. While it exists its
/// owner holds the layout's [`WriterLock`] (taken before the directory is made,
/// released after it is removed). Files in it are made relative to its handle.
#[derive(Debug)]
pub struct TempArea {
    path: PathBuf,
    name: String,
    dir: Dir,
    layout: Dir,
    _writer: WriterLock,
}

impl TempArea {
    /// Take the writer lock, then create and lock a fresh temp directory in the
    /// layout `dir` (at `path`).
    pub fn create(dir: &Dir, path: &Path, owner: Owner) -> Result<Self, LayoutError> {
        let writer = WriterLock::acquire(dir, path, owner)?;
        let name = loop {
            let name = handle::atomic::random_name(TEMP_PREFIX, 8);
            match rustix::fs::mkdirat(dir, name.as_str(), Mode::from_raw_mode(0o700)) {
                Ok(()) => break name,
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(LayoutError::io(path.join(&name))(e.into())),
            }
        };
        let temp_path = path.join(&name);
        let temp = handle::dir_at(dir, &name).map_err(LayoutError::io(&temp_path))?;
        flock(&temp, FlockOperation::NonBlockingLockExclusive)
            .map_err(|e| LayoutError::io(&temp_path)(e.into()))?;
        let layout = dir.try_clone().map_err(LayoutError::io(path))?;
        Ok(TempArea {
            path: temp_path,
            name,
            dir: temp,
            layout,
            _writer: writer,
        })
    }

    /// The directory, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory's handle.
    pub fn dir(&self) -> &Dir {
        &self.dir
    }
}

impl Drop for TempArea {
    fn drop(&mut self) {
        let _ = handle::remove_tree(&self.layout, OsStr::new(&self.name));
    }
}

/// Whether someone holds the lock on the temp directory `name` of the layout `dir`
/// (it is not followed if it is a symlink, and only a directory can be held).
pub fn temp_in_use(dir: &Dir, name: &OsStr) -> bool {
    let Ok(temp) = handle::dir_at(dir, name) else {
        return false;
    };
    flock(&temp, FlockOperation::NonBlockingLockExclusive).is_err()
}
