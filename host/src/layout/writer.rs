//! Streaming layer blobs: the uncompressed tar is hashed (its diff_id) as it arrives,
//! compressed on a worker thread (so compression overlaps with the guest's walk) and
//! written to a temp file whose compressed bytes are hashed too.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use sha2::{Digest as _, Sha256};

use super::blob::{self, Owner};
use super::pgzip::ParallelGzip;
use super::{Digest, LayoutError};

/// Layer compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip (libdeflate level [`GZIP_LEVEL`]), compressed in 256 KiB blocks on every core.
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

/// libdeflate's level for gzip layers: faster than the default level 6, for layers
/// still smaller than umoci's (the README's Architecture section has the figures).
pub const GZIP_LEVEL: u32 = 4;

/// Chunks queued between the guest and the compressor (the guest sends 64 KiB ones).
const QUEUE: usize = 4;

/// A layer blob being written.
pub struct BlobWriter {
    diff: Sha256,
    size: u64,
    queue: Option<SyncSender<Vec<u8>>>,
    worker: Option<JoinHandle<Result<Compressed, io::Error>>>,
    path: PathBuf,
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
    /// The temp file.
    pub path: PathBuf,
    /// Time spent compressing (CPU time over all compressor threads; for a plain tar,
    /// the time spent writing it out).
    pub compress_time: Duration,
}

/// Counts and hashes what passes through.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    size: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl BlobWriter {
    /// Start a blob in the temp directory `temp`.
    pub fn create(
        temp: &Path,
        compression: Compression,
        owner: Owner,
        progress: Option<ProgressBar>,
    ) -> Result<Self, LayoutError> {
        let (file, path) = tempfile::Builder::new()
            .prefix("layer-")
            .tempfile_in(temp)
            .map_err(LayoutError::io(temp))?
            .keep()
            .map_err(|e| LayoutError::io(temp)(e.error))?;
        let (tx, rx) = sync_channel::<Vec<u8>>(QUEUE);
        let worker_path = path.clone();
        let worker = thread::Builder::new()
            .name("repack-compress".into())
            .spawn(move || -> io::Result<Compressed> {
                let out = Hashing {
                    inner: BufWriter::with_capacity(64 << 10, file),
                    hash: Sha256::new(),
                    size: 0,
                };
                let (out, busy) = match compression {
                    Compression::None => pump(out, &rx)?,
                    Compression::Gzip => {
                        let threads = thread::available_parallelism().map_or(2, |n| n.get());
                        let enc =
                            ParallelGzip::new(out, flate2::Compression::new(GZIP_LEVEL), threads)?;
                        pump(enc, &rx)?.0.finish()?
                    }
                    Compression::Zstd => {
                        let mut enc = zstd::stream::Encoder::new(out, 3)?;
                        enc.multithread(2)?;
                        let (enc, busy) = pump(enc, &rx)?;
                        let start = Instant::now();
                        (enc.finish()?, busy + start.elapsed())
                    }
                };
                let Hashing { inner, hash, size } = out;
                let file = inner.into_inner().map_err(|e| e.into_error())?;
                blob::finish_file(&file, &worker_path, owner).map_err(|e| match e {
                    LayoutError::Io { error, .. } => error,
                    other => io::Error::other(other.to_string()),
                })?;
                Ok(Compressed {
                    digest: Digest::from_raw(&hash.finalize()),
                    size,
                    busy,
                })
            })
            .map_err(LayoutError::io(&path))?;
        Ok(BlobWriter {
            diff: Sha256::new(),
            size: 0,
            queue: Some(tx),
            worker: Some(worker),
            path,
            progress,
        })
    }

    /// Append uncompressed bytes.
    pub fn write(&mut self, bytes: Vec<u8>) -> Result<(), String> {
        self.diff.update(&bytes);
        self.size += bytes.len() as u64;
        if let Some(p) = &self.progress {
            p.inc(bytes.len() as u64);
        }
        let queue = self.queue.as_ref().ok_or("the layer is already finished")?;
        if queue.send(bytes).is_err() {
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
        let compressed = self.stop().map_err(LayoutError::io(&self.path))?;
        Ok(WrittenBlob {
            diff_id: Digest::from_raw(&std::mem::take(&mut self.diff).finalize()),
            uncompressed_size: self.size,
            digest: compressed.digest,
            size: compressed.size,
            path: std::mem::take(&mut self.path),
            compress_time: compressed.busy,
        })
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.worker.is_some() {
            let _ = self.stop();
        }
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Feed every queued chunk into `w`; return it and the time spent writing.
fn pump<W: Write>(mut w: W, rx: &std::sync::mpsc::Receiver<Vec<u8>>) -> io::Result<(W, Duration)> {
    let mut busy = Duration::ZERO;
    for chunk in rx {
        let start = Instant::now();
        w.write_all(&chunk)?;
        busy += start.elapsed();
    }
    Ok((w, busy))
}
