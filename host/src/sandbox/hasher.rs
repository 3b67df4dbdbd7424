//! The `blobs.hasher` resource: SHA-256 on a worker thread when one is free, so that
//! hashing a layer's uncompressed stream (its diff_id) overlaps with the guest
//! decompressing and applying it.
//!
//! Worker threads are a process-wide pool of [`hash_threads`] slots: a hasher takes one
//! at its first update and gives it back when it finishes or is dropped, and a hasher
//! that finds none free hashes on the calling thread. However many hashers guests
//! create, the host never runs more hashing threads than that.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};

use sha2::{Digest as _, Sha256};

/// Chunks the guest may hand over before the hashing thread catches up.
const QUEUE: usize = 2;

/// Most hashing threads the process runs at once: one per core.
pub fn hash_threads() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| thread::available_parallelism().map_or(1, usize::from))
}

/// Hashing threads running now.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// A slot in the pool, given back when dropped (by the thread that holds it).
#[derive(Debug)]
struct Slot;

impl Slot {
    fn take() -> Option<Slot> {
        let max = hash_threads();
        RUNNING
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A native SHA-256 the guest feeds.
#[derive(Debug, Default)]
pub struct Hasher {
    worker: Option<Worker>,
    /// Everything hashed so far when there is no worker.
    inline: Sha256,
    /// Whether a worker was sought for the current digest.
    started: bool,
    /// Where worker threads add their CPU time (nanoseconds).
    cpu: Arc<AtomicU64>,
}

#[derive(Debug)]
struct Worker {
    queue: SyncSender<Vec<u8>>,
    thread: JoinHandle<Sha256>,
}

impl Hasher {
    /// A hasher; its worker thread (if one is free) starts with the first update.
    pub fn new() -> Self {
        Hasher::default()
    }

    /// A hasher whose worker threads add their CPU time to `cpu` (nanoseconds).
    pub fn counting(cpu: Arc<AtomicU64>) -> Self {
        Hasher {
            cpu,
            ..Hasher::default()
        }
    }

    /// Before the first update of a digest: start a worker for it, if a slot is free.
    fn start(&mut self) {
        self.started = true;
        let Some(slot) = Slot::take() else { return };
        let (queue, chunks) = sync_channel::<Vec<u8>>(QUEUE);
        let cpu = Arc::clone(&self.cpu);
        let spawned = thread::Builder::new()
            .name("repack-hash".into())
            .spawn(move || {
                let _slot = slot;
                let _cpu = crate::cpu::CountOnExit(&cpu);
                let mut hash = Sha256::new();
                for chunk in chunks {
                    hash.update(&chunk);
                }
                hash
            });
        // Without a thread the digest is computed inline, from the first byte on.
        match spawned {
            Ok(thread) => self.worker = Some(Worker { queue, thread }),
            Err(e) => tracing::debug!("hashing on the calling thread: {e}"),
        }
    }

    /// Add `bytes`.
    pub fn update(&mut self, bytes: Vec<u8>) {
        if !self.started {
            self.start();
        }
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
        *self = Hasher::counting(std::mem::take(&mut self.cpu));
        hash.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_and_restart_after_finish() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut h = Hasher::new();
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

    #[test]
    fn more_hashers_than_threads_all_hash_right() {
        let mut hashers: Vec<Hasher> = (0..hash_threads() + 3).map(|_| Hasher::new()).collect();
        for (i, h) in hashers.iter_mut().enumerate() {
            h.update(vec![i as u8; 1000]);
        }
        assert!(RUNNING.load(Ordering::Acquire) <= hash_threads());
        for (i, h) in hashers.iter_mut().enumerate() {
            h.update(vec![i as u8; 1000]);
            let want: [u8; 32] = Sha256::digest(vec![i as u8; 2000]).into();
            assert_eq!(h.finish(), want);
        }
    }
}
