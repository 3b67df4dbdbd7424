//! The component in other hosts: the Node.js package (`hosts/node`) and the Python
//! example (`hosts/python`) under the conformance kit, on the component
//! `repack-host component` writes. Node's dependencies come from its lockfile, the
//! jco output is cached under the target directory by the wasm's sha256, and Python's
//! wasmtime goes into a virtual environment there (never the system's).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::conformance::{kit_can_run, run_kit_with};
use crate::support::{have, in_ci, repack_host, run_fail, run_ok, skipped};

/// Serializes the one-time setup steps (they write shared directories).
static SETUP: Mutex<()> = Mutex::new(());

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scratch() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("peer-hosts")
}

/// The component as other hosts get it: written by `repack-host component`.
fn component() -> PathBuf {
    let _guard = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch().join("component");
    let wasm = dir.join("repack.wasm");
    if std::fs::read(&wasm).ok().as_deref() != Some(repack_host::GUEST_COMPONENT) {
        run_ok(repack_host().arg("component").arg("--out").arg(&dir));
    }
    wasm
}

/// The jco output cache (one entry per component sha256).
fn jco_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("jco")
}

fn node_dir() -> PathBuf {
    workspace().join("hosts/node")
}

/// Node and the package's locked dependencies, installed when missing.
fn node_ready() -> bool {
    if !(have("node") && have("npm")) {
        return false;
    }
    let _guard = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let installed = node_dir().join("node_modules/@bytecodealliance/jco-transpile/package.json");
    if !installed.exists() {
        let mut npm = Command::new("npm");
        npm.args(["ci", "--no-audit", "--no-fund"])
            .current_dir(node_dir());
        // fs-xattr builds with node-gyp: use the system's headers, never a download.
        if Path::new("/usr/include/node/node_api.h").exists() {
            npm.env("npm_config_nodedir", "/usr");
        }
        run_ok(&mut npm);
    }
    true
}

fn node(args: &[&OsStr]) -> Command {
    let mut cmd = Command::new("node");
    cmd.args(args)
        .env("REPACK_COMPONENT", component())
        .env("REPACK_JCO_CACHE", jco_cache());
    cmd
}

/// Whether the fs-xattr addon loaded; without it the kit's xattrs cannot match.
fn node_has_xattrs() -> bool {
    let fs_mjs = node_dir().join("fs.mjs");
    let script = format!(
        "import({:?}).then(m => process.exit(m.xattrSupport ? 0 : 3))",
        fs_mjs.display().to_string()
    );
    let ok = Command::new("node")
        .args(["--input-type=module", "-e", &script])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !in_ci(),
            "the fs-xattr addon did not build (see npm ci's output)"
        );
        skipped("the fs-xattr addon is not built");
    }
    ok
}

#[test]
fn node_host_passes_the_conformance_kit() {
    if !(kit_can_run() && node_ready() && node_has_xattrs()) {
        return;
    }
    let cli = node_dir().join("cli.mjs");
    let wasm = component();
    let cache = jco_cache();
    let report = run_kit_with(
        &[],
        &[OsStr::new("node"), cli.as_os_str()],
        &[
            ("REPACK_COMPONENT", wasm.as_os_str()),
            ("REPACK_JCO_CACHE", cache.as_os_str()),
        ],
    );
    assert!(
        report.contains("conformance: 5 passed, 0 failed, 0 skipped"),
        "{report}"
    );
}

/// `node --test hosts/node/test`: instance reuse and replacement, unpack-layer (a round
/// trip, an entry below a symlink of the rootfs, a digest mismatch), and the `fs`
/// imports' confinement on writable and read-only handles.
#[test]
fn node_host_package_tests_pass() {
    if !node_ready() {
        return;
    }
    let tests = node_dir().join("test");
    run_ok(&mut node(&[OsStr::new("--test"), tests.as_os_str()]));
}

#[test]
fn node_cli_fails_in_one_line_naming_the_path() {
    if !node_ready() {
        return;
    }
    let cli = node_dir().join("cli.mjs");
    let missing = scratch().join("no-such-dir");
    let failed = run_fail(&mut node(&[
        cli.as_os_str(),
        OsStr::new("mtree"),
        missing.as_os_str(),
    ]));
    assert!(failed.stderr.contains("no-such-dir"), "{}", failed.stderr);
    assert_eq!(failed.stderr.trim().lines().count(), 1, "{}", failed.stderr);
    assert!(failed.stdout.is_empty());
}

/// A virtual environment under the target directory with the pinned wasmtime-py.
fn python_ready() -> Option<PathBuf> {
    if !have("python3") {
        return None;
    }
    let _guard = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let venv = scratch().join("python-venv");
    let python = venv.join("bin/python");
    let requirements = workspace().join("hosts/python/requirements.txt");
    let stamp = venv.join("requirements.txt");
    let current = std::fs::read(&requirements).unwrap();
    if std::fs::read(&stamp).ok() != Some(current.clone()) {
        let _ = std::fs::remove_dir_all(&venv);
        run_ok(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        run_ok(
            Command::new(&python)
                .args(["-m", "pip", "install", "--quiet", "--require-hashes", "-r"])
                .arg(&requirements),
        );
        std::fs::write(&stamp, current).unwrap();
    }
    Some(python)
}

#[test]
fn python_example_passes_the_conformance_kit_mtree() {
    if !kit_can_run() {
        return;
    }
    let Some(python) = python_ready() else {
        return;
    };
    let script = workspace().join("hosts/python/mtree.py");
    let wasm = component();
    let report = run_kit_with(
        &["--only", "mtree"],
        &[python.as_os_str(), script.as_os_str(), wasm.as_os_str()],
        &[],
    );
    assert!(
        report.contains("conformance: 1 passed, 0 failed, 1 skipped"),
        "{report}"
    );
}
