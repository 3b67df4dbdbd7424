//! CPU time of the calling thread, for the usage a job reports.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustix::time::{ClockId, clock_gettime};

/// CPU time the calling thread has used so far.
pub fn thread_time() -> Duration {
    let t = clock_gettime(ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// Add the CPU time the calling thread has used to `counter` (nanoseconds) when
/// dropped: held by a worker thread for its whole life, it counts the thread's time
/// however the thread ends.
#[derive(Debug)]
pub struct CountOnExit<'a>(pub &'a AtomicU64);

impl Drop for CountOnExit<'_> {
    fn drop(&mut self) {
        let nanos = u64::try_from(thread_time().as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(nanos, Ordering::Relaxed);
    }
}
