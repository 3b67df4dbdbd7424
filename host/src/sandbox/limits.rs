//! Per-job resource limits.

use std::time::Duration;

use super::EPOCH_TICK;

/// Bounds on one job that a caller chooses: guest memory and wall-clock time. (Handles
/// per job, hashing threads and descriptors per process are fixed; see the sandbox
/// module.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes the guest's linear memories and tables may grow to, all together.
    pub max_memory: u64,
    /// Longest the guest may run.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_memory: 1 << 30,
            timeout: Duration::from_secs(3600),
        }
    }
}

impl Limits {
    /// The memory cap as `usize`.
    pub fn max_memory_bytes(&self) -> usize {
        usize::try_from(self.max_memory).unwrap_or(usize::MAX)
    }

    /// Most bytes one call may pass from the guest to the host (wasmtime's hostcall
    /// fuel): the memory limit, and never less than wasmtime's default of 128 MiB. A
    /// guest cannot hold more than its memory limit, so this refuses only data it
    /// passes more than once in one call; a manifest of a million entries (some 300
    /// MB) fits under the default 1 GiB.
    pub fn hostcall_fuel(&self) -> usize {
        self.max_memory_bytes().max(128 << 20)
    }

    /// The deadline in epoch ticks (at least one).
    pub fn deadline_ticks(&self) -> u64 {
        let ticks = self.timeout.as_nanos().div_ceil(EPOCH_TICK.as_nanos());
        u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
    }
}

/// Parse a byte size such as `512M`, `2G`, `1048576` or `64KiB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (try 512M or 2G)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("{text:?} has an unknown unit (use K, M or G)")),
    };
    value
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5T").is_err());
        assert!(parse_size("99999999999G").is_err());
    }

    #[test]
    fn ticks_round_up() {
        let l = Limits {
            max_memory: 0,
            timeout: Duration::from_millis(25),
        };
        assert_eq!(l.deadline_ticks(), 3);
        let l = Limits {
            timeout: Duration::ZERO,
            ..l
        };
        assert_eq!(l.deadline_ticks(), 1);
    }
}

/// Enforces [`Limits::max_memory`] as one budget for the whole job: every linear
/// memory and every table of every core instance in the component counts against it,
/// so a component cannot multiply the cap by having more memories. Remembers whether
/// the guest hit the budget, so the trap that follows is reported as what it is.
#[derive(Debug)]
pub struct MemoryCap {
    max: usize,
    /// Bytes of all memories and tables now.
    used: usize,
    /// The growth last allowed, taken back if the growth then fails.
    pending: usize,
    hit: bool,
    peak: usize,
}

/// What one table element costs the host (wasmtime stores a pointer per element).
const TABLE_ELEMENT_BYTES: usize = size_of::<usize>();

/// Most linear memories, tables and core instances one job may create. The component
/// needs a handful of each; the defaults (10,000) would let a component reserve
/// address space for thousands of memories before touching a byte.
const MAX_MEMORIES: usize = 16;
const MAX_TABLES: usize = 64;
const MAX_INSTANCES: usize = 64;

impl MemoryCap {
    /// A budget of `max` bytes.
    pub fn new(max: usize) -> Self {
        MemoryCap {
            max,
            used: 0,
            pending: 0,
            hit: false,
            peak: 0,
        }
    }

    /// Whether the guest tried to grow past the budget.
    pub fn hit(&self) -> bool {
        self.hit
    }

    /// The most bytes of memories and tables the job has held at once.
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// Account for a growth from `current` to `desired` bytes of one memory or table.
    fn grow(&mut self, what: &str, current: usize, desired: usize) -> wasmtime::Result<bool> {
        let more = desired.saturating_sub(current);
        let total = self.used.saturating_add(more);
        if total > self.max {
            self.hit = true;
            wasmtime::bail!(
                "guest {what} would grow the job to {total} bytes, over its budget of {}",
                self.max
            );
        }
        self.used = total;
        self.pending = more;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn grow_failed(&mut self) {
        self.used -= std::mem::take(&mut self.pending);
    }
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow("memory", current, desired)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.grow_failed();
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let bytes = |n: usize| n.saturating_mul(TABLE_ELEMENT_BYTES);
        self.grow("table", bytes(current), bytes(desired))
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.grow_failed();
        Ok(())
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod cap_tests {
    use wasmtime::ResourceLimiter as _;

    use super::*;

    #[test]
    fn memories_and_tables_share_one_budget() {
        let mut cap = MemoryCap::new(10 << 20);
        assert!(cap.memory_growing(0, 4 << 20, None).unwrap());
        assert!(cap.memory_growing(0, 4 << 20, None).unwrap());
        // A third memory of 4 MiB would make 12 MiB in all.
        assert!(cap.memory_growing(0, 4 << 20, None).is_err());
        assert!(cap.hit());
        // A failed growth gives its share back.
        let mut cap = MemoryCap::new(10 << 20);
        assert!(cap.memory_growing(0, 8 << 20, None).unwrap());
        cap.memory_grow_failed(wasmtime::format_err!("no")).unwrap();
        assert!(cap.table_growing(0, 1 << 20, None).unwrap());
        assert!(cap.table_growing(1 << 20, 2 << 20, None).is_err());
        assert_eq!(cap.peak(), 8 << 20);
    }
}
