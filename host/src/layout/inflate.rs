//! A layer blob decompressed on a thread of its own, so that decompression runs beside
//! the guest's extraction instead of before it in the sandbox.
//!
//! The thread reads the blob through its [`BlobReader`] (verified against the blob's
//! size and digest as before), decompresses it with a pure-Rust decoder (`flate2` on
//! zlib-rs, `ruzstd`), counts the bytes against the layer's expansion limit, hashes
//! them and checks the diff_id when the archive ends. The guest reads the uncompressed
//! archive; any failure reaches it as the error of a read, never as a short archive.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use sha2::{Digest as _, Sha256};

use super::{BlobReader, Compression, Digest};
use crate::cpu::CountOnExit;

/// Uncompressed bytes handed over per chunk.
const CHUNK: usize = 128 << 10;
/// Chunks decompressed ahead of the guest: with the one being filled and the one
/// being read, half a MiB in flight, enough to keep both threads busy.
const AHEAD: usize = 2;

/// The layer media types the host decompresses: the base types, with a compression
/// suffix or none. Others are left to the guest, which refuses them.
const LAYER_TYPES: [&str; 2] = [
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
];

/// The compression of a layer of media type `media_type`, if the host can decompress
/// it.
pub fn layer_compression(media_type: &str) -> Option<Compression> {
    let (base, suffix) = media_type.split_once('+').unwrap_or((media_type, ""));
    if !LAYER_TYPES.contains(&base) {
        return None;
    }
    match suffix {
        "" => Some(Compression::None),
        suffix => Compression::from_suffix(suffix),
    }
}

/// What a layer must turn out to be when decompressed.
#[derive(Debug, Clone)]
pub struct Expected {
    /// The compression of the blob.
    pub compression: Compression,
    /// The archive's digest (the config's diff_id).
    pub diff_id: Digest,
    /// Most bytes the archive may have.
    pub max_size: u64,
}

/// The uncompressed side of a layer blob.
#[derive(Debug)]
pub struct Inflated {
    chunks: Receiver<Result<Vec<u8>, String>>,
    /// What is left of the last chunk.
    held: Vec<u8>,
    done: bool,
    failed: Option<String>,
    thread: Option<JoinHandle<()>>,
}

/// A [`BlobReader`] as [`Read`].
struct Raw(BlobReader);

impl Read for Raw {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let chunk = self.0.read(buf.len()).map_err(io::Error::other)?;
        buf[..chunk.len()].copy_from_slice(&chunk);
        Ok(chunk.len())
    }
}

impl Inflated {
    /// Start decompressing `blob`; the thread's CPU time is added to `cpu`.
    pub fn start(blob: BlobReader, expected: Expected, cpu: Arc<AtomicU64>) -> Self {
        let (tx, chunks) = sync_channel(AHEAD);
        let thread = std::thread::Builder::new()
            .name("repack-inflate".into())
            .spawn(move || {
                let _count = CountOnExit(&cpu);
                let mut raw = Raw(blob);
                let outcome = inflate(&mut raw, &expected, &tx);
                // A decoder stops at its stream's end: the rest of the blob is read
                // too, so its size and digest are checked whatever it holds.
                let outcome = outcome.and_then(|()| {
                    io::copy(&mut raw, &mut io::sink())
                        .map(drop)
                        .map_err(|e| e.to_string())
                });
                let last = match outcome {
                    Ok(()) => Ok(Vec::new()),
                    Err(e) => Err(e),
                };
                let _ = tx.send(last);
            })
            .expect("spawning a thread");
        Inflated {
            chunks,
            held: Vec::new(),
            done: false,
            failed: None,
            thread: Some(thread),
        }
    }

    /// Up to `max` bytes of the archive; empty at the verified end.
    pub fn read(&mut self, max: usize) -> Result<Vec<u8>, String> {
        if let Some(why) = &self.failed {
            return Err(why.clone());
        }
        if self.held.is_empty() && !self.done {
            match self.chunks.recv() {
                Ok(Ok(chunk)) if chunk.is_empty() => self.done = true,
                Ok(Ok(chunk)) => self.held = chunk,
                Ok(Err(why)) => {
                    self.failed = Some(why.clone());
                    return Err(why);
                }
                Err(_) => {
                    let why = "the layer's decompressor stopped".to_string();
                    self.failed = Some(why.clone());
                    return Err(why);
                }
            }
        }
        if self.held.len() <= max.max(1) {
            return Ok(std::mem::take(&mut self.held));
        }
        let rest = self.held.split_off(max.max(1));
        Ok(std::mem::replace(&mut self.held, rest))
    }
}

impl Drop for Inflated {
    fn drop(&mut self) {
        // Dropping the receiver makes the thread's next send fail, and it ends.
        let (_, empty) = sync_channel(0);
        drop(std::mem::replace(&mut self.chunks, empty));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Decompress `raw` into chunks sent on `tx`, checking size and diff_id.
fn inflate(
    raw: &mut Raw,
    expected: &Expected,
    tx: &SyncSender<Result<Vec<u8>, String>>,
) -> Result<(), String> {
    let mut decoder: Box<dyn Read + '_> = match expected.compression {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        Compression::Zstd => Box::new(
            ruzstd::decoding::StreamingDecoder::new(raw)
                .map_err(|e| format!("reading the layer: {e}"))?,
        ),
    };
    let mut hash = Sha256::new();
    let mut total: u64 = 0;
    loop {
        let mut chunk = vec![0u8; CHUNK];
        let mut filled = 0;
        while filled < CHUNK {
            match decoder.read(&mut chunk[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        if filled == 0 {
            break;
        }
        chunk.truncate(filled);
        total += filled as u64;
        if total > expected.max_size {
            return Err(format!(
                "the layer expands to more than {} bytes (--max-layer-size)",
                expected.max_size
            ));
        }
        hash.update(&chunk);
        if tx.send(Ok(chunk)).is_err() {
            // The reader is gone: nobody wants the rest.
            return Ok(());
        }
    }
    let actual = Digest::from_raw(&hash.finalize());
    if actual != expected.diff_id {
        return Err(format!(
            "layer diff_id mismatch: the config says {}, the archive hashes to {actual}",
            expected.diff_id
        ));
    }
    Ok(())
}
