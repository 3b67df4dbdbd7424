//! `kill -9` in the middle of `run` and `unpack`: whatever moment the process dies at,
//! the layout stays consistent (and, for `unpack`, untouched), a garbage collection
//! cleans up after it, and the next attempt succeeds.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::invariants::{self, REF_NAME, assert_same, check, snapshot};
use crate::lab::{Lab, write_random};
use crate::support::{run_fail_line, run_ok};

/// Where, as a fraction of one full run, the kills land (at least 20 ms in).
const RUN_KILLS: [f64; 12] = [
    0.0, 0.04, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.95, 0.98, 1.0,
];

/// Extra kills, bisecting towards the moment the tag is set.
const BISECTIONS: usize = 6;

/// One killed `run` and what it left.
#[derive(Debug)]
#[allow(dead_code)] // read through Debug, in the report
struct Attempt {
    delay: Duration,
    ended: Ended,
    /// `.umoci-*` directories left.
    temps: usize,
    /// One held a partial layer.
    mid_write: bool,
    /// Blobs committed but not tagged (gc removed them).
    orphans: usize,
    /// img:new was set.
    tagged: bool,
}

/// How one killed attempt ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// SIGKILL took it.
    Killed,
    /// It had finished (successfully) before the kill.
    Finished,
}

/// Spawn `cmd`, SIGKILL it after `delay` unless it has exited by then, and reap it.
/// A process that exited on its own must have succeeded.
fn kill_after(mut cmd: Command, delay: Duration) -> Ended {
    let mut child: Child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning repack-host");
    let start = Instant::now();
    while start.elapsed() < delay {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        sleep(Duration::from_millis(2).min(delay.saturating_sub(start.elapsed())));
    }
    // SIGKILL (a no-op error if it already exited and was reaped above).
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    match out.status.signal() {
        Some(9) => Ended::Killed,
        _ => {
            assert!(
                out.status.success(),
                "{cmd:?} failed on its own: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            Ended::Finished
        }
    }
}

/// The delays `fractions` of `full` mean.
fn delays(full: Duration, fractions: &[f64]) -> Vec<Duration> {
    fractions
        .iter()
        .map(|f| full.mul_f64(*f).max(Duration::from_millis(20)))
        .collect()
}

#[test]
fn kill_during_run_leaves_a_consistent_layout() {
    let lab = Lab::new();
    let layout = lab.layout();
    lab.unpack("img:base", "bundle");
    let data = lab.path().join("bundle/rootfs/data");
    fs::create_dir(&data).unwrap();
    let made = Instant::now();
    for i in 0..30 {
        write_random(&data.join(format!("f{i:02}")), 5 << 20, i);
    }
    fs::write(lab.path().join("bundle/rootfs/small"), b"small file\n").unwrap();
    eprintln!(
        "kill/run: 150 MB of random data written in {:?}",
        made.elapsed()
    );

    // One full run; its tag must survive every later kill. The first run of a bundle
    // hashes every file and leaves a stat cache behind, so a second one is timed too.
    let gzip = ["--compress", "gzip"];
    let started = Instant::now();
    run_ok(&mut lab.run_cmd("img:first", "bundle", &gzip));
    let cold = started.elapsed();
    let started = Instant::now();
    run_ok(&mut lab.run_cmd("img:first", "bundle", &gzip));
    let warm = started.elapsed();
    // The shorter of the two: the machine is shared, a slow run is noise.
    let full = cold.min(warm);
    eprintln!("kill/run: one full run takes {cold:?}, then {warm:?}");
    // Retagging `first` left the first run's config and manifest unreferenced.
    run_ok(&mut lab.host(&["gc", "--layout", "img"]));
    let kept = check(&layout, &BTreeMap::new()).tags;
    assert_eq!(kept.keys().collect::<Vec<_>>(), ["base", "first"]);

    // One attempt: run into img:new (absent before), SIGKILL after `delay`, check the
    // layout, gc, check again.
    let mut checks = Duration::ZERO;
    let mut attempt = |delay: Duration| -> Attempt {
        let ended = kill_after(lab.run_cmd("img:new", "bundle", &gzip), delay);
        let t = Instant::now();
        let after_kill = check(&layout, &kept);
        // A temp directory holding a partial layer: the kill hit the layer write.
        let mid_write = after_kill.temps.iter().any(|t| {
            fs::read_dir(layout.join(t)).unwrap().any(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("layer-")
            })
        });
        let tagged = after_kill.tags.contains_key("new");
        if ended == Ended::Finished {
            assert!(tagged, "a finished run tagged");
        }
        let extra: Vec<&String> = after_kill
            .tags
            .keys()
            .filter(|t| !kept.contains_key(*t) && *t != "new")
            .collect();
        assert!(extra.is_empty(), "unexpected tags {extra:?}");

        run_ok(&mut lab.host(&["gc", "--layout", "img"]));
        let after_gc = check(&layout, &kept);
        assert!(
            after_gc.temps.is_empty(),
            "gc left temp directories: {:?}",
            after_gc.temps
        );
        assert_eq!(after_gc.tags, after_kill.tags, "gc changed index.json");
        // Blobs committed by the killed run but not (yet) tagged.
        let orphans = after_kill.blobs.len() - after_gc.blobs.len();
        if tagged {
            run_ok(&mut lab.host(&["rm", "--image", "img:new"]));
            run_ok(&mut lab.host(&["gc", "--layout", "img"]));
            assert_eq!(check(&layout, &kept).tags, kept);
        }
        checks += t.elapsed();
        Attempt {
            delay,
            ended,
            temps: after_kill.temps.len(),
            mid_write,
            orphans,
            tagged,
        }
    };

    let mut attempts: Vec<Attempt> = delays(full, &RUN_KILLS)
        .into_iter()
        .map(&mut attempt)
        .collect();
    // Then home in on the end of the run, where the blobs are committed and the tag
    // set: bisect between the latest kill that left no tag and the earliest that did.
    let mut lo = attempts
        .iter()
        .filter(|a| !a.tagged)
        .map(|a| a.delay)
        .max()
        .unwrap_or_default();
    let mut hi = attempts
        .iter()
        .filter(|a| a.tagged)
        .map(|a| a.delay)
        .min()
        .unwrap_or(full.mul_f64(1.4));
    for _ in 0..BISECTIONS {
        let a = attempt((lo + hi) / 2);
        if a.tagged {
            hi = a.delay;
        } else {
            lo = a.delay;
        }
        attempts.push(a);
    }
    eprintln!(
        "kill/run outcomes (checks took {checks:?}):\n  {}",
        attempts
            .iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join("\n  ")
    );
    assert!(
        attempts.iter().any(|a| a.mid_write),
        "no kill landed while the layer was being written: the test proves nothing"
    );

    // An unkilled run succeeds and its tag verifies.
    run_ok(&mut lab.run_cmd("img:new", "bundle", &gzip));
    let done = check(&layout, &kept);
    let manifests = invariants::resolve(&layout, &done.blobs, &done.tags["new"]);
    assert_eq!(manifests[0]["layers"].as_array().unwrap().len(), 1);
    let first = invariants::resolve(&layout, &done.blobs, &done.tags["first"]);
    assert_eq!(
        manifests[0]["layers"], first[0]["layers"],
        "the same rootfs gives the same layer"
    );
}

/// What a killed unpack left in its bundle directory, for the report.
fn describe_bundle(bundle: &Path) -> String {
    if !bundle.exists() {
        return "no bundle directory".into();
    }
    let mut names: Vec<String> = fs::read_dir(bundle)
        .unwrap()
        .map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".mtree") {
                "*.mtree".into()
            } else if name.starts_with(".repack-") {
                ".repack-*".into()
            } else {
                name
            }
        })
        .collect();
    names.sort();
    let files = walk_count(&bundle.join("rootfs"));
    format!("{names:?}, {files} objects in rootfs")
}

fn walk_count(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|e| {
            let e = e.unwrap();
            1 + if e.file_type().unwrap().is_dir() {
                walk_count(&e.path())
            } else {
                0
            }
        })
        .sum()
}

/// Where, as a fraction of the first full unpack (later ones are faster: the page cache
/// is warm), the kills land (at least 20 ms in).
const UNPACK_KILLS: [f64; 6] = [0.0, 0.1, 0.25, 0.4, 0.55, 0.75];

#[test]
fn kill_during_unpack_leaves_the_layout_untouched() {
    let lab = Lab::new();
    let layout = lab.layout();
    // An image worth unpacking: 40 MB in 20 files, and 1500 small files.
    lab.unpack("img:base", "seed");
    let rootfs = lab.path().join("seed/rootfs");
    for i in 0..20 {
        write_random(&rootfs.join(format!("big{i:02}")), 2 << 20, 100 + i);
    }
    for d in 0..15 {
        let dir = rootfs.join(format!("dir{d:02}"));
        fs::create_dir(&dir).unwrap();
        for f in 0..100 {
            fs::write(dir.join(format!("f{f:03}")), format!("{d}/{f}\n")).unwrap();
        }
    }
    run_ok(&mut lab.run_cmd("img:big", "seed", &["--compress", "gzip"]));
    fs::remove_dir_all(lab.path().join("seed")).unwrap();

    // Children get their own TMPDIR, which must stay empty.
    let tmpdir = lab.path().join("tmpdir");
    fs::create_dir(&tmpdir).unwrap();
    let unpack = |bundle: &str| {
        let mut cmd = lab.unpack_cmd("img:big", bundle);
        cmd.env("TMPDIR", &tmpdir);
        cmd
    };
    let before = snapshot(&layout);
    let started = Instant::now();
    run_ok(&mut unpack("full"));
    let full = started.elapsed();
    eprintln!("kill/unpack: one full unpack takes {full:?}");
    let expected = invariants::sha256_file(&lab.path().join("full/rootfs/big07"));

    let mut report = Vec::new();
    for (i, delay) in delays(full, &UNPACK_KILLS).into_iter().enumerate() {
        let half = format!("k{i}");
        let ended = kill_after(unpack(&half), delay);
        assert_same(
            &before,
            &snapshot(&layout),
            &format!("unpack killed after {delay:?}"),
        );
        assert_eq!(
            fs::read_dir(&tmpdir).unwrap().count(),
            0,
            "the killed unpack left files in TMPDIR"
        );
        let half_path = lab.path().join(&half);
        report.push(format!(
            "{delay:?}: {ended:?}; left {}",
            describe_bundle(&half_path)
        ));
        // A half bundle has no umoci.json, so nothing mistakes it for a bundle: run
        // refuses it, naming the missing file, and leaves the layout alone.
        if half_path.exists() && !half_path.join("umoci.json").exists() {
            let line = run_fail_line(&mut lab.run_cmd("img:oops", &half, &[]));
            assert!(line.contains("umoci.json"), "{line}");
            assert_same(&before, &snapshot(&layout), "run of a half bundle");
        }
        if half_path.join("umoci.json").exists() {
            assert!(half_path.join("config.json").exists());
        }
        // Unpacking into the same directory again is refused (its rootfs exists);
        // a fresh one works.
        if half_path.join("rootfs").exists() {
            let line = run_fail_line(&mut unpack(&half));
            assert!(line.contains("already exists"), "{line}");
        }
        let retry = format!("r{i}");
        run_ok(&mut unpack(&retry));
        let retried = lab.path().join(&retry);
        assert!(retried.join("umoci.json").exists() && retried.join("config.json").exists());
        assert_eq!(
            invariants::sha256_file(&retried.join("rootfs/big07")),
            expected
        );
        fs::remove_dir_all(&retried).unwrap();
        // Nothing appeared outside the bundle directories.
        let mut top: Vec<String> = fs::read_dir(lab.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| !n.starts_with('k'))
            .collect();
        top.sort();
        assert_eq!(top, ["full", "img", "tmpdir"]);
    }
    assert_same(&before, &snapshot(&layout), "after the retries");
    let tags = invariants::tags(&layout);
    assert_eq!(
        tags["big"]["annotations"][REF_NAME], "big",
        "the image is still tagged"
    );
    eprintln!("kill/unpack outcomes:\n  {}", report.join("\n  "));
}

/// Hold `file` (created if need be) in `layout` exclusively until dropped, as the
/// product's own lock holders do.
fn hold_lock(layout: &Path, file: &str) -> fs::File {
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(layout.join(file))
        .unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        .expect("nobody else holds the lock");
    lock
}

/// Spawn `cmd`, wait until `ready` holds (the process must still be running then),
/// SIGKILL it and reap it.
fn kill_when(mut cmd: Command, mut ready: impl FnMut() -> bool) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !ready() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{cmd:?} exited while it should have been waiting for a lock"
        );
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{cmd:?} never got there"
        );
        sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(9));
}

/// The two moments a timed kill rarely hits, made certain by holding a lock the run
/// waits for: before it starts writing (a gc holds the writers lock), and after its
/// blobs are committed but before the tag is set (someone holds the index lock).
#[test]
fn kill_while_waiting_for_a_lock() {
    let lab = Lab::new();
    let layout = lab.layout();
    lab.unpack("img:base", "bundle");
    write_random(&lab.path().join("bundle/rootfs/data"), 1 << 20, 9);
    let kept = check(&layout, &BTreeMap::new()).tags;
    let before = snapshot(&layout);

    // Waiting to start: nothing at all is written.
    {
        let _gc = hold_lock(&layout, ".repack-writers.lock");
        let started = Instant::now();
        kill_when(lab.run_cmd("img:new", "bundle", &[]), || {
            started.elapsed() > Duration::from_millis(500)
        });
    }
    assert_same(&before, &snapshot(&layout), "a run killed waiting for gc");

    // Waiting to tag: the layer, config and manifest are in blobs/sha256, verified,
    // index.json is untouched; gc takes the three blobs away again.
    let blobs_before = check(&layout, &kept).blobs.len();
    {
        let _index = hold_lock(&layout, ".repack.lock");
        kill_when(lab.run_cmd("img:new", "bundle", &[]), || {
            invariants::verified_blobs(&layout).len() == blobs_before + 3
        });
    }
    let after_kill = check(&layout, &kept);
    assert_eq!(after_kill.tags, kept, "the tag was not set");
    assert_eq!(after_kill.blobs.len(), blobs_before + 3);
    assert_eq!(
        after_kill.temps.len(),
        1,
        "the killed run's temp dir is left"
    );
    assert_eq!(
        snapshot(&layout).get("index.json"),
        before.get("index.json"),
        "index.json is byte-identical"
    );
    run_ok(&mut lab.host(&["gc", "--layout", "img"]));
    assert_same(&before, &snapshot(&layout), "gc after the kill");

    // And the run goes through once nobody is in the way.
    run_ok(&mut lab.run_cmd("img:new", "bundle", &[]));
    assert!(check(&layout, &kept).tags.contains_key("new"));
}
