//! Per-job resource limits.

use std::time::Duration;

use super::EPOCH_TICK;

/// Bounds on one job: guest linear memory and wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of linear memory the guest may grow to.
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

/// Enforces [`Limits::max_memory`] and remembers whether the guest hit it, so the trap
/// that follows can be reported as what it is.
#[derive(Debug)]
pub struct MemoryCap {
    max: usize,
    hit: bool,
    peak: usize,
}

/// Most table elements a guest may have (tables hold function references).
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl MemoryCap {
    /// A cap of `max` bytes.
    pub fn new(max: usize) -> Self {
        MemoryCap {
            max,
            hit: false,
            peak: 0,
        }
    }

    /// Whether the guest tried to grow past the cap.
    pub fn hit(&self) -> bool {
        self.hit
    }

    /// The largest size a memory has been allowed to grow to.
    pub fn peak(&self) -> usize {
        self.peak
    }
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.hit = true;
            wasmtime::bail!("guest memory would grow to {desired} bytes, over the cap");
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
