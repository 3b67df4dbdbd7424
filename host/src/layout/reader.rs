//! Reading a blob for the guest, verified as it streams: the bytes must hash to the
//! descriptor's digest and be exactly its size, checked when the end is reached (and a
//! blob longer than its size fails as soon as it passes the size).

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;

use rustix::fs::OFlags;
use sha2::{Digest as _, Sha256};

use super::{Descriptor, Digest, Layout, LayoutError, blob};

/// Where a blob's bytes come from.
enum Source {
    /// The layout's blob file.
    File(File),
    /// Another stream (a registry blob landing in the layout as it is read).
    Stream(Box<dyn Read + Send>),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(file) => f.debug_tuple("File").field(file).finish(),
            Source::Stream(_) => f.write_str("Stream"),
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
}

impl BlobReader {
    /// Open the blob `desc` names.
    pub fn open(layout: &Layout, desc: &Descriptor) -> Result<Self, LayoutError> {
        let path = layout.blob_path(&desc.digest);
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(OFlags::NOFOLLOW.bits() as i32)
            .open(&path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => LayoutError::Verify {
                    digest: desc.digest.to_string(),
                    why: format!("missing from the layout ({})", path.display()),
                },
                _ => LayoutError::io(&path)(e),
            })?;
        Ok(BlobReader {
            file: Source::File(file),
            digest: desc.digest.clone(),
            size: desc.size,
            seen: 0,
            hash: Sha256::new(),
            done: false,
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
        if self.done {
            return Ok(Vec::new());
        }
        // Read one byte past the size, so a longer blob is caught.
        let left = self.size - self.seen + 1;
        let want = max.min(usize::try_from(left).unwrap_or(usize::MAX)).max(1);
        let mut buf = vec![0u8; want];
        let read = match &mut self.file {
            Source::File(file) => file.read(&mut buf),
            Source::Stream(stream) => stream.read(&mut buf),
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
                Source::Stream(_) => self.seen,
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
