//! `repack-host component --out DIR`: the component other hosts embed.

use std::fs;
use std::process::Command;

use crate::support::{repack_host, run_ok};

#[test]
fn component_writes_the_running_wasm_its_wit_and_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("new/dir");
    let printed = run_ok(repack_host().arg("component").arg("--out").arg(&out));

    let wasm = fs::read(out.join("repack.wasm")).unwrap();
    assert_eq!(wasm, repack_host::GUEST_COMPONENT);
    let wit = fs::read_to_string(out.join("repack.wit")).unwrap();
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/../wit/repack.wit");
    assert_eq!(wit, fs::read_to_string(source).unwrap());
    assert!(wit.contains("package repack:bundle@0."), "{wit}");

    // The digest file checks with sha256sum and matches what was printed.
    let sum = fs::read_to_string(out.join("repack.wasm.sha256")).unwrap();
    let hex = sum
        .strip_suffix("  repack.wasm\n")
        .expect("sha256sum format");
    assert_eq!(printed.trim(), format!("sha256:{hex}"));
    run_ok(
        Command::new("sha256sum")
            .args(["--check", "--strict", "repack.wasm.sha256"])
            .current_dir(&out),
    );

    // The written file is a component the host runs like the embedded one.
    let rootfs = tmp.path().join("rootfs");
    fs::create_dir_all(rootfs.join("d")).unwrap();
    fs::write(rootfs.join("d/f"), "x").unwrap();
    let entries = |text: String| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    let embedded = run_ok(repack_host().args(["raw", "mtree"]).arg(&rootfs));
    let exported = run_ok(
        repack_host()
            .arg("--component")
            .arg(out.join("repack.wasm"))
            .args(["raw", "mtree"])
            .arg(&rootfs),
    );
    assert_eq!(entries(exported), entries(embedded));

    // Run again: the files are replaced, not appended to or refused.
    run_ok(repack_host().arg("component").arg("--out").arg(&out));
    assert_eq!(fs::read(out.join("repack.wasm")).unwrap(), wasm);
}

#[test]
fn component_into_a_file_fails_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("plain");
    fs::write(&file, "").unwrap();
    let failed = crate::support::run_fail(repack_host().arg("component").arg("--out").arg(&file));
    assert!(failed.stderr.contains("plain"), "{}", failed.stderr);
    assert_eq!(failed.stderr.trim().lines().count(), 1, "{}", failed.stderr);
}
