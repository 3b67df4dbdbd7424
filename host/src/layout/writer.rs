//! Streaming layer blobs: the uncompressed tar is hashed (its diff_id) as it is handed
//! in chunks to a worker thread that compresses it (so compression overlaps with the
//! guest's walk) and writes it to a temp file whose compressed bytes it hashes too.

use std::ffi::OsString;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use sha2::{Digest as _, Sha256};

use cap_std::fs::Dir;

use super::blob::{self, Owner};
use super::lock::TempArea;
use super::pgzip::{Deflate, ParallelGzip};
use super::{Digest, LayoutError};
use crate::handle;

/// Layer compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip ([`gzip_deflate`]: ISA-L's igzip, or libdeflate level [`GZIP_LEVEL`]),
    /// compressed in 128 KiB blocks on every core.
    Gzip,
    /// zstd (level 3), on two threads.
    Zstd,
}

impl Compression {
    /// The layer media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }

    /// The compression a media-type suffix (after `+`) names, if we support it.
    pub fn from_suffix(suffix: &str) -> Option<Self> {
        match suffix {
            "gzip" => Some(Compression::Gzip),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// libdeflate's level for gzip layers in builds without ISA-L: its fastest, about 1.5
/// times level 4's speed and twice level 6's, for layers within 3% of umoci's size (the
/// README's Architecture section has the figures).
pub const GZIP_LEVEL: i32 = 1;

/// What gzip layers are compressed with in this build.
pub fn gzip_deflate() -> Deflate {
    Deflate::for_layers(GZIP_LEVEL)
}

/// Chunks queued between the guest and the compressor.
const QUEUE: usize = 4;

/// Bytes gathered before a chunk goes to the compressor: small writes (a tar header, a
/// small file) are copied together here so the compressor thread wakes once per chunk,
/// not once per write.
const CHUNK: usize = 256 << 10;

/// What a layer blob's compressor has done so far, readable while it works: the
/// bytes it has written, the CPU time of its threads, and the most bytes it may write.
#[derive(Debug)]
pub struct LayerMeter {
    /// Compressed bytes written to the blob so far.
    pub written: AtomicU64,
    /// CPU time of the compressor threads that have ended, in nanoseconds (zstd's own
    /// workers are not among them: their time is counted as the time the compressor
    /// thread spends in the encoder).
    pub cpu_nanos: Arc<AtomicU64>,
    /// Most compressed bytes the blob may have; past it the compressor stops with
    /// [`OverBudget`].
    pub max: AtomicU64,
    /// Whether the compressor stopped at `max`.
    pub hit: AtomicBool,
}

impl Default for LayerMeter {
    fn default() -> Self {
        LayerMeter {
            written: AtomicU64::new(0),
            cpu_nanos: Arc::default(),
            max: AtomicU64::new(u64::MAX),
            hit: AtomicBool::new(false),
        }
    }
}

/// The compressed blob would have grown past [`LayerMeter::max`].
#[derive(Debug, thiserror::Error)]
#[error("the compressed layer would grow past its budget of {0} bytes (max_layer_compressed)")]
pub struct OverBudget(pub u64);

/// A layer blob being written.
pub struct BlobWriter {
    meter: Arc<LayerMeter>,
    size: u64,
    /// The chunk being filled: its first `filled` bytes are not yet handed to the
    /// compressor. Empty until the first byte, then [`CHUNK`] long and initialized, so
    /// files are read straight into it with nothing zeroed first.
    pending: Vec<u8>,
    filled: usize,
    /// Chunks the compressor is done with, to be filled again (their pages stay
    /// mapped and their bytes initialized).
    free: Receiver<Vec<u8>>,
    /// sha256 of the uncompressed stream (the diff_id), taken on the writing thread as
    /// chunks are handed over: it waits for the compressor anyway, whose own thread
    /// has the compressed stream to hash and write.
    diff: Sha256,
    queue: Option<SyncSender<Vec<u8>>>,
    worker: Option<JoinHandle<Result<Compressed, io::Error>>>,
    /// The temp file, for messages.
    path: PathBuf,
    /// Its name in the temp area `dir`.
    name: OsString,
    dir: Dir,
    progress: Option<ProgressBar>,
}

impl std::fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobWriter")
            .field("path", &self.path)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// The compressor's result.
struct Compressed {
    digest: Digest,
    size: u64,
    busy: Duration,
}

/// Why [`BlobWriter::write_from`] failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// Reading the source failed.
    #[error("{0}")]
    Read(io::Error),
    /// The source ended after this many bytes, before the size it was to have.
    #[error("it ended after {0} bytes")]
    Ended(u64),
    /// The layer could not take the bytes.
    #[error("{0}")]
    Layer(String),
}

/// A finished layer blob, still in the temp area.
#[derive(Debug)]
pub struct WrittenBlob {
    /// sha256 of the uncompressed archive.
    pub diff_id: Digest,
    /// Uncompressed size.
    pub uncompressed_size: u64,
    /// sha256 of the blob.
    pub digest: Digest,
    /// Blob size.
    pub size: u64,
    /// The temp file, for messages.
    pub path: PathBuf,
    /// Its name in the process's temp area.
    pub name: OsString,
    /// Time spent compressing (CPU time over all compressor threads; for a plain tar,
    /// the time spent writing it out).
    pub compress_time: Duration,
}

/// Counts and hashes what passes through, and stops at the meter's budget.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    size: u64,
    meter: Arc<LayerMeter>,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let max = self.meter.max.load(Ordering::Relaxed);
        if self.size.saturating_add(buf.len() as u64) > max {
            self.meter.hit.store(true, Ordering::Relaxed);
            return Err(io::Error::other(OverBudget(max)));
        }
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        self.meter.written.store(self.size, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl BlobWriter {
    /// Start a blob in the temp area `temp`.
    pub fn create(
        temp: &TempArea,
        compression: Compression,
        owner: Owner,
        progress: Option<ProgressBar>,
    ) -> Result<Self, LayoutError> {
        let (file, name) = handle::create_temp(temp.dir(), "layer-", blob::FILE_MODE)
            .map_err(LayoutError::io(temp.path()))?;
        let path = temp.path().join(&name);
        let dir = temp
            .dir()
            .try_clone()
            .map_err(LayoutError::io(temp.path()))?;
        let (tx, rx) = sync_channel::<Vec<u8>>(QUEUE);
        let (free_tx, free) = channel::<Vec<u8>>();
        let meter = Arc::new(LayerMeter::default());
        let worker_meter = Arc::clone(&meter);
        let worker = thread::Builder::new()
            .name("repack-compress".into())
            .spawn(move || -> io::Result<Compressed> {
                let cpu = Arc::clone(&worker_meter.cpu_nanos);
                let _cpu = crate::cpu::CountOnExit(&cpu);
                let out = Hashing {
                    inner: BufWriter::with_capacity(64 << 10, file),
                    hash: Sha256::new(),
                    size: 0,
                    meter: worker_meter,
                };
                let (out, busy) = match compression {
                    Compression::None => pump(out, &rx, &free_tx)?,
                    Compression::Gzip => {
                        let threads = thread::available_parallelism().map_or(2, |n| n.get());
                        let deflate = gzip_deflate();
                        tracing::debug!("gzip layer: {}", deflate.describe());
                        let enc = ParallelGzip::counting(out, deflate, threads, Arc::clone(&cpu))?;
                        pump(enc, &rx, &free_tx)?.0.finish()?
                    }
                    Compression::Zstd => {
                        let mut enc = zstd::stream::Encoder::new(out, 3)?;
                        enc.multithread(2)?;
                        let (enc, busy) = pump(enc, &rx, &free_tx)?;
                        let start = Instant::now();
                        let busy = busy + start.elapsed();
                        let out = enc.finish()?;
                        // zstd's workers are not ours to measure: count the time the
                        // encoder took, less what this thread's own clock counts.
                        let own = crate::cpu::thread_time();
                        let extra = busy.saturating_sub(own);
                        cpu.fetch_add(
                            u64::try_from(extra.as_nanos()).unwrap_or(0),
                            Ordering::Relaxed,
                        );
                        (out, busy)
                    }
                };
                let Hashing {
                    inner, hash, size, ..
                } = out;
                let file = inner.into_inner().map_err(|e| e.into_error())?;
                handle::finish(&file, owner)?;
                Ok(Compressed {
                    digest: Digest::from_raw(&hash.finalize()),
                    size,
                    busy,
                })
            })
            .map_err(LayoutError::io(&path))?;
        Ok(BlobWriter {
            meter,
            size: 0,
            pending: Vec::new(),
            filled: 0,
            free,
            diff: Sha256::new(),
            queue: Some(tx),
            worker: Some(worker),
            path,
            name,
            dir,
            progress,
        })
    }

    /// The compressor's progress, shared with it.
    pub fn meter(&self) -> Arc<LayerMeter> {
        Arc::clone(&self.meter)
    }

    /// Stop the compressor with [`OverBudget`] before the blob grows past `max` bytes.
    pub fn limit_compressed(&self, max: u64) {
        self.meter.max.store(max, Ordering::Relaxed);
    }

    /// Uncompressed bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Append uncompressed bytes.
    pub fn write(&mut self, bytes: Vec<u8>) -> Result<(), String> {
        self.count(bytes.len() as u64);
        if self.filled == 0 && bytes.len() >= CHUNK {
            return self.send(bytes);
        }
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let room = self.room();
            let (now, later) = rest.split_at(room.len().min(rest.len()));
            room[..now.len()].copy_from_slice(now);
            self.filled += now.len();
            rest = later;
            if self.filled == CHUNK {
                self.send_pending()?;
            }
        }
        Ok(())
    }

    /// Append exactly `size` bytes read from `src`, straight into the chunks the
    /// compressor gets. Returns the time spent reading.
    pub fn write_from(&mut self, src: &mut impl Read, size: u64) -> Result<Duration, CopyError> {
        let mut reading = Duration::ZERO;
        let mut left = size;
        while left > 0 {
            let room = self.room();
            let want = room.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let start = Instant::now();
            let got = read_up_to(src, &mut room[..want]).map_err(CopyError::Read)?;
            reading += start.elapsed();
            self.filled += got;
            self.count(got as u64);
            left -= got as u64;
            if got < want {
                return Err(CopyError::Ended(size - left));
            }
            if self.filled == CHUNK {
                self.send_pending().map_err(CopyError::Layer)?;
            }
        }
        Ok(reading)
    }

    /// The unfilled rest of the chunk being filled, taking a chunk the compressor gave
    /// back (or a new one) when none is.
    fn room(&mut self) -> &mut [u8] {
        if self.pending.len() != CHUNK {
            let mut chunk = self.free.try_recv().unwrap_or_default();
            // A chunk comes back as long as it was sent: only a short last one, or a
            // new one, has bytes to initialize.
            chunk.resize(CHUNK, 0);
            self.pending = chunk;
        }
        &mut self.pending[self.filled..]
    }

    fn count(&mut self, n: u64) {
        self.size += n;
        if let Some(p) = &self.progress {
            p.inc(n);
        }
    }

    /// Hand the gathered bytes to the compressor.
    fn send_pending(&mut self) -> Result<(), String> {
        if self.filled == 0 {
            return Ok(());
        }
        let mut full = std::mem::take(&mut self.pending);
        full.truncate(self.filled);
        self.filled = 0;
        self.send(full)
    }

    fn send(&mut self, chunk: Vec<u8>) -> Result<(), String> {
        self.diff.update(&chunk);
        let queue = self.queue.as_ref().ok_or("the layer is already finished")?;
        if queue.send(chunk).is_err() {
            // The worker stopped: say why.
            return Err(match self.stop() {
                Err(e) => format!("writing layer blob {}: {e}", self.path.display()),
                Ok(_) => "the compressor stopped".into(),
            });
        }
        Ok(())
    }

    fn stop(&mut self) -> Result<Compressed, io::Error> {
        self.queue = None;
        let worker = self
            .worker
            .take()
            .ok_or_else(|| io::Error::other("the layer is already finished"))?;
        match worker.join() {
            Ok(result) => result,
            Err(_) => Err(io::Error::other("the compressor thread panicked")),
        }
    }

    /// Finish compressing and flush the blob to disk.
    pub fn finish(mut self) -> Result<WrittenBlob, LayoutError> {
        if let Err(e) = self.send_pending() {
            // The compressor stopped at the budget: keep the reason's type, which
            // tells the budget apart from other failures.
            if self.meter.hit.load(std::sync::atomic::Ordering::Relaxed) {
                let max = self.meter.max.load(std::sync::atomic::Ordering::Relaxed);
                return Err(LayoutError::io(&self.path)(io::Error::other(OverBudget(
                    max,
                ))));
            }
            return Err(LayoutError::io(&self.path)(io::Error::other(e)));
        }
        let compressed = self.stop().map_err(LayoutError::io(&self.path))?;
        Ok(WrittenBlob {
            diff_id: Digest::from_raw(&std::mem::take(&mut self.diff).finalize()),
            uncompressed_size: self.size,
            digest: compressed.digest,
            size: compressed.size,
            path: std::mem::take(&mut self.path),
            name: std::mem::take(&mut self.name),
            compress_time: compressed.busy,
        })
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.worker.is_some() {
            let _ = self.stop();
        }
        if !self.name.is_empty() {
            let _ = rustix::fs::unlinkat(&self.dir, &self.name, rustix::fs::AtFlags::empty());
        }
    }
}

/// Feed every queued chunk into `w`; return `w` and the time spent writing.
fn pump<W: Write>(
    mut w: W,
    rx: &Receiver<Vec<u8>>,
    free: &Sender<Vec<u8>>,
) -> io::Result<(W, Duration)> {
    let mut busy = Duration::ZERO;
    for chunk in rx {
        let start = Instant::now();
        w.write_all(&chunk)?;
        busy += start.elapsed();
        // The writer may be gone (failed); the chunk is then simply freed.
        let _ = free.send(chunk);
    }
    Ok((w, busy))
}

/// Read from `src` until `buf` is full or `src` ends; the bytes read.
fn read_up_to(src: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match src.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
