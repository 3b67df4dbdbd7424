//! The `repack:bundle/fs` imports, served from capability handles in the job's table.

use std::io::Read;

use cap_std::fs::File;
use wasmtime::component::Resource;

use super::JobState;
use crate::bindings::fs::{self, Entry, Error, Host, HostDir, HostFile};
use crate::capability::{CapDir, CapError, Kind, Metadata};

/// The most bytes one `file.read` call hands out.
pub const MAX_READ: u32 = 4 << 20;

type Wit<T> = wasmtime::Result<Result<T, Error>>;

impl From<CapError> for Error {
    fn from(e: CapError) -> Self {
        match e {
            CapError::NotFound => Error::NotFound,
            CapError::EscapesRoot => Error::EscapesRoot,
            CapError::PermissionDenied => Error::PermissionDenied,
            CapError::NotSupported => Error::NotSupported,
            other => Error::Io(other.to_string()),
        }
    }
}

impl From<Metadata> for fs::Metadata {
    fn from(m: Metadata) -> Self {
        fs::Metadata {
            kind: match m.kind {
                Kind::Regular => fs::Kind::Regular,
                Kind::Directory => fs::Kind::Directory,
                Kind::Symlink => fs::Kind::Symlink,
                Kind::Fifo => fs::Kind::Fifo,
                Kind::Socket => fs::Kind::Socket,
                Kind::CharDevice => fs::Kind::CharDevice,
                Kind::BlockDevice => fs::Kind::BlockDevice,
            },
            mode: m.mode,
            uid: m.uid,
            gid: m.gid,
            size: m.size,
            mtime_sec: m.mtime_sec,
            mtime_nsec: m.mtime_nsec,
            ctime_sec: m.ctime_sec,
            ctime_nsec: m.ctime_nsec,
            ino: m.ino,
            nlink: m.nlink,
            rdev_major: m.rdev_major,
            rdev_minor: m.rdev_minor,
        }
    }
}

impl JobState {
    /// Run `f` on the directory behind `dir`; a stale handle traps.
    fn with_dir<T, U>(
        &mut self,
        dir: &Resource<CapDir>,
        f: impl FnOnce(&CapDir) -> Result<T, CapError>,
        map: impl FnOnce(T) -> U,
    ) -> Wit<U> {
        let dir = self.table.get(dir)?;
        Ok(f(dir).map(map).map_err(Error::from))
    }
}

impl Host for JobState {}

impl HostDir for JobState {
    fn metadata(&mut self, dir: Resource<CapDir>, path: Vec<u8>) -> Wit<fs::Metadata> {
        self.with_dir(&dir, |d| d.metadata(&path), Into::into)
    }

    fn read_dir(&mut self, dir: Resource<CapDir>, path: Vec<u8>) -> Wit<Vec<Entry>> {
        self.with_dir(
            &dir,
            |d| d.read_dir(&path),
            |entries| {
                entries
                    .into_iter()
                    .map(|e| Entry {
                        name: e.name,
                        meta: e.meta.into(),
                    })
                    .collect()
            },
        )
    }

    fn read_link(&mut self, dir: Resource<CapDir>, path: Vec<u8>) -> Wit<Vec<u8>> {
        self.with_dir(&dir, |d| d.read_link(&path), |t| t)
    }

    fn xattrs(&mut self, dir: Resource<CapDir>, path: Vec<u8>) -> Wit<Vec<(Vec<u8>, Vec<u8>)>> {
        self.with_dir(&dir, |d| d.xattrs(&path), |x| x)
    }

    fn open_read(&mut self, dir: Resource<CapDir>, path: Vec<u8>) -> Wit<Resource<File>> {
        let opened = self.table.get(&dir)?.open_read(&path);
        Ok(match opened {
            Ok(file) => Ok(self.table.push(file)?),
            Err(e) => Err(e.into()),
        })
    }

    fn digest(&mut self, dir: Resource<CapDir>, path: Vec<u8>) -> Wit<Vec<u8>> {
        self.with_dir(&dir, |d| d.digest(&path), |h| h.to_vec())
    }

    fn drop(&mut self, dir: Resource<CapDir>) -> wasmtime::Result<()> {
        self.table.delete(dir)?;
        Ok(())
    }
}

impl HostFile for JobState {
    fn read(&mut self, file: Resource<File>, max: u32) -> Wit<Vec<u8>> {
        let file = self.table.get_mut(&file)?;
        let mut buf = vec![0u8; max.min(MAX_READ) as usize];
        Ok(match file.read(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                Ok(buf)
            }
            Err(e) => Err(CapError::from(e).into()),
        })
    }

    fn drop(&mut self, file: Resource<File>) -> wasmtime::Result<()> {
        self.table.delete(file)?;
        Ok(())
    }
}
