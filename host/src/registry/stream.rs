//! A registry blob landing in a layout as it is read: every byte read from the
//! registry is also written to a temp file of the layout, and at the end the file is
//! checked against the descriptor. Unpack reads layers through it, so the bytes the
//! guest applies and the blob the layout keeps come from one network read.

use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use super::blobs::RemoteBlob;
use crate::layout::blob::{digest_mismatch, size_mismatch};
use crate::layout::{BlobWriter, Descriptor, LayoutError, WrittenBlob};

/// Finished, verified blobs waiting to be committed into the layout.
pub type Landed = Arc<Mutex<Vec<WrittenBlob>>>;

/// A blob read from the registry and written to the layout's temp area.
#[derive(Debug)]
pub struct Landing {
    source: RemoteBlob,
    writer: Option<BlobWriter>,
    desc: Descriptor,
    done: Option<WrittenBlob>,
    landed: Option<Landed>,
}

impl Landing {
    /// Read `source` into `writer` (an uncompressed blob writer of the layout).
    pub fn new(source: RemoteBlob, writer: BlobWriter, desc: &Descriptor) -> Self {
        Landing {
            source,
            writer: Some(writer),
            desc: desc.clone(),
            done: None,
            landed: None,
        }
    }

    /// Hand the finished blob to `landed` instead of keeping it.
    pub fn into(mut self, landed: Landed) -> Self {
        self.landed = Some(landed);
        self
    }

    /// The finished blob, once the end was read.
    pub fn finished(&mut self) -> Option<WrittenBlob> {
        self.done.take()
    }

    fn finish(&mut self) -> io::Result<()> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        let written = writer.finish().map_err(io::Error::other)?;
        let why = if written.size != self.desc.size {
            Some(size_mismatch(self.desc.size, written.size))
        } else if written.digest != self.desc.digest {
            Some(digest_mismatch(&written.digest))
        } else {
            None
        };
        if let Some(why) = why {
            let _ = std::fs::remove_file(&written.path);
            return Err(io::Error::other(LayoutError::Verify {
                digest: self.desc.digest.to_string(),
                why,
            }));
        }
        match &self.landed {
            Some(landed) => landed.lock().expect("landed lock").push(written),
            None => self.done = Some(written),
        }
        Ok(())
    }
}

impl Read for Landing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.source.read(buf)?;
        if n == 0 {
            self.finish()?;
            return Ok(0);
        }
        if let Some(writer) = &mut self.writer {
            writer.write(buf[..n].to_vec()).map_err(io::Error::other)?;
        }
        Ok(n)
    }
}
