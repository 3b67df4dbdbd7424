//! The `blobs.hasher` resource: SHA-256 on a thread of its own, so that hashing a
//! layer's uncompressed stream (its diff_id) overlaps with the guest decompressing and
//! applying it.

use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::{self, JoinHandle};

use sha2::{Digest as _, Sha256};

/// Chunks the guest may hand over before the hashing thread catches up.
const QUEUE: usize = 2;

/// A native SHA-256 the guest feeds.
#[derive(Debug, Default)]
pub struct Hasher {
    worker: Option<Worker>,
    /// Used when no thread could be started.
    inline: Sha256,
}

#[derive(Debug)]
struct Worker {
    queue: SyncSender<Vec<u8>>,
    thread: JoinHandle<Sha256>,
}

impl Hasher {
    /// A hasher with its thread started (or hashing inline if it cannot be).
    pub fn start() -> Self {
        let (queue, chunks) = sync_channel::<Vec<u8>>(QUEUE);
        let thread = thread::Builder::new()
            .name("repack-hash".into())
            .spawn(move || {
                let mut hash = Sha256::new();
                for chunk in chunks {
                    hash.update(&chunk);
                }
                hash
            });
        Hasher {
            worker: thread.ok().map(|thread| Worker { queue, thread }),
            inline: Sha256::new(),
        }
    }

    /// Add `bytes`.
    pub fn update(&mut self, bytes: Vec<u8>) {
        if let Some(w) = &self.worker {
            match w.queue.send(bytes) {
                Ok(()) => return,
                // The thread is gone (it cannot fail short of a panic): take over.
                Err(e) => {
                    let lost = self.worker.take().map(|w| w.thread.join());
                    if let Some(Ok(hash)) = lost {
                        self.inline = hash;
                    }
                    self.inline.update(&e.0);
                    return;
                }
            }
        }
        self.inline.update(&bytes);
    }

    /// The digest of everything added; the hasher starts over afterwards.
    pub fn finish(&mut self) -> [u8; 32] {
        let hash = match self.worker.take() {
            Some(Worker { queue, thread }) => {
                drop(queue);
                thread.join().unwrap_or_default()
            }
            None => std::mem::take(&mut self.inline),
        };
        *self = Hasher::start();
        hash.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_and_restart_after_finish() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut h = Hasher::start();
        for chunk in data.chunks(100_000) {
            h.update(chunk.to_vec());
        }
        let want: [u8; 32] = Sha256::digest(&data).into();
        assert_eq!(h.finish(), want);
        h.update(b"abc".to_vec());
        assert_eq!(h.finish(), <[u8; 32]>::from(Sha256::digest(b"abc")));
        assert_eq!(
            Hasher::default().finish(),
            <[u8; 32]>::from(Sha256::digest(b""))
        );
    }
}
