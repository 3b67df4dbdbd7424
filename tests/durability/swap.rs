//! A rootfs changed under `run`: a file swapped for a symlink to a host file, a
//! directory swapped for a symlink to `/`, over and over while repacks run. Each run
//! either succeeds with a layer holding nothing from outside the rootfs, or fails
//! with "changed during repack".

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Instant;

use rustix::fs::{CWD, RenameFlags, renameat_with};

use crate::invariants::{self, check, desc_hex};
use crate::lab::Lab;
use crate::support::{have, run_ok};

const ATTEMPTS: usize = 20;

/// Swap `a` and `b` atomically, again and again, until `stop`, counting the swaps.
fn swapper(a: &Path, b: &Path, stop: &AtomicBool, count: &AtomicU64) {
    while !stop.load(Ordering::Relaxed) {
        renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).expect("renameat2 EXCHANGE");
        count.fetch_add(1, Ordering::Relaxed);
    }
}

/// The output of `tar ARGS LAYER`.
fn tar(args: &[&str], layer: &Path) -> String {
    let out = Command::new("tar")
        .args(args)
        .arg(layer)
        .output()
        .expect("spawning tar");
    assert!(
        out.status.success(),
        "tar {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_rootfs_changing_under_run_never_leaks_the_host() {
    if !have("tar") {
        return;
    }
    let lab = Lab::new();
    let layout = lab.layout();
    lab.unpack("img:base", "bundle");
    let bundle = lab.path().join("bundle");
    let rootfs = bundle.join("rootfs");

    // A host file only reachable by following a symlink out of the rootfs.
    let marker = format!("HOST-ONLY-{}-{}", std::process::id(), lab.path().display());
    let host = lab.path().join("host");
    fs::create_dir(&host).unwrap();
    fs::write(host.join("secret"), format!("{marker}\n")).unwrap();

    // rootfs/victim: a file, swapped with bundle/spare-link, a symlink to the secret.
    // rootfs/tree: a directory, swapped with bundle/spare-root, a symlink to `/`.
    // The spares live outside the rootfs (same filesystem, so they can be exchanged).
    fs::write(rootfs.join("victim"), "innocent content\n".repeat(4096)).unwrap();
    std::os::unix::fs::symlink(host.join("secret"), bundle.join("spare-link")).unwrap();
    fs::create_dir(rootfs.join("tree")).unwrap();
    for i in 0..20 {
        fs::write(
            rootfs.join(format!("tree/f{i}")),
            format!("tree file {i}\n"),
        )
        .unwrap();
    }
    std::os::unix::fs::symlink("/", bundle.join("spare-root")).unwrap();
    fs::write(rootfs.join("steady"), b"steady\n").unwrap();

    let stop = AtomicBool::new(false);
    let swaps = AtomicU64::new(0);
    let mut results = Vec::new();
    let mut misreported = Vec::new();
    let mut checked_layers = 0;
    let started = Instant::now();
    thread::scope(|s| {
        s.spawn(|| {
            swapper(
                &rootfs.join("victim"),
                &bundle.join("spare-link"),
                &stop,
                &swaps,
            )
        });
        s.spawn(|| {
            swapper(
                &rootfs.join("tree"),
                &bundle.join("spare-root"),
                &stop,
                &swaps,
            )
        });
        let stop_guard = StopOnDrop(&stop);
        for attempt in 0..ATTEMPTS {
            let tag = format!("t{attempt}");
            let out = lab
                .run_cmd(&format!("img:{tag}"), "bundle", &["--compress", "gzip"])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            if !out.status.success() {
                let line = stderr.trim_end();
                assert_eq!(out.status.code(), Some(1), "{stderr}");
                assert_eq!(line.lines().count(), 1, "{stderr}");
                if !line.contains("changed during repack") {
                    // Checked after all attempts, so the leak checks all run.
                    misreported.push(format!("attempt {attempt}: {line}"));
                }
                results.push(format!("failed: {line}"));
                continue;
            }
            // Succeeded: the layer holds no host content, and only rootfs paths.
            let done = check(&layout, &Default::default());
            let manifest = &invariants::resolve(&layout, &done.blobs, &done.tags[&tag])[0];
            let layers = manifest["layers"].as_array().unwrap();
            let layer = layout
                .join("blobs/sha256")
                .join(desc_hex(layers.last().unwrap()));
            let contents = tar(&["-xzOf"], &layer);
            assert!(
                !contents.contains(&marker),
                "attempt {attempt}: the layer holds the host file's content"
            );
            let listing = tar(&["-tvzf"], &layer);
            for line in listing.lines() {
                let name = line.split_whitespace().nth(5).unwrap_or_default();
                let name = name.trim_start_matches("./").trim_end_matches('/');
                let allowed = matches!(name, "" | "." | "victim" | "tree" | "steady")
                    || name
                        .strip_prefix("tree/f")
                        .is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n < 20));
                assert!(allowed, "attempt {attempt}: unexpected layer entry {line}");
            }
            checked_layers += 1;
            results.push(format!(
                "succeeded: {}",
                listing
                    .lines()
                    .filter_map(|l| {
                        let name = l.split_whitespace().nth(5)?.trim_end_matches('/');
                        let kind = l.chars().next()?;
                        matches!(name, "victim" | "tree").then(|| format!("{name} ({kind})"))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        drop(stop_guard);
    });
    eprintln!(
        "swap: {ATTEMPTS} runs in {:?} against {} swaps; {checked_layers} layers checked:\n  {}",
        started.elapsed(),
        swaps.load(Ordering::Relaxed),
        results.join("\n  ")
    );
    assert!(swaps.load(Ordering::Relaxed) > 0);
    run_ok(&mut lab.host(&["gc", "--layout", "img"]));
    let done = check(&layout, &Default::default());
    assert!(done.temps.is_empty());
    assert!(
        misreported.is_empty(),
        "runs failed without saying the rootfs changed during the repack:\n  {}",
        misreported.join("\n  ")
    );
}

/// Stops the swappers when dropped, even when an assertion fails in between (else the
/// scope would wait for them forever).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}
