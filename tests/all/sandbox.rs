//! Sandbox limits and embedding: deadlines, memory caps, many jobs on one engine.

use std::fs;
use std::time::Duration;

use repack_host::{ComponentSource, JobError, Limits, MtreeRequest, Repacker, SandboxError};

use crate::support::cache_dir;

fn repacker() -> Repacker {
    Repacker::with_cache(&ComponentSource::Embedded, Some(&cache_dir())).unwrap()
}

/// A rootfs with `n` small files in 10 directories.
fn tree(n: usize) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for i in 0..n {
        let dir = tmp.path().join(format!("d{}", i % 10));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(format!("f{i}")), i.to_string()).unwrap();
    }
    tmp
}

#[test]
fn a_job_past_its_deadline_is_stopped() {
    let rootfs = tree(5000);
    let limits = Limits {
        timeout: Duration::from_millis(1),
        ..Limits::default()
    };
    let err = repacker()
        .mtree(&MtreeRequest::new(rootfs.path()), &limits)
        .unwrap_err();
    assert!(
        matches!(err, JobError::Sandbox(SandboxError::Timeout(_))),
        "{err}"
    );
    assert!(err.to_string().contains("time limit"), "{err}");
}

#[test]
fn a_job_over_its_memory_cap_is_stopped() {
    let rootfs = tree(10);
    let limits = Limits {
        max_memory: 64 << 10,
        ..Limits::default()
    };
    let err = repacker()
        .mtree(&MtreeRequest::new(rootfs.path()), &limits)
        .unwrap_err();
    assert!(
        matches!(err, JobError::Sandbox(SandboxError::OutOfMemory(65536))),
        "{err}"
    );
}

#[test]
fn a_cap_that_fits_lets_the_job_finish_and_a_growing_one_does_not() {
    // 20k entries need more than a few MiB of guest memory for the manifest alone.
    let rootfs = tree(20_000);
    let repacker = repacker();
    let request = MtreeRequest::new(rootfs.path());
    let small = Limits {
        max_memory: 4 << 20,
        ..Limits::default()
    };
    let err = repacker.mtree(&request, &small).unwrap_err();
    assert!(
        matches!(err, JobError::Sandbox(SandboxError::OutOfMemory(_))),
        "{err}"
    );
    let manifest = repacker.mtree(&request, &Limits::default()).unwrap();
    assert_eq!(manifest.matches("sha256digest=").count(), 20_000);
}

#[test]
fn one_engine_serves_jobs_on_many_threads() {
    let rootfs = tree(200);
    let repacker = repacker();
    let mut request = MtreeRequest::new(rootfs.path());
    request.date = "fixed".into();
    let expected = repacker.mtree(&request, &Limits::default()).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (repacker, request) = (repacker.clone(), request.clone());
            std::thread::spawn(move || repacker.mtree(&request, &Limits::default()).unwrap())
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap(), expected);
    }
}
