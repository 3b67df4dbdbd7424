//! Wall time per phase of a job, reported to the host for `--stats`.
//!
//! The time comes from a [`Clock`] the caller passes in. Inside the component that is
//! the host's `clock.now` import, so a job reads no WASI clock: a host that links no
//! WASI at all (or traps every WASI call) still runs every job to the same result.

use std::fmt;

/// A monotonic clock: nanoseconds since an arbitrary origin that stays fixed for the
/// life of the process.
#[derive(Clone, Copy)]
pub struct Clock(pub fn() -> u64);

impl Clock {
    /// The current reading.
    pub fn now(self) -> u64 {
        (self.0)()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

impl Default for Clock {
    /// A clock that always reads zero: every phase takes no time. Jobs that want
    /// timings pass a real one ([`Clock::native`] natively, the host's in the component).
    fn default() -> Self {
        Clock(|| 0)
    }
}

impl Clock {
    /// The standard library's monotonic clock (native builds and tests).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn native() -> Self {
        use std::sync::OnceLock;
        use std::time::Instant;
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        Clock(|| {
            let origin = *ORIGIN.get_or_init(Instant::now);
            u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
        })
    }
}

/// One finished phase: its name and how long it took.
pub type Lap = (&'static str, u64);

/// Times consecutive phases.
#[derive(Debug, Clone)]
pub struct Stopwatch {
    clock: Clock,
    since: u64,
    laps: Vec<Lap>,
}

impl Stopwatch {
    /// Start the first phase now, as `clock` tells it.
    pub fn new(clock: Clock) -> Self {
        Stopwatch {
            clock,
            since: clock.now(),
            laps: Vec::new(),
        }
    }

    /// End the current phase as `name` and start the next one. A clock that steps
    /// back counts the phase as zero.
    pub fn lap(&mut self, name: &'static str) {
        let now = self.clock.now();
        self.laps.push((name, now.saturating_sub(self.since)));
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
    use std::cell::Cell;

    #[test]
    fn laps_come_in_order_and_add_up() {
        let clock = Clock::native();
        let start = clock.now();
        let mut watch = Stopwatch::new(clock);
        std::thread::sleep(std::time::Duration::from_millis(2));
        watch.lap("first");
        watch.lap("second");
        let laps = watch.laps();
        let total = clock.now() - start;
        assert_eq!(
            laps.iter().map(|l| l.0).collect::<Vec<_>>(),
            ["first", "second"]
        );
        assert!(laps[0].1 >= 2_000_000, "{laps:?}");
        assert!(laps.iter().map(|l| l.1).sum::<u64>() <= total);
    }

    thread_local! {
        static TICKS: Cell<u64> = const { Cell::new(0) };
    }

    #[test]
    fn a_passed_in_clock_is_the_only_source_and_steps_back_count_zero() {
        fn scripted() -> u64 {
            TICKS.with(|t| {
                let now = t.get();
                // 100, 350, 200 (back), 260.
                t.set(match now {
                    0 => 100,
                    100 => 350,
                    350 => 200,
                    _ => 260,
                });
                t.get()
            })
        }
        let mut watch = Stopwatch::new(Clock(scripted));
        watch.lap("a");
        watch.lap("b");
        watch.lap("c");
        assert_eq!(watch.laps(), [("a", 250), ("b", 0), ("c", 60)]);
        assert_eq!(Clock::default().now(), 0);
    }
}
