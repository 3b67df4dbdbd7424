//! Ten `run`s into one layout at once, with `gc` looping beside them: no update of
//! `index.json` is lost, no blob a writer needs is collected.

use std::collections::BTreeMap;
use std::fs;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::invariants::{self, check};
use crate::lab::{Lab, write_random};
use crate::support::{run_ok, sh};

const WRITERS: usize = 10;

#[test]
fn concurrent_runs_and_gc_lose_nothing() {
    let lab = Lab::new();
    let layout = lab.layout();
    // One bundle with some weight (so the runs overlap), copied ten times, each copy
    // with its own change.
    lab.unpack("img:base", "proto");
    let rootfs = lab.path().join("proto/rootfs");
    write_random(&rootfs.join("weight"), 6 << 20, 7);
    for d in 0..4 {
        let dir = rootfs.join(format!("d{d}"));
        fs::create_dir(&dir).unwrap();
        for f in 0..50 {
            fs::write(dir.join(format!("f{f}")), format!("{d}.{f}\n")).unwrap();
        }
    }
    for i in 0..WRITERS {
        sh(lab.path(), &format!("cp -a proto b{i}"));
        fs::write(
            lab.path().join(format!("b{i}/rootfs/change")),
            format!("bundle {i}\n"),
        )
        .unwrap();
        fs::remove_file(lab.path().join(format!("b{i}/rootfs/d{}/f{i}", i % 4))).unwrap();
    }
    let kept = check(&layout, &BTreeMap::new()).tags;

    let started = Instant::now();
    let stop = AtomicBool::new(false);
    let (gcs, results) = thread::scope(|s| {
        let gc = s.spawn(|| {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                run_ok(&mut lab.host(&["gc", "--layout", "img"]));
                n += 1;
                thread::sleep(Duration::from_millis(10));
            }
            n
        });
        let children: Vec<_> = (0..WRITERS)
            .map(|i| {
                thread::sleep(Duration::from_millis(80));
                lab.run_cmd(&format!("img:t{i}"), &format!("b{i}"), &[])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let results: Vec<_> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        stop.store(true, Ordering::SeqCst);
        (gc.join().unwrap(), results)
    });
    eprintln!(
        "concurrent: {WRITERS} runs and {gcs} gcs in {:?}",
        started.elapsed()
    );
    for (i, out) in results.iter().enumerate() {
        assert!(
            out.status.success(),
            "run {i} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(gcs > 0, "gc never ran");

    run_ok(&mut lab.host(&["gc", "--layout", "img"]));
    let done = check(&layout, &kept);
    assert!(done.temps.is_empty(), "{:?}", done.temps);
    let mut expected: Vec<String> = (0..WRITERS).map(|i| format!("t{i}")).collect();
    expected.push("base".into());
    expected.sort();
    assert_eq!(done.tags.keys().cloned().collect::<Vec<_>>(), expected);
    assert_eq!(
        invariants::index(&layout)["manifests"]
            .as_array()
            .unwrap()
            .len(),
        WRITERS + 1
    );
    for i in 0..WRITERS {
        let check_dir = format!("u{i}");
        lab.unpack(&format!("img:t{i}"), &check_dir);
        let root = lab.path().join(&check_dir).join("rootfs");
        assert_eq!(
            fs::read_to_string(root.join("change")).unwrap(),
            format!("bundle {i}\n"),
            "tag t{i} holds bundle {i}'s change"
        );
        for j in 0..WRITERS {
            let removed = root.join(format!("d{}/f{j}", j % 4));
            assert_eq!(removed.exists(), i != j, "t{i}: {}", removed.display());
        }
        fs::remove_dir_all(lab.path().join(&check_dir)).unwrap();
    }
}
