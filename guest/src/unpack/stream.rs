//! The layer byte stream: the verified blob from the host, decompressed by media type,
//! counted against the size limit and hashed for the diff_id.

use std::io::{self, Read};

use sha2::{Digest, Sha256};

/// The layer media types we apply: the base type and its compression suffix.
const LAYER_TYPES: [&str; 2] = [
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
];

/// How a layer is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip (one or more members).
    Gzip,
    /// zstd.
    Zstd,
}

/// The compression a layer media type names; other types are refused.
pub fn compression(media_type: &str) -> Result<Compression, String> {
    let (base, suffix) = media_type.split_once('+').unwrap_or((media_type, ""));
    if !LAYER_TYPES.contains(&base) {
        return Err(format!("unsupported layer media type {media_type:?}"));
    }
    match suffix {
        "" => Ok(Compression::None),
        "gzip" => Ok(Compression::Gzip),
        "zstd" => Ok(Compression::Zstd),
        other => Err(format!("unsupported layer compression {other:?}")),
    }
}

/// Wrap `raw` in the decompressor for `compression`.
pub fn decompress<'a, R: Read + 'a>(
    raw: R,
    compression: Compression,
) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match compression {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        Compression::Zstd => Box::new(
            ruzstd::decoding::StreamingDecoder::new(raw)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?,
        ),
    })
}

/// A running SHA-256.
pub trait Digester {
    /// Hash `bytes` next.
    fn update(&mut self, bytes: &[u8]);
    /// The digest of everything hashed.
    fn finish(self: Box<Self>) -> [u8; 32];
}

impl Digester for Sha256 {
    fn update(&mut self, bytes: &[u8]) {
        Digest::update(self, bytes);
    }

    fn finish(self: Box<Self>) -> [u8; 32] {
        self.finalize().into()
    }
}

/// A [`Digester`] that hashes nothing, where the host checks the diff_id.
struct NoDigest;

impl Digester for NoDigest {
    fn update(&mut self, _: &[u8]) {}

    fn finish(self: Box<Self>) -> [u8; 32] {
        [0; 32]
    }
}

/// Makes a [`Digester`] that hashes nothing (the host checks the diff_id).
pub fn no_digest() -> Box<dyn Digester> {
    Box::new(NoDigest)
}

/// Makes a [`Digester`] (the host's, inside the component).
pub type DigesterFactory = fn() -> Box<dyn Digester>;

/// Buffer size between the stream and the digester (few, large host calls).
const HASH_CHUNK: usize = 256 << 10;

/// The error for a layer that expands to more than `limit` bytes.
pub fn too_large(limit: u64) -> String {
    format!("the layer expands to more than {limit} bytes (--max-layer-size)")
}

/// Hashes and counts what passes, refusing more than `limit` bytes.
pub struct Tee<R> {
    inner: R,
    hash: Box<dyn Digester>,
    pending: Vec<u8>,
    len: u64,
    limit: u64,
}

impl<R> std::fmt::Debug for Tee<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tee")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Tee<R> {
    /// Watch `inner`, hashing with a digester from `factory` (default: SHA-256 here).
    pub fn new(inner: R, limit: u64, factory: Option<DigesterFactory>) -> Self {
        Tee {
            inner,
            hash: factory.map_or_else(|| Box::new(Sha256::new()) as Box<dyn Digester>, |f| f()),
            pending: Vec::with_capacity(HASH_CHUNK),
            len: 0,
            limit,
        }
    }

    /// Bytes that passed so far.
    pub fn passed(&self) -> u64 {
        self.len
    }

    /// Read to the end (what is left after the archive's end blocks).
    pub fn drain(&mut self) -> io::Result<u64> {
        io::copy(self, &mut io::sink())
    }

    /// `sha256:<hex>` of everything that passed.
    pub fn digest(mut self) -> String {
        self.hash.update(&self.pending);
        let raw = self.hash.finish();
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.len += n as u64;
        if self.len > self.limit {
            return Err(io::Error::other(too_large(self.limit)));
        }
        self.pending.extend_from_slice(&buf[..n]);
        if self.pending.len() >= HASH_CHUNK {
            self.hash.update(&self.pending);
            self.pending.clear();
        }
        Ok(n)
    }
}
