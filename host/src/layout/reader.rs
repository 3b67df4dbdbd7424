//! Reading a blob for the guest, verified as it streams: the bytes must hash to the
//! descriptor's digest and be exactly its size, checked when the end is reached (and a
//! blob longer than its size fails as soon as it passes the size).

use std::fs::File;
use std::io::Read;

use sha2::{Digest as _, Sha256};

use super::inflate::{Expected, Inflated};
use super::{Descriptor, Digest, Layout, LayoutError, blob};

/// Where a blob's bytes come from.
enum Source {
    /// The layout's blob file.
    File(File),
    /// Another stream (a registry blob landing in the layout as it is read).
    Stream(Box<dyn Read + Send>),
    /// The uncompressed archive of a layer blob, from the thread decompressing it.
    Inflated(Inflated),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(file) => f.debug_tuple("File").field(file).finish(),
            Source::Stream(_) => f.write_str("Stream"),
            Source::Inflated(i) => f.debug_tuple("Inflated").field(i).finish(),
        }
    }
}

/// A verified blob stream.
#[derive(Debug)]
pub struct BlobReader {
    file: Source,
    digest: Digest,
    size: u64,
    seen: u64,
    hash: Sha256,
    done: bool,
    /// The error that ended the stream: every later read repeats it.
    failed: Option<String>,
}

impl BlobReader {
    /// Open the blob `desc` names.
    pub fn open(layout: &Layout, desc: &Descriptor) -> Result<Self, LayoutError> {
        let file = layout.open_blob(&desc.digest)?;
        Ok(BlobReader {
            file: Source::File(file),
            digest: desc.digest.clone(),
            size: desc.size,
            seen: 0,
            hash: Sha256::new(),
            done: false,
            failed: None,
        })
    }

    /// The blob `desc` names, read from `stream` and verified the same way.
    pub fn from_stream(desc: &Descriptor, stream: impl Read + Send + 'static) -> Self {
        BlobReader {
            file: Source::Stream(Box::new(stream)),
            digest: desc.digest.clone(),
            size: desc.size,
            seen: 0,
            hash: Sha256::new(),
            done: false,
            failed: None,
        }
    }

    /// This layer blob's uncompressed archive, decompressed on a thread of its own
    /// that also checks the blob, the size limit and the diff_id (see
    /// [`super::inflate`]); the thread's CPU time is added to `cpu`.
    pub fn inflating(
        self,
        expected: Expected,
        cpu: std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) -> Self {
        BlobReader {
            digest: self.digest.clone(),
            size: self.size,
            seen: 0,
            hash: Sha256::new(),
            done: false,
            failed: None,
            file: Source::Inflated(Inflated::start(self, expected, cpu)),
        }
    }

    /// The error for a blob that does not match its descriptor, as
    /// [`LayoutError::Verify`] words it.
    fn mismatch(&self, why: String) -> String {
        LayoutError::Verify {
            digest: self.digest.to_string(),
            why,
        }
        .to_string()
    }

    /// Up to `max` bytes; empty at the verified end. Errors name the blob.
    pub fn read(&mut self, max: usize) -> Result<Vec<u8>, String> {
        if let Source::Inflated(inflated) = &mut self.file {
            return inflated.read(max);
        }
        if let Some(why) = &self.failed {
            return Err(why.clone());
        }
        if self.done {
            return Ok(Vec::new());
        }
        let result = self.read_more(max);
        if let Err(why) = &result {
            self.failed = Some(why.clone());
        }
        result
    }

    fn read_more(&mut self, max: usize) -> Result<Vec<u8>, String> {
        // Read one byte past the size, so a longer blob is caught.
        let left = self.size.saturating_sub(self.seen).saturating_add(1);
        let want = max.min(usize::try_from(left).unwrap_or(usize::MAX)).max(1);
        let mut buf = vec![0u8; want];
        let read = match &mut self.file {
            Source::File(file) => file.read(&mut buf),
            Source::Stream(stream) => stream.read(&mut buf),
            Source::Inflated(_) => unreachable!("read() hands inflated blobs on"),
        };
        let n = read.map_err(|e| format!("blob {}: {e}", self.digest))?;
        buf.truncate(n);
        self.seen += n as u64;
        if self.seen > self.size {
            // Read one byte past the size only; the blob's length is the file's.
            let actual = match &self.file {
                Source::File(file) => file
                    .metadata()
                    .map_or(self.seen, |m| m.len().max(self.seen)),
                Source::Stream(_) | Source::Inflated(_) => self.seen,
            };
            return Err(self.mismatch(blob::size_mismatch(self.size, actual)));
        }
        self.hash.update(&buf);
        if n == 0 {
            if self.seen != self.size {
                return Err(self.mismatch(blob::size_mismatch(self.size, self.seen)));
            }
            let actual = Digest::from_raw(&std::mem::take(&mut self.hash).finalize());
            if actual != self.digest {
                return Err(self.mismatch(blob::digest_mismatch(&actual)));
            }
            self.done = true;
        }
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_longer_blob_fails_and_keeps_failing() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::init(tmp.path().join("l")).unwrap();
        let (digest, _) = layout.put_blob(b"0123456789").unwrap();
        let desc = Descriptor::new("x", digest, 4);
        let mut reader = BlobReader::open(&layout, &desc).unwrap();
        let first = reader.read(100).unwrap_err();
        assert!(
            first.contains("size mismatch: the descriptor says 4 bytes, the blob has 10"),
            "{first}"
        );
        // Reading on after the error neither panics nor succeeds.
        for _ in 0..3 {
            assert_eq!(reader.read(100).unwrap_err(), first);
        }
    }
}
