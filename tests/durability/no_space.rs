//! A layout on a full filesystem (a small tmpfs): a repack that does not fit fails in
//! one line saying so, and leaves the layout as it was.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::invariants::{assert_same, check, snapshot};
use crate::lab::{Lab, Mount, write_random};
use crate::support::{root, run_fail_line, run_ok};

const ENOSPC: &str = "No space left on device";

/// A layout `mnt/img` on a 20 MB tmpfs, with `img:base` (empty) and a bundle of it
/// outside the tmpfs.
fn lab_on_tmpfs() -> (Lab, Mount) {
    let lab = Lab::empty();
    let mount = Mount::tmpfs("20m", &lab.path().join("mnt"));
    run_ok(&mut lab.host(&["init", "--layout", "mnt/img"]));
    run_ok(&mut lab.host(&["new", "--image", "mnt/img:base"]));
    lab.unpack("mnt/img:base", "bundle");
    (lab, mount)
}

#[test]
fn a_layer_that_does_not_fit_fails_cleanly() {
    if !root() {
        return;
    }
    let (lab, _mount) = lab_on_tmpfs();
    let layout = lab.path().join("mnt/img");
    write_random(&lab.path().join("bundle/rootfs/big"), 30 << 20, 1);
    let before = snapshot(&layout);
    let kept = check(&layout, &BTreeMap::new()).tags;

    let line = run_fail_line(&mut lab.run_cmd("mnt/img:new", "bundle", &["--compress", "gzip"]));
    eprintln!("no space, layer: {line}");
    assert_eq!(line.matches(ENOSPC).count(), 1, "{line}");
    // Nothing is left behind once the process has exited: not even its temp dir.
    assert_same(&before, &snapshot(&layout), "a failed repack");
    let after = check(&layout, &kept);
    assert!(after.temps.is_empty(), "{:?}", after.temps);
    // And a gc finds nothing to do.
    run_ok(&mut lab.host(&["gc", "--layout", "mnt/img"]));
    assert_same(&before, &snapshot(&layout), "gc after the failure");
}

/// Fill the filesystem holding `dir` with `dir/filler`, then free `pages` pages.
fn fill_leaving(dir: &Path, pages: u64) {
    let path = dir.join("filler");
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .unwrap();
    let chunk = vec![0x5au8; 1 << 16];
    let mut len = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => len += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    file.set_len(len.saturating_sub(pages * 4096)).unwrap();
    file.sync_all().unwrap();
}

/// With a few pages left, each of the writes of a small repack (layer, config,
/// manifest, index.json) in turn is the one that fails; whichever it is, the run fails
/// in one line and the layout is as it was, or it succeeds and the tag verifies.
#[test]
fn every_write_of_a_small_repack_may_hit_a_full_disk() {
    if !root() {
        return;
    }
    let (lab, _mount) = lab_on_tmpfs();
    let layout = lab.path().join("mnt/img");
    fs::write(lab.path().join("bundle/rootfs/small"), b"a small change\n").unwrap();
    let kept = check(&layout, &BTreeMap::new()).tags;
    let mut outcomes = Vec::new();
    let mut failed = 0;
    for pages in 0..6 {
        fill_leaving(&lab.path().join("mnt"), pages);
        let before = snapshot(&layout);
        let out = lab
            .run_cmd("mnt/img:new", "bundle", &["--compress", "gzip"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            let after = check(&layout, &kept);
            assert!(after.tags.contains_key("new"));
            outcomes.push(format!("{pages} page(s) free: succeeded"));
            run_ok(&mut lab.host(&["rm", "--image", "mnt/img:new"]));
        } else {
            failed += 1;
            let line = stderr.trim_end();
            assert_eq!(line.lines().count(), 1, "{stderr}");
            assert_eq!(
                line.matches(ENOSPC).count(),
                1,
                "{pages} pages free: {line}"
            );
            // index.json is byte-identical and nothing is left of the temp dir; blobs
            // written before the failure stay, unreferenced, until a gc.
            let after = check(&layout, &kept);
            assert!(after.temps.is_empty(), "{:?}", after.temps);
            let now = snapshot(&layout);
            assert_eq!(now.get("index.json"), before.get("index.json"));
            let added: Vec<&String> = now.keys().filter(|k| !before.contains_key(*k)).collect();
            assert!(
                added.iter().all(|k| k.starts_with("blobs/sha256/")),
                "{added:?}"
            );
            fs::remove_file(lab.path().join("mnt/filler")).unwrap();
            run_ok(&mut lab.host(&["gc", "--layout", "mnt/img"]));
            assert_same(
                &before,
                &snapshot(&layout),
                &format!("{pages} pages free, gc"),
            );
            outcomes.push(format!(
                "{pages} page(s) free: {} blob(s) left for gc; {line}",
                added.len()
            ));
            continue;
        }
        fs::remove_file(lab.path().join("mnt/filler")).unwrap();
        run_ok(&mut lab.host(&["gc", "--layout", "mnt/img"]));
    }
    eprintln!("no space, small repack:\n  {}", outcomes.join("\n  "));
    assert!(failed > 0, "the disk was never full enough to fail a run");
}
