//! Helpers shared by the integration test binaries (`tests/all`, `tests/durability`):
//! running `repack-host` and umoci, skipping or failing when a peer or root is missing,
//! and reading bundles. Each binary uses part of it.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::Digest;

pub mod lab;

/// The `repack-host` binary, with the compiled-component cache in the target dir.
pub fn repack_host() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_repack-host"));
    cmd.env("REPACK_CACHE_DIR", cache_dir());
    cmd
}

/// A cache directory shared by the tests of this build.
pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache")
}

/// Run `cmd`, requiring success; returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawning a command");
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// What a failed command printed.
#[derive(Debug)]
pub struct Failed {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Run `cmd`, requiring failure; returns what it printed.
pub fn run_fail(cmd: &mut Command) -> Failed {
    let out = cmd.output().expect("spawning a command");
    assert!(!out.status.success(), "{cmd:?} unexpectedly succeeded");
    Failed {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Run `cmd`, requiring failure; returns its stderr, which must be exactly one line.
pub fn run_fail_line(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawning a command");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "{cmd:?} unexpectedly succeeded:\n{}{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{cmd:?}: a failure exits 1, not by a signal or panic:\n{stderr}"
    );
    let line = stderr.trim_end();
    assert_eq!(
        line.lines().count(),
        1,
        "{cmd:?}: the error is one line:\n{stderr}"
    );
    assert!(
        line.starts_with("repack-host: "),
        "{cmd:?}: the error is repack-host's own:\n{stderr}"
    );
    line.to_owned()
}

/// Whether tests must fail rather than skip when a peer, a tool or root is missing.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether `tool` is on PATH. Under `CI=true` a missing tool fails the test; elsewhere
/// the caller skips with a note.
pub fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !in_ci(),
            "{tool} is required under CI=true but is not installed"
        );
        skipped(&format!("{tool} is not installed"));
    }
    found
}

/// Note that the running test skips its work for `why`: on stderr, and as a line
/// `test<TAB>why` in the file `$REPACK_SKIPS` names, which `tests/run` sums up.
pub fn skipped(why: &str) {
    eprintln!("skipping: {why}");
    if let Some(log) = std::env::var_os("REPACK_SKIPS") {
        let test = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_owned();
        let line = format!("{test}\t{why}\n");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log);
        if let Ok(mut file) = file {
            let _ = std::io::Write::write_all(&mut file, line.as_bytes());
        }
    }
}

/// Whether the tests run as root; under `CI=true` root is required.
pub fn root() -> bool {
    let is_root = rustix::process::geteuid().is_root();
    if !is_root {
        assert!(!in_ci(), "this test needs root under CI=true");
        skipped("needs root");
    }
    is_root
}

/// `repack-host ARGS`, with `--rootless` after a leading `unpack` when the tests do not
/// run as root (only root can give files to root).
pub fn repack_host_with<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> Command {
    let mut cmd = repack_host();
    let mut args = args.into_iter().peekable();
    if let Some(first) = args.peek()
        && first.as_ref() == "unpack"
        && !rustix::process::geteuid().is_root()
    {
        cmd.arg(args.next().expect("peeked")).arg("--rootless");
    }
    cmd.args(args);
    cmd
}

/// `umoci unpack`, rootless when the tests do not run as root (umoci cannot give files
/// to root then).
pub fn umoci_unpack() -> Command {
    let mut cmd = Command::new("umoci");
    cmd.args(umoci_unpack_words());
    cmd
}

/// The words of [`umoci_unpack`], for scripts.
pub fn umoci_unpack_words() -> &'static [&'static str] {
    if rustix::process::geteuid().is_root() {
        &["unpack"]
    } else {
        &["unpack", "--rootless"]
    }
}

/// Run a shell script in `dir`, requiring success.
pub fn sh(dir: &Path, script: &str) {
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .output()
        .expect("spawning bash");
    assert!(
        out.status.success(),
        "script failed:\n{script}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Assert two maps from path to description agree, naming each path that differs with
/// its two values under `labels`.
pub fn assert_same_paths<V: PartialEq + std::fmt::Debug>(
    a: &std::collections::BTreeMap<String, V>,
    b: &std::collections::BTreeMap<String, V>,
    labels: (&str, &str),
    what: &str,
) {
    let mut problems = Vec::new();
    for path in a
        .keys()
        .chain(b.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        match (a.get(path), b.get(path)) {
            (Some(x), Some(y)) if x == y => {}
            (x, y) => problems.push(format!(
                "{path:?}:\n  {}: {x:?}\n  {}: {y:?}",
                labels.0, labels.1
            )),
        }
    }
    assert!(problems.is_empty(), "{what}:\n{}", problems.join("\n"));
}

/// Assert that two `config.json` files hold the same JSON value. Ours is built from the
/// runtime-spec types, whose field order differs from Go's, so the bytes differ while
/// every key and value is umoci's.
pub fn assert_same_json(ours: &[u8], theirs: &[u8], what: &str) {
    let parse = |bytes: &[u8], whose: &str| -> serde_json::Value {
        serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{what}: {whose} is not JSON: {e}"))
    };
    assert_eq!(parse(ours, "ours"), parse(theirs, "theirs"), "{what}");
}

/// The bundle's `.mtree` file (exactly one).
pub fn mtree_file(bundle: &Path) -> PathBuf {
    let files: Vec<PathBuf> = fs::read_dir(bundle)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mtree"))
        .collect();
    assert_eq!(files.len(), 1, "{bundle:?} has one .mtree: {files:?}");
    files[0].clone()
}

/// SHA-256 of `bytes`, in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
