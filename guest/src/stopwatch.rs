//! Wall time per phase of a job, reported to the host for `--stats`.

use std::time::Instant;

/// One finished phase: its name and how long it took.
pub type Lap = (&'static str, u64);

/// Times consecutive phases.
#[derive(Debug, Clone)]
pub struct Stopwatch {
    since: Instant,
    laps: Vec<Lap>,
}

impl Default for Stopwatch {
    fn default() -> Self {
        Self::new()
    }
}

impl Stopwatch {
    /// Start the first phase now.
    pub fn new() -> Self {
        Stopwatch {
            since: Instant::now(),
            laps: Vec::new(),
        }
    }

    /// End the current phase as `name` and start the next one.
    pub fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        let nanos = now.duration_since(self.since).as_nanos();
        self.laps
            .push((name, u64::try_from(nanos).unwrap_or(u64::MAX)));
        self.since = now;
    }

    /// The phases so far, in order, in nanoseconds.
    pub fn laps(self) -> Vec<Lap> {
        self.laps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn laps_come_in_order_and_add_up() {
        let start = Instant::now();
        let mut watch = Stopwatch::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        watch.lap("first");
        watch.lap("second");
        let laps = watch.laps();
        let total = start.elapsed().as_nanos() as u64;
        assert_eq!(
            laps.iter().map(|l| l.0).collect::<Vec<_>>(),
            ["first", "second"]
        );
        assert!(laps[0].1 >= 2_000_000, "{laps:?}");
        assert!(laps.iter().map(|l| l.1).sum::<u64>() <= total);
    }
}
