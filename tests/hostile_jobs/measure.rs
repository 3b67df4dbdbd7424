//! What a job costs the process: threads, file descriptors and peak resident memory,
//! sampled while it runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How much a job grew the process beyond where it started.
#[derive(Debug, Clone, Copy)]
pub struct Growth {
    /// Most threads at once, beyond the start (the sampler's own thread included, and
    /// any thread the test harness starts meanwhile).
    pub threads: usize,
    /// Most hashing threads (`repack-hash`) at once.
    pub hash_threads: usize,
    /// Most open descriptors at once, beyond the start.
    pub fds: usize,
    /// Peak resident memory beyond the resident memory at the start, in bytes.
    pub rss: u64,
}

/// Samples threads and descriptors every millisecond until stopped.
#[derive(Debug)]
pub struct Watch {
    stop: Arc<AtomicBool>,
    sampler: JoinHandle<(usize, usize, usize)>,
    threads: usize,
    fds: usize,
    rss: u64,
}

fn status_field(name: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name} in /proc/self/status"));
    line.trim().trim_end_matches("kB").trim().parse().unwrap()
}

fn threads() -> usize {
    status_field("Threads:") as usize
}

fn hash_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "repack-hash")
        })
        .count()
}

fn fds() -> usize {
    // The listing's own descriptor is counted in every sample alike.
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

impl Watch {
    /// Reset the peak resident memory and start sampling.
    pub fn start() -> Watch {
        std::fs::write("/proc/self/clear_refs", "5").expect("resetting the peak RSS");
        let (threads, fds, rss) = (threads(), fds(), status_field("VmRSS:") << 10);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let sampler = thread::spawn(move || {
            let (mut most_threads, mut most_hashing, mut most_fds) = (0, 0, 0);
            loop {
                most_threads = most_threads.max(self::threads());
                most_hashing = most_hashing.max(self::hash_threads());
                most_fds = most_fds.max(self::fds());
                if flag.load(Ordering::Relaxed) {
                    return (most_threads, most_hashing, most_fds);
                }
                thread::sleep(Duration::from_millis(1));
            }
        });
        Watch {
            stop,
            sampler,
            threads,
            fds,
            rss,
        }
    }

    /// Stop sampling; what the process grew by since [`Watch::start`].
    pub fn stop(self) -> Growth {
        self.stop.store(true, Ordering::Relaxed);
        let (threads, hash_threads, fds) = self.sampler.join().unwrap();
        let growth = Growth {
            threads: threads.saturating_sub(self.threads),
            hash_threads,
            fds: fds.saturating_sub(self.fds),
            rss: (status_field("VmHWM:") << 10).saturating_sub(self.rss),
        };
        eprintln!("measured: {growth:?}");
        growth
    }
}
