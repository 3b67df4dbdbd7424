//! The command line: umoci's surface, clear failures, stdout for results.

use crate::support::{repack_host, run_fail, run_ok};

#[test]
fn unpack_of_a_missing_layout_fails_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");
    let out = run_fail(
        repack_host()
            .args(["unpack", "--image", "/nonexistent/layout:t"])
            .arg(&bundle),
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("/nonexistent/layout: not an OCI image layout"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
    assert!(
        !bundle.exists(),
        "nothing is created before the image resolves"
    );
}

#[test]
fn missing_rootfs_is_one_line_naming_it() {
    let out = run_fail(repack_host().args(["raw", "mtree", "/nonexistent/rootfs"]));
    let stderr = &out.stderr;
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/nonexistent/rootfs"), "{stderr}");
    assert!(stderr.contains("no such file or directory"), "{stderr}");
}

#[test]
fn log_and_verbose_are_exclusive() {
    let out = run_fail(repack_host().args(["--log", "info", "--verbose", "raw", "mtree", "."]));
    assert!(out.stderr.contains("cannot be used with"));
    let out = run_fail(repack_host().args(["--log", "loud", "raw", "mtree", "."]));
    assert!(out.stderr.contains("invalid value 'loud'"));
}

#[test]
fn a_bad_component_is_reported_not_run() {
    let tmp = tempfile::tempdir().unwrap();
    let bogus = tmp.path().join("bogus.wasm");
    std::fs::write(&bogus, b"not wasm").unwrap();
    let out = run_fail(
        repack_host()
            .arg("--component")
            .arg(&bogus)
            .args(["raw", "mtree", "."]),
    );
    let stderr = &out.stderr;
    assert!(
        stderr.contains("cannot compile the guest component"),
        "{stderr}"
    );
    let out = run_fail(repack_host().args(["--component", "/no/such.wasm", "raw", "mtree", "."]));
    let stderr = &out.stderr;
    assert!(
        stderr.contains("/no/such.wasm: cannot read component"),
        "{stderr}"
    );
}

#[test]
fn compiled_component_is_cached_and_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let first = repack_host()
        .env("REPACK_CACHE_DIR", &cache)
        .args(["--log", "debug", "raw", "mtree"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(first.status.success());
    assert!(String::from_utf8_lossy(&first.stderr).contains("compiling the guest component"));
    let cached: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
    assert_eq!(cached.len(), 1, "one compiled component in the cache");
    let second = repack_host()
        .env("REPACK_CACHE_DIR", &cache)
        .args(["--log", "debug", "raw", "mtree"])
        .arg(tmp.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("loaded compiled component from cache"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("compiling the guest component"),
        "{stderr}"
    );
}

#[test]
fn demo_repacks_twice_and_umoci_reads_the_result() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("demo");
    let out = run_ok(repack_host().args(["demo", "--workdir"]).arg(&work));
    assert!(out.contains("base: manifest sha256:"), "{out}");
    assert!(
        out.contains("edited: manifest sha256:")
            && out.contains("added 1, modified ")
            && out.contains(", deleted 1"),
        "{out}"
    );
    assert!(out.contains(".wh.home"), "{out}");
    // Entry types as `ls -l` letters, `h` for the hardlink.
    assert!(out.contains("h 4755 bin/sh -> bin/busybox"), "{out}");
    assert!(out.contains("d 0755 etc/\n"), "{out}");
    assert!(out.contains("l 0777 motd -> /etc/motd\n"), "{out}");
    assert!(out.contains("- 0000 .wh.home\n"), "{out}");
    if !crate::support::have("umoci") {
        return;
    }
    let check = tmp.path().join("check");
    run_ok(
        crate::support::umoci_unpack()
            .arg("--image")
            .arg(format!("{}:edited", work.join("layout").display()))
            .arg(&check),
    );
    let rootfs = check.join("rootfs");
    let read = |p: &str| std::fs::read_to_string(rootfs.join(p)).unwrap();
    assert_eq!(read("etc/motd"), "welcome to repack, edited\n");
    assert_eq!(read("etc/added"), "new file\n");
    assert!(!rootfs.join("home").exists());
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mode = std::fs::metadata(rootfs.join("etc/hostname"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o600);
    let sh = std::fs::metadata(rootfs.join("bin/sh")).unwrap();
    let busybox = std::fs::metadata(rootfs.join("bin/busybox")).unwrap();
    assert_eq!(sh.ino(), busybox.ino());
    assert_eq!(sh.mode() & 0o7777, 0o4755);
    // Let the scratch directory go despite the 0000 directory.
    std::fs::set_permissions(
        rootfs.join("locked"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(
        work.join("bundle/rootfs/locked"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
}

#[test]
fn limit_flags_bound_the_guest() {
    let tmp = tempfile::tempdir().unwrap();
    for i in 0..3000 {
        std::fs::write(tmp.path().join(format!("f{i}")), i.to_string()).unwrap();
    }
    let out = run_fail(
        repack_host()
            .args(["--timeout", "1ms", "raw", "mtree"])
            .arg(tmp.path()),
    );
    let stderr = &out.stderr;
    assert!(
        stderr.contains("guest exceeded its time limit of 1ms"),
        "{stderr}"
    );
    let out = run_fail(
        repack_host()
            .args(["raw", "mtree", "--max-memory", "64K"])
            .arg(tmp.path()),
    );
    let stderr = &out.stderr;
    assert!(
        stderr.contains("guest exceeded its memory limit of 65536 bytes"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no partial manifest on stdout");
    let out = run_fail(repack_host().args(["--max-memory", "lots", "raw", "mtree", "."]));
    assert!(out.stderr.contains("is not a size"));
}

#[test]
fn init_and_new_make_a_layout_umoci_reads() {
    if !crate::support::have("umoci") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("nested/layout");
    let image = format!("{}:fresh", layout.display());
    run_ok(repack_host().args(["init", "--layout"]).arg(&layout));
    let again = run_fail(repack_host().args(["init", "--layout"]).arg(&layout));
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    run_ok(repack_host().args(["new", "--image", &image]));
    let tags = run_ok(
        std::process::Command::new("umoci")
            .args(["ls", "--layout"])
            .arg(&layout),
    );
    assert_eq!(tags.trim(), "fresh");
    let bundle = dir.path().join("bundle");
    run_ok(
        crate::support::umoci_unpack()
            .args(["--image", &image])
            .arg(&bundle),
    );
    assert_eq!(std::fs::read_dir(bundle.join("rootfs")).unwrap().count(), 0);
    let bad =
        run_fail(repack_host().args(["new", "--image", &format!("{}:.bad", layout.display())]));
    assert!(bad.stderr.contains("not valid"), "{}", bad.stderr);
}

#[test]
fn unpack_rejects_the_invalid_invocation_matrix() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let layout = dir.join("L");
    run_ok(repack_host().args(["init", "--layout"]).arg(&layout));
    let image = format!("{}:t", layout.display());
    run_ok(repack_host().args(["new", "--image", &image]));
    let l = layout.display().to_string();
    let cases: Vec<Vec<String>> = vec![
        vec![],
        vec!["b".into()],
        vec!["--image".into(), image.clone()],
        vec!["--image".into(), ":t".into(), "b".into()],
        vec!["--image".into(), format!("{l}-missing:t"), "b".into()],
        vec!["--image".into(), format!("{l}:"), "b".into()],
        vec!["--image".into(), format!("{l}:.AZ94n18s"), "b".into()],
        vec!["--image".into(), format!("{l}:nosuchtag"), "b".into()],
        vec!["--image".into(), image.clone(), "b".into(), "extra1".into()],
        vec![
            "--image".into(),
            image.clone(),
            "--bogus".into(),
            "b".into(),
        ],
        vec![
            "--image".into(),
            image.clone(),
            "--uid-map".into(),
            "x:1".into(),
            "b".into(),
        ],
    ];
    for args in cases {
        let out = run_fail(repack_host().arg("unpack").args(&args).current_dir(dir));
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}");
        for name in ["b", "extra1"] {
            assert!(!dir.join(name).exists(), "{args:?} created {name}");
        }
    }
    // A bundle that already has a rootfs is refused, and left alone.
    std::fs::create_dir_all(dir.join("b/rootfs/keep")).unwrap();
    let out = run_fail(
        repack_host()
            .args(["unpack", "--image", &image, "b"])
            .current_dir(dir),
    );
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);
    assert!(dir.join("b/rootfs/keep").exists());
}
