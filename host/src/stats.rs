//! Where a job's time went (`--stats`): host phases, the guest's own phases, the host
//! calls the guest made by kind, compression time and the guest's memory.

use std::fmt;
use std::time::{Duration, Instant};

/// Calls of one kind and their total time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallStat {
    /// How many calls.
    pub calls: u64,
    /// Their total time.
    pub time: Duration,
    /// Bytes they moved (file and layer data; 0 for metadata calls).
    pub bytes: u64,
}

impl CallStat {
    /// Count one call that started at `start` and moved `bytes`.
    pub fn add(&mut self, start: Instant, bytes: usize) {
        self.calls += 1;
        self.time += start.elapsed();
        self.bytes += bytes as u64;
    }

    /// Count one call that took `time` and moved `bytes`.
    pub fn add_spent(&mut self, time: Duration, bytes: u64) {
        self.calls += 1;
        self.time += time;
        self.bytes += bytes;
    }
}

/// The host calls a guest made, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostCalls {
    /// `metadata`, `read-dir`, `read-link`, `xattrs`.
    pub walk: CallStat,
    /// `digest` and the `hasher` resource.
    pub hash: CallStat,
    /// `open-read`, `file.read`, `blob-reader.read`, and the reading part of
    /// `blob-writer.write-file` (opening and reading the file).
    pub read: CallStat,
    /// `blob-writer.write` and the rest of `write-file`: the hand-off to the compressor,
    /// including any wait for it to catch up. (A `write-file` counts as one call here
    /// and one in `read`, its bytes in both.)
    pub layer: CallStat,
    /// The writing side of `dir` (unpack).
    pub write: CallStat,
}

/// A kind of host call (see [`HostCalls`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// See [`HostCalls::walk`].
    Walk,
    /// See [`HostCalls::hash`].
    Hash,
    /// See [`HostCalls::read`].
    Read,
    /// See [`HostCalls::layer`].
    Layer,
    /// See [`HostCalls::write`].
    Write,
}

impl HostCalls {
    /// The counter for `kind`.
    pub fn of(&mut self, kind: CallKind) -> &mut CallStat {
        match kind {
            CallKind::Walk => &mut self.walk,
            CallKind::Hash => &mut self.hash,
            CallKind::Read => &mut self.read,
            CallKind::Layer => &mut self.layer,
            CallKind::Write => &mut self.write,
        }
    }

    /// All calls together.
    pub fn total(&self) -> CallStat {
        [self.walk, self.hash, self.read, self.layer, self.write]
            .iter()
            .fold(CallStat::default(), |a, b| CallStat {
                calls: a.calls + b.calls,
                time: a.time + b.time,
                bytes: a.bytes + b.bytes,
            })
    }
}

/// A job's statistics.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Phases in order: the host's and, between them, the guest's (`guest:` prefix).
    pub phases: Vec<(String, Duration)>,
    /// Host calls made by the guest.
    pub calls: HostCalls,
    /// CPU time the compressor threads spent compressing.
    pub compress: Duration,
    /// The guest's linear memory at its largest, in bytes.
    pub guest_memory: u64,
}

impl Stats {
    /// Record a host phase.
    pub fn phase(&mut self, name: &str, time: Duration) {
        self.phases.push((name.to_owned(), time));
    }

    /// Record a host phase that started at `start` and ends now; returns now.
    pub fn lap(&mut self, name: &str, start: Instant) -> Instant {
        let now = Instant::now();
        self.phase(name, now.duration_since(start));
        now
    }

    /// The sum of all phases.
    pub fn total(&self) -> Duration {
        self.phases.iter().map(|p| p.1).sum()
    }
}

fn ms(d: Duration) -> String {
    format!("{:9.1} ms", d.as_secs_f64() * 1e3)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "stats: {:<22}{}", "total (phases)", ms(self.total()))?;
        for (name, time) in &self.phases {
            writeln!(f, "stats:   {name:<20}{}", ms(*time))?;
        }
        let kinds = [
            ("walk", self.calls.walk),
            ("hash", self.calls.hash),
            ("read", self.calls.read),
            ("layer", self.calls.layer),
            ("write", self.calls.write),
        ];
        let all = ("(all)", self.calls.total());
        for (name, c) in kinds.iter().chain([&all]).filter(|k| k.1.calls > 0) {
            write!(
                f,
                "stats: host calls {name:<11}{} in {} calls",
                ms(c.time),
                c.calls
            )?;
            if c.bytes > 0 {
                write!(f, ", {}", mib(c.bytes))?;
            }
            writeln!(f)?;
        }
        if self.compress > Duration::ZERO {
            writeln!(
                f,
                "stats: {:<22}{} CPU on the compressor threads",
                "compress",
                ms(self.compress)
            )?;
        }
        write!(f, "stats: guest memory peak {}", mib(self.guest_memory))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up_and_every_phase_is_printed() {
        let mut stats = Stats::default();
        stats.phase("open", Duration::from_millis(3));
        stats.phase("guest: walk", Duration::from_millis(7));
        stats.calls.walk = CallStat {
            calls: 5,
            time: Duration::from_millis(1),
            bytes: 0,
        };
        stats.calls.read = CallStat {
            calls: 2,
            time: Duration::from_millis(2),
            bytes: 3 << 20,
        };
        assert_eq!(stats.total(), Duration::from_millis(10));
        assert_eq!(stats.calls.total().calls, 7);
        assert_eq!(stats.calls.total().bytes, 3 << 20);
        let text = stats.to_string();
        assert!(text.contains("guest: walk"), "{text}");
        assert!(text.contains("in 5 calls"), "{text}");
        assert!(text.contains("3.0 MiB"), "{text}");
        assert!(
            text.contains("(all)") && text.contains("in 7 calls"),
            "{text}"
        );
        assert!(!text.contains("layer"), "{text}");
        assert!(text.lines().all(|l| l.starts_with("stats: ")), "{text}");
    }
}
