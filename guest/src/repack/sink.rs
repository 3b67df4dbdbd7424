//! The layer stream: tar bytes buffered in the guest and handed to the host's blob
//! writer in large chunks.

use crate::tree::{FsError, Metadata};

/// Where the uncompressed layer goes.
pub trait Sink {
    /// Append `bytes` to the layer.
    fn write(&mut self, bytes: &[u8]) -> Result<(), FsError>;

    /// Append exactly `size` bytes of the regular file at `path` of the tree being
    /// written, read by the sink itself, and return the file's metadata after the
    /// read; `None` when this sink cannot read files (the caller copies them).
    fn write_file(&mut self, path: &[u8], size: u64) -> Option<Result<Metadata, FileError>> {
        let _ = (path, size);
        None
    }
}

/// Why [`Sink::write_file`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileError {
    /// The file could not be opened or read, or is not as long as it was to be.
    File(FsError),
    /// The layer could not take the bytes.
    Layer(FsError),
}

impl Sink for Vec<u8> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), FsError> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

/// Bytes gathered before one host call.
pub const CHUNK: usize = 64 << 10;

/// A [`Sink`] wrapper that batches small writes into [`CHUNK`]-sized calls.
#[derive(Debug)]
pub struct Buffered<S> {
    sink: S,
    buf: Vec<u8>,
}

impl<S: Sink> Buffered<S> {
    /// Batch writes to `sink`.
    pub fn new(sink: S) -> Self {
        Buffered {
            sink,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    /// Append `bytes`, passing full chunks on.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), FsError> {
        if self.buf.is_empty() && bytes.len() >= CHUNK {
            return self.sink.write(bytes);
        }
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    /// Pass on whatever is buffered.
    pub fn flush(&mut self) -> Result<(), FsError> {
        if !self.buf.is_empty() {
            self.sink.write(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Append the file at `path` through the sink, after what is buffered (see
    /// [`Sink::write_file`]).
    pub fn write_file(&mut self, path: &[u8], size: u64) -> Option<Result<Metadata, FileError>> {
        if let Err(e) = self.flush() {
            return Some(Err(FileError::Layer(e)));
        }
        self.sink.write_file(path, size)
    }

    /// Flush and return the sink.
    pub fn into_inner(mut self) -> Result<S, FsError> {
        self.flush()?;
        Ok(self.sink)
    }
}
