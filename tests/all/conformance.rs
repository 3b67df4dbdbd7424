//! The conformance kit (`conformance/`) run against repack-host through its library
//! API (`host/examples/kit_host.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{have, root};

/// The workspace's `conformance/` directory.
pub fn kit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance")
}

/// Whether the kit can run here: root and the fixture's tools (fails under CI=true
/// when they are missing, skips elsewhere).
pub fn kit_can_run() -> bool {
    root() && have("setfattr") && have("setcap")
}

/// The `kit_host` example, built first when this test binary was built without it.
fn kit_host() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/all-<hash> -> target/<profile>/examples/kit_host
    let profile = exe.parent().and_then(Path::parent).unwrap();
    let host = profile.join("examples/kit_host");
    if !host.exists() {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--release",
                "-p",
                "repack-host",
                "--example",
                "kit_host",
            ])
            .status()
            .unwrap();
        assert!(status.success(), "building the kit_host example failed");
    }
    host
}

/// Run the kit's driver with `args`, requiring every check to pass; returns its report.
pub fn run_kit(args: &[&str], host: &[&std::ffi::OsStr]) -> String {
    run_kit_with(args, host, &[])
}

/// [`run_kit`] with environment variables for the host.
pub fn run_kit_with(
    args: &[&str],
    host: &[&std::ffi::OsStr],
    env: &[(&str, &std::ffi::OsStr)],
) -> String {
    let out = Command::new(kit().join("run.sh"))
        .envs(env.iter().copied())
        .args(args)
        .arg("--")
        .args(host)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "conformance failed:\n{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    report
}

#[test]
fn repack_host_passes_the_conformance_kit() {
    if !kit_can_run() {
        return;
    }
    let host = kit_host();
    let report = run_kit(&[], &[host.as_os_str()]);
    assert!(
        report.contains("conformance: 5 passed, 0 failed, 0 skipped"),
        "{report}"
    );
}

#[test]
fn the_kit_fails_a_host_that_differs() {
    if !kit_can_run() {
        return;
    }
    // A host whose manifests drop one entry and whose layers are one byte longer.
    let tmp = tempfile::tempdir().unwrap();
    let wrapper = tmp.path().join("wrong-host");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nset -e\nhost={}\ncase $1 in\n\
             mtree) \"$host\" \"$@\" | grep -v ' fifo ' ;;\n\
             layer) \"$host\" \"$@\" >/dev/null; printf x >>\"$3\"; \
             echo sha256:$(sha256sum \"$3\" | cut -d' ' -f1) ;;\n\
             *) \"$host\" \"$@\" ;;\nesac\n",
            kit_host().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = Command::new(kit().join("run.sh"))
        .arg("--")
        .arg(&wrapper)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{report}");
    for check in [
        "base.mtree",
        "layer1",
        "edited.mtree",
        "layer2",
        "unpack round trip",
    ] {
        assert!(report.contains(&format!("FAILED  {check}")), "{report}");
    }
}
