//! The layer stream: tar bytes buffered in the guest and handed to the host's blob
//! writer in large chunks.

use crate::tree::FsError;

/// Where the uncompressed layer goes.
pub trait Sink {
    /// Append `bytes` to the layer.
    fn write(&mut self, bytes: &[u8]) -> Result<(), FsError>;
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

    /// Flush and return the sink.
    pub fn into_inner(mut self) -> Result<S, FsError> {
        self.flush()?;
        Ok(self.sink)
    }
}
