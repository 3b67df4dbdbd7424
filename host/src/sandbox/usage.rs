//! What a job used: enough to bill a tenant for it or to spot an abusive one.
//!
//! A job runs on the thread that calls it, so [`metered`] counts everything the jobs
//! started inside it on that thread use: the calling thread's own CPU time (the guest
//! and the host calls it makes), the CPU time of the threads working for those jobs
//! (compressors, hashers), and each job's counters as its store goes away.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cpu::thread_time;
use crate::layout::writer::LayerMeter;

/// What one job used, reported with its result whether it succeeded or not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Wall-clock time from start to result.
    pub wall: Duration,
    /// CPU time of the job's threads: the calling thread (guest and host calls), the
    /// compressors and the hashers.
    pub cpu: Duration,
    /// The guest's memories and tables at their largest, in bytes.
    pub memory_peak: u64,
    /// Bytes read for the guest: file contents, files hashed for it, layer blobs.
    pub bytes_read: u64,
    /// Bytes the guest wrote: the uncompressed layer stream and files' contents.
    pub bytes_written: u64,
    /// Compressed layer bytes written to disk.
    pub layer_compressed: u64,
    /// Calls the guest made to the host.
    pub host_calls: u64,
}

/// Counters a job adds to the scope it runs in.
#[derive(Debug, Default)]
pub(crate) struct JobCounts {
    pub memory_peak: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub host_calls: u64,
    /// CPU nanoseconds of other threads, read when the scope ends (their threads may
    /// still be finishing the job's work when the store goes).
    pub cpu_elsewhere: Vec<Arc<AtomicU64>>,
    /// The job's layers' compressors, read when the scope ends.
    pub layers: Vec<Arc<LayerMeter>>,
}

#[derive(Debug, Default)]
struct Scope {
    counts: JobCounts,
}

thread_local! {
    static SCOPE: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

/// Add a finished job's counters to the scope it ran in, if any.
pub(crate) fn record(counts: JobCounts) {
    SCOPE.with_borrow_mut(|scope| {
        if let Some(scope) = scope {
            let s = &mut scope.counts;
            s.memory_peak = s.memory_peak.max(counts.memory_peak);
            s.bytes_read += counts.bytes_read;
            s.bytes_written += counts.bytes_written;
            s.host_calls += counts.host_calls;
            s.cpu_elsewhere.extend(counts.cpu_elsewhere);
            s.layers.extend(counts.layers);
        }
    });
}

/// Run `f` on this thread and return what the jobs it ran used. A scope inside another
/// is counted in both.
pub fn metered<T>(f: impl FnOnce() -> T) -> (T, Usage) {
    let outer = SCOPE.replace(Some(Scope::default()));
    let wall = Instant::now();
    let cpu = thread_time();
    let value = f();
    let cpu = thread_time().saturating_sub(cpu);
    let wall = wall.elapsed();
    let scope = SCOPE.replace(outer).unwrap_or_default();
    let counts = scope.counts;
    let nanos = |counters: &[Arc<AtomicU64>]| -> u64 {
        counters.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    };
    let usage = Usage {
        wall,
        cpu: cpu
            + Duration::from_nanos(nanos(&counts.cpu_elsewhere))
            + Duration::from_nanos(
                counts
                    .layers
                    .iter()
                    .map(|l| l.cpu_nanos.load(Ordering::Relaxed))
                    .sum(),
            ),
        memory_peak: counts.memory_peak,
        bytes_read: counts.bytes_read,
        bytes_written: counts.bytes_written,
        layer_compressed: counts
            .layers
            .iter()
            .map(|l| l.written.load(Ordering::Relaxed))
            .sum(),
        host_calls: counts.host_calls,
    };
    // The outer scope sees the inner one's jobs too (its own clock covers this
    // thread's time already).
    record(JobCounts {
        memory_peak: counts.memory_peak,
        bytes_read: counts.bytes_read,
        bytes_written: counts.bytes_written,
        host_calls: counts.host_calls,
        cpu_elsewhere: counts.cpu_elsewhere,
        layers: counts.layers,
    });
    (value, usage)
}
