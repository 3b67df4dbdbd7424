//! The cost of starting one job.

use std::time::{Duration, Instant};

use repack_host::sandbox::{ComponentSource, Sandbox};
use repack_host::Limits;

#[test]
fn job_start_cost() {
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache");
    let sandbox = Sandbox::new(&ComponentSource::Embedded, Some(&cache)).unwrap();
    let limits = Limits::default();
    for _ in 0..50 {
        drop(sandbox.job(&limits).unwrap());
    }
    let mut times: Vec<Duration> = (0..500)
        .map(|_| {
            let start = Instant::now();
            let job = sandbox.job(&limits).unwrap();
            drop(job);
            start.elapsed()
        })
        .collect();
    times.sort();
    eprintln!("job start: median {:?}, p90 {:?}", times[250], times[450]);
}
