//! Per-job resource limits.

use std::time::Duration;

use super::EPOCH_TICK;

/// Bounds on one job that a caller chooses. Each is enforced while the job runs, and
/// the error of a job that hits one names it (see [`Budget`]). The defaults are
/// generous, for one user at a command line; a service running many tenants' jobs sets
/// its own. (Hashing threads and descriptors per process are fixed; see the sandbox
/// module.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes the guest's linear memories and tables may grow to, all together.
    pub max_memory: u64,
    /// Longest the guest may run.
    pub timeout: Duration,
    /// Most bytes one layer may expand to when an unpack decompresses it (a
    /// decompression bomb stops here).
    pub max_layer_size: u64,
    /// Most uncompressed bytes a job may write as layer data (the tar stream).
    pub max_layer_written: u64,
    /// Most bytes a job's compressed layer blob may take on disk.
    pub max_layer_compressed: u64,
    /// Most bytes the guest may read through `fs`: file contents it reads, files the
    /// host hashes for it or copies into its layer (`write-file`), and layer blobs it
    /// is given.
    pub max_read: u64,
    /// Most files, and most file writers, the guest may hold open at once.
    pub max_open_files: usize,
    /// Most component-model handles of every kind the guest may hold at once
    /// (wasmtime's default is 100,000).
    pub max_handles: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_memory: 1 << 30,
            timeout: Duration::from_secs(3600),
            max_layer_size: 64 << 30,
            max_layer_written: 1 << 40,
            max_layer_compressed: 1 << 40,
            max_read: u64::MAX,
            max_open_files: 64,
            max_handles: 4096,
        }
    }
}

/// One of the budgets in [`Limits`], as errors, usage reports and `batch` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Budget {
    /// [`Limits::max_memory`].
    Memory,
    /// [`Limits::timeout`].
    Timeout,
    /// [`Limits::max_layer_size`].
    LayerSize,
    /// [`Limits::max_layer_written`].
    LayerWritten,
    /// [`Limits::max_layer_compressed`].
    LayerCompressed,
    /// [`Limits::max_read`].
    Read,
    /// [`Limits::max_open_files`].
    OpenFiles,
    /// [`Limits::max_handles`].
    Handles,
}

impl Budget {
    /// Every budget.
    pub const ALL: [Budget; 8] = [
        Budget::Memory,
        Budget::Timeout,
        Budget::LayerSize,
        Budget::LayerWritten,
        Budget::LayerCompressed,
        Budget::Read,
        Budget::OpenFiles,
        Budget::Handles,
    ];

    /// The budget's name: the key of `batch`'s `limits` object and its `limit` field.
    pub const fn name(self) -> &'static str {
        match self {
            Budget::Memory => "memory",
            Budget::Timeout => "timeout",
            Budget::LayerSize => "max_layer_size",
            Budget::LayerWritten => "max_layer_written",
            Budget::LayerCompressed => "max_layer_compressed",
            Budget::Read => "max_read",
            Budget::OpenFiles => "max_open_files",
            Budget::Handles => "max_handles",
        }
    }

    /// The budget a name means.
    pub fn from_name(name: &str) -> Option<Budget> {
        Budget::ALL.into_iter().find(|b| b.name() == name)
    }
}

impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
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

    /// Set `budget` from `text` (a size, a count, or for the timeout a duration).
    pub fn set(&mut self, budget: Budget, text: &str) -> Result<(), String> {
        let count = || -> Result<usize, String> {
            text.trim()
                .parse()
                .map_err(|_| format!("{text:?} is not a count"))
        };
        match budget {
            Budget::Memory => self.max_memory = parse_size(text)?,
            Budget::Timeout => self.timeout = parse_duration(text)?,
            Budget::LayerSize => self.max_layer_size = parse_size(text)?,
            Budget::LayerWritten => self.max_layer_written = parse_size(text)?,
            Budget::LayerCompressed => self.max_layer_compressed = parse_size(text)?,
            Budget::Read => self.max_read = parse_size(text)?,
            Budget::OpenFiles => self.max_open_files = count()?,
            Budget::Handles => self.max_handles = count()?,
        }
        Ok(())
    }
}

/// Parse a duration such as `90s`, `1.5m`, `1h`, `250ms` or `30` (seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (try 90s or 10m)"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("{text:?} has an unknown unit (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
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
            ..Limits::default()
        };
        assert_eq!(l.deadline_ticks(), 3);
        let l = Limits {
            timeout: Duration::ZERO,
            ..l
        };
        assert_eq!(l.deadline_ticks(), 1);
    }

    #[test]
    fn budgets_by_name() {
        let mut l = Limits::default();
        for budget in Budget::ALL {
            assert_eq!(Budget::from_name(budget.name()), Some(budget));
        }
        l.set(Budget::Memory, "256M").unwrap();
        l.set(Budget::Timeout, "30s").unwrap();
        l.set(Budget::LayerCompressed, "1G").unwrap();
        l.set(Budget::OpenFiles, "8").unwrap();
        assert_eq!(l.max_memory, 256 << 20);
        assert_eq!(l.timeout, Duration::from_secs(30));
        assert_eq!(l.max_layer_compressed, 1 << 30);
        assert_eq!(l.max_open_files, 8);
        assert!(l.set(Budget::Timeout, "soon").is_err());
        assert!(l.set(Budget::OpenFiles, "8M").is_err());
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
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
