//! Bounds on the handles a guest creates: per job, a cap on live handles of each kind
//! (past it the guest traps: a guest that holds that many is broken or hostile); per
//! process, a budget of file descriptors for all jobs together, kept well below the
//! process's descriptor limit so that the host itself never runs out.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use thiserror::Error;

/// The kinds of handle a guest can create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleKind {
    /// `fs.file` from `open-read`.
    File,
    /// `fs.file-writer` from `create-file`.
    FileWriter,
    /// `blobs.hasher`.
    Hasher,
}

/// Most live hashers one job may hold (the guest needs one per layer).
pub const MAX_HASHERS: usize = 16;

impl HandleKind {
    /// The handles, as an error names them.
    pub const fn name(self) -> &'static str {
        match self {
            HandleKind::File => "open files",
            HandleKind::FileWriter => "open file writers",
            HandleKind::Hasher => "open hashers",
        }
    }

    const fn holds_fd(self) -> bool {
        matches!(self, HandleKind::File | HandleKind::FileWriter)
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// A guest went past its job's limit on live handles of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("too many {}: a job may hold {limit}", .kind.name())]
pub struct HandleLimit {
    /// The kind of handle.
    pub kind: HandleKind,
    /// The job's limit for it.
    pub limit: usize,
}

/// The live handles of one job. Dropping it returns the job's descriptors to the
/// process budget, so a job that ends holding handles (a trap, a leak) gives them back
/// when its store goes.
#[derive(Debug)]
pub struct Handles {
    live: [usize; 3],
    max_files: usize,
    hit: Option<HandleLimit>,
}

impl Handles {
    /// A job's handles: at most `max_files` files and `max_files` file writers (the
    /// guest needs one at a time) and [`MAX_HASHERS`] hashers.
    pub fn new(max_files: usize) -> Self {
        Handles {
            live: [0; 3],
            max_files,
            hit: None,
        }
    }

    /// Most live handles of `kind` this job may hold.
    pub fn limit(&self, kind: HandleKind) -> usize {
        match kind {
            HandleKind::File | HandleKind::FileWriter => self.max_files,
            HandleKind::Hasher => MAX_HASHERS,
        }
    }

    /// Count a new handle of `kind` before creating it. Past the job's limit this is
    /// an error that traps the guest; past the process's descriptor budget it is the
    /// inner error, which the guest gets as an I/O error.
    pub fn open(&mut self, kind: HandleKind) -> Result<Result<(), String>, HandleLimit> {
        let limit = self.limit(kind);
        if self.live[kind.index()] >= limit {
            let hit = HandleLimit { kind, limit };
            self.hit = Some(hit);
            return Err(hit);
        }
        if kind.holds_fd()
            && let Err(e) = acquire_fd()
        {
            return Ok(Err(e));
        }
        self.live[kind.index()] += 1;
        Ok(Ok(()))
    }

    /// A handle of `kind` counted by [`Handles::open`] is gone (or was never made).
    pub fn close(&mut self, kind: HandleKind) {
        let live = &mut self.live[kind.index()];
        if *live > 0 {
            *live -= 1;
            if kind.holds_fd() {
                GUEST_FDS.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// The limit the guest went past, if it did.
    pub fn hit(&self) -> Option<HandleLimit> {
        self.hit
    }
}

impl Drop for Handles {
    fn drop(&mut self) {
        let fds = self.live[HandleKind::File.index()] + self.live[HandleKind::FileWriter.index()];
        GUEST_FDS.fetch_sub(fds, Ordering::Relaxed);
    }
}

/// Descriptors held by guest handles across all jobs of this process.
static GUEST_FDS: AtomicUsize = AtomicUsize::new(0);

/// Descriptors left to the host itself (layout files, temp files, the runtime).
const HOST_RESERVE: u64 = 256;

/// Most descriptors all jobs' handles may hold together: half of what the process
/// limit leaves after [`HOST_RESERVE`], at least 16.
pub fn process_fd_budget() -> usize {
    static BUDGET: OnceLock<usize> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(u64::MAX);
        let budget = limit.saturating_sub(HOST_RESERVE) / 2;
        usize::try_from(budget).unwrap_or(usize::MAX).max(16)
    })
}

fn acquire_fd() -> Result<(), String> {
    let budget = process_fd_budget();
    let taken = GUEST_FDS.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
        (n < budget).then_some(n + 1)
    });
    taken.map(|_| ()).map_err(|held| {
        format!(
            "too many open files in this process: jobs hold {held}, their share of the \
             descriptor limit"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_job_limit_traps_and_closing_makes_room() {
        let mut h = Handles::new(64);
        for _ in 0..MAX_HASHERS {
            assert_eq!(h.open(HandleKind::Hasher), Ok(Ok(())));
        }
        let err = h.open(HandleKind::Hasher).unwrap_err();
        assert_eq!(err.to_string(), "too many open hashers: a job may hold 16");
        assert_eq!(h.hit(), Some(err));
        h.close(HandleKind::Hasher);
        assert_eq!(h.open(HandleKind::Hasher), Ok(Ok(())));
    }

    #[test]
    fn descriptors_go_back_when_the_job_ends() {
        let before = GUEST_FDS.load(Ordering::Relaxed);
        let mut h = Handles::new(64);
        for _ in 0..10 {
            h.open(HandleKind::File).unwrap().unwrap();
        }
        h.close(HandleKind::File);
        // Other tests may open handles meanwhile; ours are at least counted.
        assert!(GUEST_FDS.load(Ordering::Relaxed) >= 9);
        drop(h);
        assert!(GUEST_FDS.load(Ordering::Relaxed) <= before + 64);
        assert!(process_fd_budget() >= 16);
    }
}
