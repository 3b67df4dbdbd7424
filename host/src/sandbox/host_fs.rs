//! The `repack:bundle/fs` imports, served from capability handles in the job's table.

use std::io::Read;
use std::time::{Duration, Instant};

use cap_std::fs::File;
use wasmtime::component::Resource;

use super::handles::HandleKind;
use super::hasher::Hasher;
use super::{Budget, JobState, TextSink};
use crate::bindings::blobs::{self, HostBlobWriter, WriteFileError};
use crate::bindings::fs::{self, Entry, Error, Host, HostDir, HostFile, Kind, Timestamp};
use crate::capability::{self, CapDir, CapError, FileWriter};
use crate::layout::{BlobReader, BlobWriter, CopyError};
use crate::stats::CallKind::{self, Hash, Read as Reading, Walk, Write as Writing};

/// The most bytes one `file.read` call hands out.
pub const MAX_READ: u32 = 4 << 20;

type Wit<T> = wasmtime::Result<Result<T, Error>>;

/// A directory entry with its extended attributes.
type Listed = (Entry, Vec<(Vec<u8>, Vec<u8>)>);

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

impl From<capability::Kind> for Kind {
    fn from(k: capability::Kind) -> Self {
        match k {
            capability::Kind::Regular => Kind::Regular,
            capability::Kind::Directory => Kind::Directory,
            capability::Kind::Symlink => Kind::Symlink,
            capability::Kind::Fifo => Kind::Fifo,
            capability::Kind::Socket => Kind::Socket,
            capability::Kind::CharDevice => Kind::CharDevice,
            capability::Kind::BlockDevice => Kind::BlockDevice,
        }
    }
}

impl From<Kind> for capability::Kind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Regular => capability::Kind::Regular,
            Kind::Directory => capability::Kind::Directory,
            Kind::Symlink => capability::Kind::Symlink,
            Kind::Fifo => capability::Kind::Fifo,
            Kind::Socket => capability::Kind::Socket,
            Kind::CharDevice => capability::Kind::CharDevice,
            Kind::BlockDevice => capability::Kind::BlockDevice,
        }
    }
}

impl From<capability::Metadata> for fs::Metadata {
    fn from(m: capability::Metadata) -> Self {
        fs::Metadata {
            kind: m.kind.into(),
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

impl From<capability::Entry> for Entry {
    fn from(e: capability::Entry) -> Self {
        Entry {
            name: e.name,
            meta: e.meta.into(),
        }
    }
}

impl JobState {
    /// Run `f` on the directory behind `dir`, counted as a call of `kind`; a stale
    /// handle traps.
    fn with_dir<T>(
        &mut self,
        kind: CallKind,
        dir: &Resource<CapDir>,
        f: impl FnOnce(&CapDir) -> Result<T, CapError>,
    ) -> Wit<T> {
        self.check_deadline()?;
        let start = Instant::now();
        let dir = self.table.get(dir)?;
        let result = f(dir).map_err(Error::from);
        self.calls.of(kind).add(start, 0);
        Ok(result)
    }
}

impl JobState {
    /// Count `n` bytes read for the guest against [`super::Limits::max_read`]; past
    /// it the guest stops.
    fn count_read(&mut self, n: u64) -> wasmtime::Result<()> {
        let total = self.read.saturating_add(n);
        if total > self.limits.max_read {
            return Err(self.stop(Budget::Read));
        }
        self.read = total;
        Ok(())
    }

    /// Put a handle counted as `kind` in the table, or uncount it if it was not made.
    fn push_counted<T: Send + 'static>(
        &mut self,
        kind: HandleKind,
        made: Result<T, CapError>,
    ) -> Wit<Resource<T>> {
        match made {
            Ok(item) => Ok(Ok(self.table.push(item)?)),
            Err(e) => {
                self.handles.close(kind);
                Ok(Err(e.into()))
            }
        }
    }
}

impl Host for JobState {}

impl HostDir for JobState {
    fn metadata(&mut self, dir: Resource<CapDir>, path: Vec<u8>) -> Wit<fs::Metadata> {
        self.with_dir(Walk, &dir, |d| d.metadata(&path).map(fs::Metadata::from))
    }

    fn read_dir(&mut self, dir: Resource<CapDir>, path: Vec<u8>) -> Wit<Vec<Entry>> {
        self.with_dir(Walk, &dir, |d| {
            Ok(d.read_dir(&path)?.into_iter().map(Entry::from).collect())
        })
    }

    fn read_dir_xattrs(&mut self, dir: Resource<CapDir>, path: Vec<u8>) -> Wit<Vec<Listed>> {
        self.with_dir(Walk, &dir, |d| {
            let listed = d.read_dir_xattrs(&path)?;
            Ok(listed.into_iter().map(|(e, x)| (e.into(), x)).collect())
        })
    }

    fn read_link(&mut self, dir: Resource<CapDir>, path: Vec<u8>) -> Wit<Vec<u8>> {
        self.with_dir(Walk, &dir, |d| d.read_link(&path))
    }

    fn xattrs(&mut self, dir: Resource<CapDir>, path: Vec<u8>) -> Wit<Vec<(Vec<u8>, Vec<u8>)>> {
        self.with_dir(Walk, &dir, |d| d.xattrs(&path))
    }

    fn open_read(&mut self, dir: Resource<CapDir>, path: Vec<u8>) -> Wit<Resource<File>> {
        self.check_deadline()?;
        let start = Instant::now();
        if let Err(e) = self.handles.open(HandleKind::File)? {
            return Ok(Err(Error::Io(e)));
        }
        let opened = self.table.get(&dir)?.open_read(&path);
        self.calls.of(Reading).add(start, 0);
        self.push_counted(HandleKind::File, opened)
    }

    fn digest(&mut self, dir: Resource<CapDir>, path: Vec<u8>) -> Wit<Vec<u8>> {
        // A file this job wrote was hashed as it was written.
        self.check_deadline()?;
        let start = Instant::now();
        if let Ok(Some(digest)) = self.table.get(&dir)?.written_digest(&path) {
            self.calls.of(Hash).add(start, 0);
            return Ok(Ok(digest.to_vec()));
        }
        // The host reads the whole file for the guest: counted before it does.
        if let Ok(meta) = self.table.get(&dir)?.metadata(&path) {
            self.count_read(meta.size)?;
        }
        self.with_dir(Hash, &dir, |d| d.digest_contents(&path).map(|h| h.to_vec()))
    }

    fn create_file(
        &mut self,
        dir: Resource<CapDir>,
        path: Vec<u8>,
        mode: u32,
    ) -> Wit<Resource<FileWriter>> {
        self.check_deadline()?;
        let start = Instant::now();
        if let Err(e) = self.handles.open(HandleKind::FileWriter)? {
            return Ok(Err(Error::Io(e)));
        }
        let created = self.table.get(&dir)?.create_file(&path, mode);
        self.calls.of(Writing).add(start, 0);
        self.push_counted(HandleKind::FileWriter, created)
    }

    fn create(
        &mut self,
        dir: Resource<CapDir>,
        objects: Vec<fs::NewObject>,
    ) -> wasmtime::Result<Result<Vec<fs::XattrRefused>, (u32, Error)>> {
        self.check_deadline()?;
        let start = Instant::now();
        let d = self.table.get(&dir)?;
        let mut refused = Vec::new();
        let mut bytes = 0;
        let mut outcome = Ok(());
        for (index, object) in objects.iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            let kind = match &object.kind {
                fs::NewKind::Regular(contents) => {
                    bytes += contents.len();
                    capability::NewKind::Regular(contents)
                }
                fs::NewKind::Directory => capability::NewKind::Directory,
                fs::NewKind::Symlink(target) => capability::NewKind::Symlink(target),
            };
            let a = &object.attributes;
            let t = |t: &Timestamp| (t.seconds, t.nanoseconds);
            let attributes = capability::Attributes {
                owner: a.owner,
                mode: a.mode,
                xattrs: &a.xattrs,
                mtime: t(&a.mtime),
                atime: a.atime.as_ref().map(t),
            };
            match d.create(&object.path, kind, &attributes) {
                Ok(names) => refused.extend(names.into_iter().map(|(name, e)| fs::XattrRefused {
                    index,
                    name,
                    error: e.into(),
                })),
                Err(e) => {
                    outcome = Err((index, e.into()));
                    break;
                }
            }
        }
        self.calls.of(Writing).add(start, bytes);
        Ok(outcome.map(|()| refused))
    }

    fn mkdir(&mut self, dir: Resource<CapDir>, path: Vec<u8>, mode: u32) -> Wit<()> {
        self.with_dir(Writing, &dir, |d| d.mkdir(&path, mode))
    }

    fn symlink(&mut self, dir: Resource<CapDir>, path: Vec<u8>, target: Vec<u8>) -> Wit<()> {
        self.with_dir(Writing, &dir, |d| d.symlink(&path, &target))
    }

    fn hard_link(&mut self, dir: Resource<CapDir>, path: Vec<u8>, target: Vec<u8>) -> Wit<()> {
        self.with_dir(Writing, &dir, |d| d.hard_link(&path, &target))
    }

    fn mknod(
        &mut self,
        dir: Resource<CapDir>,
        path: Vec<u8>,
        kind: Kind,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> Wit<()> {
        self.with_dir(Writing, &dir, |d| {
            d.mknod(&path, kind.into(), mode, major, minor)
        })
    }

    fn set_owner(&mut self, dir: Resource<CapDir>, path: Vec<u8>, uid: u32, gid: u32) -> Wit<()> {
        self.with_dir(Writing, &dir, |d| d.set_owner(&path, uid, gid))
    }

    fn set_mode(&mut self, dir: Resource<CapDir>, path: Vec<u8>, mode: u32) -> Wit<()> {
        self.with_dir(Writing, &dir, |d| d.set_mode(&path, mode))
    }

    fn set_times(
        &mut self,
        dir: Resource<CapDir>,
        path: Vec<u8>,
        mtime: Timestamp,
        atime: Option<Timestamp>,
    ) -> Wit<()> {
        let t = |t: Timestamp| (t.seconds, t.nanoseconds);
        self.with_dir(Writing, &dir, |d| {
            d.set_times(&path, t(mtime), atime.map(t))
        })
    }

    fn set_xattr(
        &mut self,
        dir: Resource<CapDir>,
        path: Vec<u8>,
        name: Vec<u8>,
        value: Vec<u8>,
    ) -> Wit<()> {
        self.with_dir(Writing, &dir, |d| d.set_xattr(&path, &name, &value))
    }

    fn remove_xattr(&mut self, dir: Resource<CapDir>, path: Vec<u8>, name: Vec<u8>) -> Wit<()> {
        self.with_dir(Writing, &dir, |d| d.remove_xattr(&path, &name))
    }

    fn remove(&mut self, dir: Resource<CapDir>, path: Vec<u8>) -> Wit<()> {
        self.with_dir(Writing, &dir, |d| d.remove(&path))
    }

    fn drop(&mut self, dir: Resource<CapDir>) -> wasmtime::Result<()> {
        self.table.delete(dir)?;
        Ok(())
    }
}

impl HostFile for JobState {
    fn read(&mut self, file: Resource<File>, max: u32) -> Wit<Vec<u8>> {
        self.check_deadline()?;
        let start = Instant::now();
        let file = self.table.get_mut(&file)?;
        let mut buf = vec![0u8; max.min(MAX_READ) as usize];
        let result = match file.read(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                Ok(buf)
            }
            Err(e) => Err(CapError::from(e).into()),
        };
        let n = result.as_ref().map_or(0, Vec::len);
        self.calls.of(Reading).add(start, n);
        self.count_read(n as u64)?;
        Ok(result)
    }

    fn drop(&mut self, file: Resource<File>) -> wasmtime::Result<()> {
        self.table.delete(file)?;
        self.handles.close(HandleKind::File);
        Ok(())
    }
}

impl blobs::Host for JobState {}

impl HostBlobWriter for JobState {
    fn write(&mut self, writer: Resource<BlobWriter>, bytes: Vec<u8>) -> Wit<()> {
        self.check_deadline()?;
        let start = Instant::now();
        let n = bytes.len();
        let max = self.limits.max_layer_written;
        let writer = self.table.get_mut(&writer)?;
        if writer.size().saturating_add(n as u64) > max {
            return Err(self.stop(Budget::LayerWritten));
        }
        let result = writer.write(bytes).map_err(Error::Io);
        let compressed_hit = writer
            .meter()
            .hit
            .load(std::sync::atomic::Ordering::Relaxed);
        self.calls.of(CallKind::Layer).add(start, n);
        if result.is_err() && compressed_hit {
            return Err(self.stop(Budget::LayerCompressed));
        }
        Ok(result)
    }

    fn write_file(
        &mut self,
        writer: Resource<BlobWriter>,
        dir: Resource<CapDir>,
        path: Vec<u8>,
        size: u64,
    ) -> wasmtime::Result<Result<fs::Metadata, WriteFileError>> {
        self.check_deadline()?;
        let start = Instant::now();
        if let Err(e) = self.handles.open(HandleKind::File)? {
            return Ok(Err(WriteFileError::File(Error::Io(e))));
        }
        let copied = self.copy_file(&writer, &dir, &path, size, start);
        self.handles.close(HandleKind::File);
        copied
    }

    fn drop(&mut self, writer: Resource<BlobWriter>) -> wasmtime::Result<()> {
        // The host granted the writer and takes it back after the call; a guest-side
        // drop of a borrowed handle never reaches here, an owned one ends the stream.
        self.table.delete(writer)?;
        Ok(())
    }
}

impl JobState {
    /// `blob-writer.write-file` once its descriptor is counted: open, check the size,
    /// count the bytes against the budgets, copy, `fstat`.
    fn copy_file(
        &mut self,
        writer: &Resource<BlobWriter>,
        dir: &Resource<CapDir>,
        path: &[u8],
        size: u64,
        start: Instant,
    ) -> wasmtime::Result<Result<fs::Metadata, WriteFileError>> {
        use WriteFileError::{File as FileError, Layer as LayerError};
        let opened = self.table.get(dir)?.open_read(path).and_then(|file| {
            let meta = capability::file_metadata(&file)?;
            Ok((file, meta))
        });
        let (mut file, meta) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                self.calls.of(Reading).add(start, 0);
                return Ok(Err(FileError(e.into())));
            }
        };
        if meta.size != size {
            self.calls.of(Reading).add(start, 0);
            return Ok(Err(FileError(Error::Io(format!(
                "it is {} bytes long, not the {size} expected",
                meta.size
            )))));
        }
        let max = self.limits.max_layer_written;
        if self.table.get(writer)?.size().saturating_add(size) > max {
            return Err(self.stop(Budget::LayerWritten));
        }
        self.count_read(size)?;
        let opening = start.elapsed();
        let blob = self.table.get_mut(writer)?;
        let copied = blob.write_from(&mut file, size);
        let compressed_hit = blob.meter().hit.load(std::sync::atomic::Ordering::Relaxed);
        let reading = opening + copied.as_ref().map_or(Duration::ZERO, |d| *d);
        self.calls.of(Reading).add_spent(reading, size);
        let rest = start.elapsed().saturating_sub(reading);
        self.calls.of(CallKind::Layer).add_spent(rest, size);
        match copied {
            Err(CopyError::Layer(_)) if compressed_hit => Err(self.stop(Budget::LayerCompressed)),
            Err(CopyError::Layer(e)) => Ok(Err(LayerError(Error::Io(e)))),
            Err(CopyError::Read(e)) => Ok(Err(FileError(CapError::from(e).into()))),
            Err(e @ CopyError::Ended(_)) => Ok(Err(FileError(Error::Io(e.to_string())))),
            Ok(_) => Ok(capability::file_metadata(&file)
                .map(fs::Metadata::from)
                .map_err(|e| FileError(CapError::from(e).into()))),
        }
    }
}

impl blobs::HostBlobReader for JobState {
    fn read(&mut self, reader: Resource<BlobReader>, max: u32) -> Wit<Vec<u8>> {
        self.check_deadline()?;
        let start = Instant::now();
        let reader = self.table.get_mut(&reader)?;
        let result = reader.read(max.min(MAX_READ) as usize).map_err(Error::Io);
        let n = result.as_ref().map_or(0, Vec::len);
        self.calls.of(Reading).add(start, n);
        self.count_read(n as u64)?;
        Ok(result)
    }

    fn drop(&mut self, reader: Resource<BlobReader>) -> wasmtime::Result<()> {
        self.table.delete(reader)?;
        Ok(())
    }
}

impl fs::HostFileWriter for JobState {
    fn write(&mut self, file: Resource<FileWriter>, bytes: Vec<u8>) -> Wit<()> {
        self.check_deadline()?;
        let start = Instant::now();
        let file = self.table.get_mut(&file)?;
        let result = file.write(&bytes).map_err(Error::from);
        self.calls.of(Writing).add(start, bytes.len());
        Ok(result)
    }

    fn skip(&mut self, file: Resource<FileWriter>, len: u64) -> Wit<()> {
        self.check_deadline()?;
        let start = Instant::now();
        let result = self.table.get_mut(&file)?.skip(len).map_err(Error::from);
        self.calls.of(Writing).add(start, 0);
        Ok(result)
    }

    fn drop(&mut self, file: Resource<FileWriter>) -> wasmtime::Result<()> {
        let file = self.table.delete(file)?;
        self.handles.close(HandleKind::FileWriter);
        // Recording the digest is an optimisation: a file it fails for is hashed later.
        if let Err(e) = file.finish() {
            tracing::debug!("digest of a written file not kept: {e}");
        }
        Ok(())
    }
}

impl blobs::HostHasher for JobState {
    fn new(&mut self) -> wasmtime::Result<Resource<Hasher>> {
        // Hashers hold no descriptor: only the job's own limit applies.
        self.handles
            .open(HandleKind::Hasher)?
            .map_err(wasmtime::Error::msg)?;
        let cpu = std::sync::Arc::clone(&self.hashing_cpu);
        Ok(self.table.push(Hasher::counting(cpu))?)
    }

    fn update(&mut self, hasher: Resource<Hasher>, bytes: Vec<u8>) -> wasmtime::Result<()> {
        self.check_deadline()?;
        let start = Instant::now();
        let n = bytes.len();
        self.table.get_mut(&hasher)?.update(bytes);
        self.calls.of(Hash).add(start, n);
        Ok(())
    }

    fn finish(&mut self, hasher: Resource<Hasher>) -> wasmtime::Result<Vec<u8>> {
        Ok(self.table.get_mut(&hasher)?.finish().to_vec())
    }

    fn drop(&mut self, hasher: Resource<Hasher>) -> wasmtime::Result<()> {
        self.table.delete(hasher)?;
        self.handles.close(HandleKind::Hasher);
        Ok(())
    }
}

impl blobs::HostTextWriter for JobState {
    fn write(&mut self, writer: Resource<TextSink>, text: String) -> Wit<()> {
        self.check_deadline()?;
        let start = Instant::now();
        let n = text.len();
        let max = self.limits.max_layer_written;
        let sink = self.table.get_mut(&writer)?;
        // A manifest counts against the same budget as a layer's archive.
        if sink.written().saturating_add(n as u64) > max {
            return Err(self.stop(Budget::LayerWritten));
        }
        sink.push(&text);
        self.calls.of(CallKind::Layer).add(start, n);
        Ok(Ok(()))
    }

    fn drop(&mut self, writer: Resource<TextSink>) -> wasmtime::Result<()> {
        self.table.delete(writer)?;
        Ok(())
    }
}
