//! Guests written to misbehave (the `repack-hostile` components) against the sandbox.
//!
//! Every job must end in an error naming the limit it hit, the process must never
//! panic or abort, its threads, descriptors and resident memory must stay within the
//! stated bounds while the job runs, and the built-in component must work right after
//! in the same process. The tests run one at a time so that each measures only itself.

mod measure;
mod memories;

use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use repack_host::bindings::{MapOptions, MtreeHeader, UnpackOptions};
use repack_host::sandbox::{HandleKind, TextSink, hash_threads};
use repack_host::{ComponentSource, JobError, Limits, MtreeRequest, Repacker, SandboxError};

use measure::{Growth, Watch};

const MIB: u64 = 1 << 20;

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn cache_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache")
}

fn hostile(name: &str) -> Repacker {
    let path = repack_hostile::component(name);
    Repacker::with_cache(&ComponentSource::File(path), Some(&cache_dir())).unwrap()
}

/// A rootfs holding one file `f`.
fn rootfs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "data").unwrap();
    dir
}

fn limits(max_memory: u64) -> Limits {
    Limits {
        max_memory,
        timeout: Duration::from_secs(60),
        ..Limits::default()
    }
}

/// Run an mtree job of `repacker` on a fresh rootfs, measuring it.
fn mtree(repacker: &Repacker, limits: &Limits) -> (Result<String, JobError>, Growth) {
    let rootfs = rootfs();
    let request = MtreeRequest::new(rootfs.path());
    let watch = Watch::start();
    let result = repacker.mtree(&request, limits);
    (result, watch.stop())
}

/// The built-in component still works in this process.
fn builtin_still_works() {
    static BUILTIN: OnceLock<Repacker> = OnceLock::new();
    let repacker = BUILTIN.get_or_init(|| {
        Repacker::with_cache(&ComponentSource::Embedded, Some(&cache_dir())).unwrap()
    });
    let rootfs = rootfs();
    let manifest = repacker
        .mtree(&MtreeRequest::new(rootfs.path()), &Limits::default())
        .unwrap();
    assert!(manifest.contains(" f size=4 "), "{manifest}");
}

/// The error is one line and names `words`.
fn one_line_naming(err: &JobError, words: &[&str]) {
    let text = err.to_string();
    assert!(!text.contains('\n'), "not one line: {text}");
    for word in words {
        assert!(text.contains(word), "{text:?} does not name {word:?}");
    }
}

#[test]
fn an_endless_loop_stops_at_the_deadline() {
    let _serial = serial();
    let repacker = hostile("endless_loop");
    let limits = Limits {
        timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let start = Instant::now();
    let (result, _) = mtree(&repacker, &limits);
    let err = result.unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(
        matches!(err, JobError::Sandbox(SandboxError::Timeout(_))),
        "{err}"
    );
    one_line_naming(&err, &["time limit", "300ms"]);
    builtin_still_works();
}

#[test]
fn a_memory_bomb_stops_at_the_budget_and_stays_resident_under_it() {
    let _serial = serial();
    let repacker = hostile("memory_bomb");
    let (result, growth) = mtree(&repacker, &limits(64 * MIB));
    let err = result.unwrap_err();
    assert!(
        matches!(err, JobError::Sandbox(SandboxError::OutOfMemory(_))),
        "{err}"
    );
    one_line_naming(&err, &["memory limit", &(64 * MIB).to_string()]);
    assert!(growth.rss < 64 * MIB + 32 * MIB, "{growth:?}");
    builtin_still_works();
}

#[test]
fn several_memories_share_one_budget() {
    let _serial = serial();
    let base = std::fs::read(repack_hostile::component("benign")).unwrap();
    // Six more memories of 48 MiB each: 288 MiB, each under the 128 MiB budget.
    let bytes = memories::with_memories(&base, 6, 768);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memories.wasm");
    std::fs::write(&path, bytes).unwrap();
    let repacker = Repacker::with_cache(&ComponentSource::File(path), None).unwrap();

    let (result, growth) = mtree(&repacker, &limits(128 * MIB));
    let err = result.unwrap_err();
    assert!(
        matches!(err, JobError::Sandbox(SandboxError::OutOfMemory(_))),
        "{err}"
    );
    one_line_naming(&err, &["memory limit", &(128 * MIB).to_string()]);
    assert!(growth.rss < 128 * MIB + 48 * MIB, "{growth:?}");

    // Within a budget that holds them all, the same component runs, and its memories
    // are resident (the measurement above would have seen them).
    let (result, growth) = mtree(&repacker, &limits(512 * MIB));
    assert_eq!(result.unwrap(), "benign\n");
    assert!(growth.rss > 5 * 48 * MIB, "{growth:?}");
    builtin_still_works();
}

#[test]
fn leaked_files_stop_at_the_open_file_limit() {
    let _serial = serial();
    let repacker = hostile("leak_files");
    let (result, growth) = mtree(&repacker, &limits(256 * MIB));
    let err = result.unwrap_err();
    assert!(
        matches!(
            err,
            JobError::Sandbox(SandboxError::TooManyHandles(hit)) if hit.kind == HandleKind::File
        ),
        "{err}"
    );
    one_line_naming(&err, &["too many open files", "64"]);
    // At least a third of the cap seen (the sampler polls every millisecond and a
    // loaded machine can hide some of the flood), never more than the cap and slack.
    assert!((20..=64 + 8).contains(&growth.fds), "{growth:?}");
    builtin_still_works();
}

#[test]
fn files_opened_and_dropped_are_not_counted_against_the_limit() {
    let _serial = serial();
    let repacker = hostile("churn_files");
    let (result, growth) = mtree(&repacker, &limits(256 * MIB));
    assert_eq!(result.unwrap(), "churned\n");
    assert!(growth.fds <= 8, "{growth:?}");
}

#[test]
fn a_hasher_flood_stops_at_the_limit_without_a_thread_each() {
    let _serial = serial();
    let repacker = hostile("flood_hashers");
    let (result, growth) = mtree(&repacker, &limits(256 * MIB));
    let err = result.unwrap_err();
    assert!(
        matches!(
            err,
            JobError::Sandbox(SandboxError::TooManyHandles(hit)) if hit.kind == HandleKind::Hasher
        ),
        "{err}"
    );
    one_line_naming(&err, &["too many open hashers", "16"]);
    // At most the pool's hashing threads (and at least one: the sampler sees them).
    assert!(
        (1..=hash_threads()).contains(&growth.hash_threads),
        "{growth:?}"
    );
    // All threads: those, the sampler's own, and a test thread the harness may start.
    assert!(growth.threads <= hash_threads() + 2, "{growth:?}");
    builtin_still_works();
}

#[test]
fn a_writer_flood_stops_at_the_limit() {
    let _serial = serial();
    let repacker = hostile("flood_writers");
    let scratch = tempfile::tempdir().unwrap();
    let rootfs = scratch.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    let options = UnpackOptions {
        map_options: MapOptions {
            uid_mappings: Vec::new(),
            gid_mappings: Vec::new(),
            rootless: false,
        },
        keep_dirlinks: false,
        max_layer_size: 1 << 30,
    };
    let header = MtreeHeader {
        user: None,
        machine: None,
        tree: "rootfs".into(),
        date: "now".into(),
    };
    let bundle = repack_host::handle::ambient_dir(scratch.path(), true).unwrap();
    let staged = || TextSink::staged(repack_host::handle::Staged::create(&bundle, 0o644).unwrap());
    let texts = repack_host::repacker::BundleTexts {
        manifest: staged(),
        stat_cache: staged(),
        header,
    };
    let watch = Watch::start();
    let dir = repack_host::capability::CapDir::open_ambient_writable(&rootfs).unwrap();
    let result = repacker.unpack_layers(
        dir,
        &rootfs,
        Vec::new(),
        &options,
        Some(texts),
        &limits(256 * MIB),
        &mut repack_host::stats::Stats::default(),
    );
    let growth = watch.stop();
    let err = result.unwrap_err();
    assert!(
        matches!(
            err,
            JobError::Sandbox(SandboxError::TooManyHandles(hit)) if hit.kind == HandleKind::FileWriter
        ),
        "{err}"
    );
    one_line_naming(&err, &["too many open file writers", "64"]);
    // At least a third of the cap seen (the sampler polls every millisecond and a
    // loaded machine can hide some of the flood), never more than the cap and slack.
    assert!((20..=64 + 8).contains(&growth.fds), "{growth:?}");
    builtin_still_works();
}

#[test]
fn a_panic_after_noise_is_shown_sanitized_with_its_end() {
    let _serial = serial();
    let repacker = hostile("panic_after_noise");
    let (result, growth) = mtree(&repacker, &limits(256 * MIB));
    let err = result.unwrap_err();
    let text = err.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("guest trapped: wasm `unreachable`"),
        "{text}"
    );
    // One short line, then an indented excerpt of at most a dozen short lines.
    assert!(lines.len() <= 1 + 12, "{text}");
    assert!(lines[1..].iter().all(|l| l.starts_with("    ")), "{text}");
    assert!(lines.iter().all(|l| l.len() < 300), "{text}");
    assert!(text.contains("bytes not kept"), "{text}");
    assert_eq!(lines.last().unwrap().trim(), "boom after noise", "{text}");
    // No control character reaches the reader: escapes, carriage returns and C1
    // controls are shown as octal escapes.
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{text:?}"
    );
    assert!(text.contains("\\033[2J"), "{text}");
    assert!(
        text.contains("\\015repack-host: mtree finished OK"),
        "{text}"
    );
    // Kept output is bounded however much the guest writes.
    assert!(growth.rss < 64 * MIB, "{growth:?}");
    builtin_still_works();
}

#[test]
fn a_call_passing_too_much_data_names_the_limit() {
    let _serial = serial();
    let repacker = hostile("oversized_call");
    let (result, _) = mtree(&repacker, &limits(96 * MIB));
    let err = result.unwrap_err();
    assert!(
        matches!(err, JobError::Sandbox(SandboxError::CallTooLarge(n)) if n == 128 << 20),
        "{err}"
    );
    one_line_naming(&err, &["134217728 bytes", "memory limit"]);
    builtin_still_works();
}

#[test]
fn a_shadow_stack_overflow_is_reported_as_such() {
    let _serial = serial();
    let repacker = hostile("stack_overflow");
    let (result, _) = mtree(&repacker, &limits(256 * MIB));
    let err = result.unwrap_err();
    assert!(
        matches!(err, JobError::Sandbox(SandboxError::StackOverflow(_))),
        "{err}"
    );
    one_line_naming(
        &err,
        &["overflowed its stack", "repack_hostile::guest::deep"],
    );
    builtin_still_works();
}

/// Through the CLI: every hostile component ends in exit status 1 (never a panic's
/// 101 or a signal) and one `repack-host:` line naming what happened.
#[test]
fn the_cli_survives_every_hostile_component() {
    let _serial = serial();
    let rootfs = rootfs();
    let cases = [
        ("endless_loop", "time limit"),
        ("memory_bomb", "memory limit"),
        ("leak_files", "too many open files"),
        ("flood_hashers", "too many open hashers"),
        ("flood_writers", "PermissionDenied"),
        ("oversized_call", "one call passed more than"),
        ("stack_overflow", "overflowed its stack"),
        ("panic_after_noise", "boom after noise"),
    ];
    for (name, expected) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_repack-host"))
            .env("REPACK_CACHE_DIR", cache_dir())
            .args(["--timeout", "2s", "--max-memory", "96M", "--component"])
            .arg(repack_hostile::component(name))
            .args(["raw", "mtree"])
            .arg(rootfs.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(out.stdout.is_empty(), "{name}");
        assert!(stderr.starts_with("repack-host: "), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        if name != "panic_after_noise" {
            assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        }
    }
}

/// Under a low descriptor limit the process-wide budget for guest handles comes first:
/// the guest is refused a file long before the process runs out.
#[test]
fn a_low_descriptor_limit_refuses_files_before_the_process_runs_out() {
    let _serial = serial();
    let rootfs = rootfs();
    let out = Command::new("sh")
        .args(["-c", "ulimit -n 300 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_repack-host"))
        .arg("--component")
        .arg(repack_hostile::component("leak_files"))
        .args(["raw", "mtree"])
        .arg(rootfs.path())
        .env("REPACK_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("too many open files in this process: jobs hold 22"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
