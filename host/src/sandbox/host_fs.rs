//! The `repack:bundle/fs` imports, served from capability handles in the job's table.

use std::io::Read;

use cap_std::fs::File;
use wasmtime::component::Resource;

use super::JobState;
use crate::bindings::blobs::{self, HostBlobWriter};
use crate::bindings::fs::{self, Entry, Error, Host, HostDir, HostFile};
use crate::capability::{CapDir, CapError};
use crate::layout::BlobWriter;

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

impl JobState {
    /// Run `f` on the directory behind `dir`; a stale handle traps.
    fn with_dir<T>(
        &mut self,
        dir: &Resource<CapDir>,
        f: impl FnOnce(&CapDir) -> Result<T, CapError>,
    ) -> Wit<T> {
        let dir = self.table.get(dir)?;
        Ok(f(dir).map_err(Error::from))
    }
}

impl Host for JobState {}

impl HostDir for JobState {
    fn metadata(&mut self, dir: Resource<CapDir>, path: Vec<u8>) -> Wit<fs::Metadata> {
        self.with_dir(&dir, |d| d.metadata(&path))
    }

    fn read_dir(&mut self, dir: Resource<CapDir>, path: Vec<u8>) -> Wit<Vec<Entry>> {
        self.with_dir(&dir, |d| d.read_dir(&path))
    }

    fn read_link(&mut self, dir: Resource<CapDir>, path: Vec<u8>) -> Wit<Vec<u8>> {
        self.with_dir(&dir, |d| d.read_link(&path))
    }

    fn xattrs(&mut self, dir: Resource<CapDir>, path: Vec<u8>) -> Wit<Vec<(Vec<u8>, Vec<u8>)>> {
        self.with_dir(&dir, |d| d.xattrs(&path))
    }

    fn open_read(&mut self, dir: Resource<CapDir>, path: Vec<u8>) -> Wit<Resource<File>> {
        let opened = self.table.get(&dir)?.open_read(&path);
        Ok(match opened {
            Ok(file) => Ok(self.table.push(file)?),
            Err(e) => Err(e.into()),
        })
    }

    fn digest(&mut self, dir: Resource<CapDir>, path: Vec<u8>) -> Wit<Vec<u8>> {
        self.with_dir(&dir, |d| d.digest(&path).map(|h| h.to_vec()))
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

impl blobs::Host for JobState {}

impl HostBlobWriter for JobState {
    fn write(&mut self, writer: Resource<BlobWriter>, bytes: Vec<u8>) -> Wit<()> {
        let writer = self.table.get_mut(&writer)?;
        Ok(writer.write(bytes).map_err(Error::Io))
    }

    fn drop(&mut self, writer: Resource<BlobWriter>) -> wasmtime::Result<()> {
        // The host granted the writer and takes it back after the call; a guest-side
        // drop of a borrowed handle never reaches here, an owned one ends the stream.
        self.table.delete(writer)?;
        Ok(())
    }
}
