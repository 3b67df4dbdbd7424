//! The guest's stderr: its first and its last bytes, for error reports.
//!
//! A guest may write without end; keeping only the beginning loses the panic message
//! that comes last, keeping everything lets it fill the host's memory. This keeps the
//! first [`HEAD`] and the last [`TAIL`] bytes and counts what fell in between. Writes
//! never fail, so the guest's own panic output is never cut short by a full pipe.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Bytes kept from the beginning.
pub const HEAD: usize = 2 << 10;
/// Bytes kept from the end.
pub const TAIL: usize = 6 << 10;

/// What the guest wrote, bounded; clones share the buffer.
#[derive(Debug, Clone, Default)]
pub struct GuestStderr(Arc<Mutex<Kept>>);

#[derive(Debug, Default)]
struct Kept {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    dropped: u64,
}

/// The kept output: head, the number of bytes left out, tail.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Captured {
    /// The first bytes written.
    pub head: String,
    /// Bytes written between head and tail and not kept.
    pub dropped: u64,
    /// The last bytes written (empty while everything fits in the head).
    pub tail: String,
}

impl GuestStderr {
    fn kept(&self) -> MutexGuard<'_, Kept> {
        // A panic while holding the lock cannot leave the buffers inconsistent.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Append `bytes`.
    pub fn push(&self, mut bytes: &[u8]) {
        let mut kept = self.kept();
        let room = HEAD - kept.head.len();
        if room > 0 {
            let n = room.min(bytes.len());
            kept.head.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
        if bytes.len() > TAIL {
            kept.dropped += (kept.tail.len() + bytes.len() - TAIL) as u64;
            kept.tail.clear();
            bytes = &bytes[bytes.len() - TAIL..];
        }
        let over = (kept.tail.len() + bytes.len()).saturating_sub(TAIL);
        kept.tail.drain(..over);
        kept.dropped += over as u64;
        kept.tail.extend(bytes);
    }

    /// What was kept, decoded lossily (raw, not yet sanitized).
    pub fn captured(&self) -> Captured {
        let kept = self.kept();
        let (a, b) = kept.tail.as_slices();
        Captured {
            head: String::from_utf8_lossy(&kept.head).into_owned(),
            dropped: kept.dropped,
            tail: String::from_utf8_lossy(&[a, b].concat()).into_owned(),
        }
    }
}

impl IsTerminal for GuestStderr {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestStderr {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestStderr {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestStderr {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

impl tokio::io::AsyncWrite for GuestStderr {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_head_and_tail_and_counts_the_rest() {
        let err = GuestStderr::default();
        err.push(b"start\n");
        assert_eq!(err.captured().head, "start\n");
        for _ in 0..10_000 {
            err.push(b"noise noise noise\n");
        }
        err.push(b"boom after noise\n");
        let got = err.captured();
        assert_eq!(got.head.len(), HEAD);
        assert!(got.head.starts_with("start\nnoise"));
        assert_eq!(got.tail.len(), TAIL);
        assert!(got.tail.ends_with("noise\nboom after noise\n"));
        let total = 6 + 10_000 * 18 + 17;
        assert_eq!(got.dropped, (total - HEAD - TAIL) as u64);
        // One write larger than everything kept.
        err.push(&vec![b'z'; 3 * TAIL]);
        let got = err.captured();
        assert!(got.tail.bytes().all(|b| b == b'z'));
        assert_eq!(got.dropped, (total + 3 * TAIL - HEAD - TAIL) as u64);
    }
}
