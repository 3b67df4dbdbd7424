//! The `clock` import: the guest's phase timings come from the host's monotonic clock,
//! not from WASI.

use std::sync::OnceLock;
use std::time::Instant;

use crate::bindings::clock;

use super::JobState;

/// The clock's origin: the first reading in this process.
static ORIGIN: OnceLock<Instant> = OnceLock::new();

impl clock::Host for JobState {
    fn now(&mut self) -> wasmtime::Result<u64> {
        let origin = *ORIGIN.get_or_init(Instant::now);
        Ok(u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }
}
