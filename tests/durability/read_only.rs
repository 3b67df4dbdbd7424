//! A layout that cannot be written (a read-only mount; modes without write permission
//! for a non-root user): a repack fails in one line naming the cause, and the layout
//! is as it was.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::invariants::{assert_same, check, snapshot};
use crate::lab::{Lab, Mount};
use crate::support::{cache_dir, have, root, run_fail_line, run_ok, sh};

/// `img:base` and a bundle of it with a change.
fn lab_with_change() -> Lab {
    let lab = Lab::new();
    lab.unpack("img:base", "bundle");
    fs::write(lab.path().join("bundle/rootfs/change"), b"changed\n").unwrap();
    lab
}

#[test]
fn a_read_only_mount_fails_cleanly() {
    if !root() {
        return;
    }
    let lab = lab_with_change();
    let layout = lab.layout();
    let before = snapshot(&layout);
    let kept = check(&layout, &BTreeMap::new()).tags;
    {
        let _ro = Mount::read_only_bind(&layout);
        let line = run_fail_line(&mut lab.run_cmd("img:new", "bundle", &[]));
        eprintln!("read-only mount: {line}");
        assert_eq!(line.matches("Read-only file system").count(), 1, "{line}");
        assert!(line.contains(": img/"), "names the layout: {line}");
        assert_same(
            &before,
            &snapshot(&layout),
            "a repack into a read-only mount",
        );
        // The other writers are refused the same way.
        let line = run_fail_line(&mut lab.host(&["tag", "--image", "img:base", "other"]));
        assert!(line.contains("Read-only file system"), "{line}");
        let line = run_fail_line(&mut lab.host(&["gc", "--layout", "img"]));
        assert!(line.contains("Read-only file system"), "{line}");
        assert_same(
            &before,
            &snapshot(&layout),
            "tag and gc on a read-only mount",
        );
    }
    // Writable again, the same repack works.
    run_ok(&mut lab.run_cmd("img:new", "bundle", &[]));
    assert!(check(&layout, &kept).tags.contains_key("new"));
}

#[test]
fn a_layout_without_write_permission_fails_cleanly() {
    if !root() || !have("setpriv") {
        return;
    }
    let lab = lab_with_change();
    let layout = lab.layout();
    // nobody may enter the lab and read the bundle, and load the compiled component
    // from a cache of its own; the layout loses its write bits.
    fs::set_permissions(lab.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let cache = lab.path().join("cache");
    fs::create_dir(&cache).unwrap();
    for entry in fs::read_dir(cache_dir()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().ends_with(".cwasm") {
            let copy = cache.join(entry.file_name());
            fs::copy(entry.path(), &copy).unwrap();
            fs::set_permissions(&copy, fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    // The compiled copy is trusted only in nobody's own cache directory.
    sh(
        lab.path(),
        "chown -R 65534:65534 bundle cache && chmod -R a-w img && chmod -R a+rX img",
    );
    let before = snapshot(&layout);
    let kept = check(&layout, &BTreeMap::new()).tags;
    let nobody = |args: &[&str]| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_repack-host"))
            .args(args)
            .current_dir(lab.path())
            .env("REPACK_CACHE_DIR", &cache)
            .env("HOME", "/nonexistent");
        cmd
    };
    let line = run_fail_line(&mut nobody(&["run", "--image", "img:new", "bundle"]));
    eprintln!("no write permission: {line}");
    assert_eq!(line.matches("Permission denied").count(), 1, "{line}");
    assert!(line.contains(": img/"), "names the layout: {line}");
    assert_same(
        &before,
        &snapshot(&layout),
        "a repack without write permission",
    );
    // The same user can still read the image.
    run_ok(&mut nobody(&["ls", "--layout", "img"]));
    run_ok(&mut nobody(&["stat", "--image", "img:base"]));
    assert_same(&before, &snapshot(&layout), "reading the image");

    // With the write bits back, root's repack works.
    sh(lab.path(), "chmod -R u+w img");
    run_ok(&mut lab.run_cmd("img:new", "bundle", &[]));
    assert!(check(&layout, &kept).tags.contains_key("new"));
}
