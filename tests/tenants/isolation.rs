//! Sixteen jobs at once on one engine, across five layouts (two tenants sharing one),
//! seven of them hostile. Each hostile job fails naming its budget (the rootfs swapped
//! under its walk fails naming the change, or succeeds holding nothing from outside);
//! every other job's result, manifest and layer are byte-identical to the same job run
//! alone; no tag is lost; the process's peak resident memory stays within the sum of
//! the jobs' memory caps plus a fixed overhead.

use std::collections::BTreeMap;
use std::fs;
use std::io::Cursor;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use rustix::fs::{CWD, RenameFlags, renameat_with};
use serde_json::Value;

use repack_host::batch::{self, Options};
use repack_host::{ComponentSource, Limits, Repacker};

use crate::fixture::{self, host};

/// What the process may hold beyond the jobs' memory caps: the engine and compiled
/// component, the stacks of the workers, compressors and hashers, their buffers.
pub const FIXED_OVERHEAD: u64 = 64 << 20;

/// Memory cap of each well-behaved job.
const GOOD_MEMORY: &str = "32M";

/// The jobs: id, JSON line. The well-behaved ones first.
fn jobs() -> Vec<(&'static str, String)> {
    let epoch = r#""source_date_epoch": 1700000000"#;
    let good = format!(r#""limits": {{"memory": "{GOOD_MEMORY}", "timeout": "5m"}}"#);
    let run = |id: &'static str, image: &str, bundle: &str, extra: &str, limits: &str| {
        let line = format!(
            r#"{{"id": "{id}", "op": "run", "image": "{image}", "bundle": "{bundle}", {epoch}{extra}, {limits}}}"#
        );
        (id, line)
    };
    vec![
        // Two tenants in one layout, and the others each in their own.
        run("t1", "L1:t1", "b1", "", &good),
        run("t2", "L1:t2", "b2", r#", "compress": "zstd""#, &good),
        run("t3", "L2:t3", "b3", r#", "compress": "none""#, &good),
        run("t4", "L2:t4", "b4", r#", "mask_paths": ["/srv/d3"]"#, &good),
        run(
            "t5",
            "L3:t5",
            "b5",
            r#", "history": {"comment": "five"}"#,
            &good,
        ),
        run("t6", "L4:t6", "b6", "", &good),
        (
            "u1",
            format!(
                r#"{{"id": "u1", "op": "unpack", "image": "L5:small", "bundle": "u1", {good}}}"#
            ),
        ),
        (
            "m1",
            format!(r#"{{"id": "m1", "op": "mtree", "bundle": "b1", {good}}}"#),
        ),
        run("t7", "L3:t7", "b7", "", &good),
        // Hostile.
        (
            "bomb",
            format!(
                r#"{{"id": "bomb", "op": "unpack", "image": "L5:bomb", "bundle": "hb", "limits": {{"memory": "{GOOD_MEMORY}", "max_layer_size": "4M"}}}}"#
            ),
        ),
        run(
            "written",
            "L1:written",
            "hw",
            "",
            r#""limits": {"memory": "32M", "max_layer_written": "256K"}"#,
        ),
        run(
            "compressed",
            "L2:compressed",
            "hc",
            r#", "compress": "gzip""#,
            r#""limits": {"memory": "32M", "max_layer_compressed": "256K"}"#,
        ),
        run(
            "read",
            "L1:read",
            "hr",
            "",
            r#""limits": {"memory": "32M", "max_read": "64K"}"#,
        ),
        run("tiny", "L4:tiny", "ht", "", r#""limits": {"memory": "1M"}"#),
        run(
            "slow",
            "L3:slow",
            "hs",
            "",
            r#""limits": {"memory": "32M", "timeout": "5ms"}"#,
        ),
        run("swap", "L4:swap", "hsw", "", &good),
    ]
}

/// What each hostile job must fail with: its `limit`, or for the swapped rootfs none.
const HOSTILE: [(&str, Option<&str>); 7] = [
    ("bomb", Some("max_layer_size")),
    ("written", Some("max_layer_written")),
    ("compressed", Some("max_layer_compressed")),
    ("read", Some("max_read")),
    ("tiny", Some("memory")),
    ("slow", Some("timeout")),
    ("swap", None),
];

/// Build every layout and bundle in `dir`.
fn build(dir: &Path) {
    for l in ["L1", "L2", "L3", "L4", "L5"] {
        fixture::layout(dir, l);
    }
    fixture::zero_layer(dir, "L5:base", "small", "small", 100 << 10);
    fixture::zero_layer(dir, "L5:base", "bomb", "bomb", 64 << 20);
    let bundles = [
        ("L1:base", "b1", 1, 40, 4096),
        ("L1:base", "b2", 2, 40, 8192),
        ("L2:base", "b3", 3, 40, 0),
        ("L2:base", "b4", 4, 40, 100),
        ("L3:base", "b5", 5, 40, 0),
        ("L4:base", "b6", 6, 40, 20000),
        ("L3:base", "b7", 7, 40, 0),
        ("L1:base", "hw", 8, 10, 1 << 20),
        ("L2:base", "hc", 9, 10, 1 << 20),
        ("L1:base", "hr", 10, 10, 1 << 20),
        ("L4:base", "ht", 11, 2000, 0),
        ("L3:base", "hs", 12, 6000, 0),
        ("L4:base", "hsw", 13, 10, 0),
    ];
    for (image, bundle, seed, files, big) in bundles {
        fixture::bundle(dir, image, bundle, seed, files, big);
    }
    // The swapped bundle: a directory with files and, outside the rootfs, a symlink
    // to `/` to exchange it with.
    let rootfs = dir.join("hsw/rootfs");
    fs::create_dir(rootfs.join("tree")).unwrap();
    for i in 0..50 {
        fs::write(rootfs.join(format!("tree/f{i}")), format!("tree {i}\n")).unwrap();
    }
    std::os::unix::fs::symlink("/", dir.join("hsw/spare-root")).unwrap();
}

/// Run `lines` as one batch of `jobs` at a time in `dir`; results by id.
fn run_batch(
    repacker: &Repacker,
    dir: &Path,
    lines: &[String],
    jobs: usize,
) -> BTreeMap<String, Value> {
    let input = lines.join("\n").into_bytes();
    let mut output = Vec::new();
    let options = Options {
        source: "jobs.jsonl".into(),
        jobs,
        limits: Limits::default(),
    };
    let cwd = std::env::current_dir().unwrap();
    // Job paths are relative to the working directory, as the command's are.
    std::env::set_current_dir(dir).unwrap();
    let summary = batch::run(
        repacker,
        Cursor::new(input),
        &mut output,
        &options,
        &AtomicBool::new(false),
    );
    std::env::set_current_dir(cwd).unwrap();
    summary.unwrap();
    let text = String::from_utf8(output).unwrap();
    let mut results = BTreeMap::new();
    for line in text.lines() {
        let value: Value = serde_json::from_str(line).unwrap();
        let id = value["id"].as_str().unwrap().to_owned();
        assert!(
            results.insert(id, value).is_none(),
            "two results for one id"
        );
    }
    assert_eq!(results.len(), lines.len(), "{text}");
    results
}

/// Peak resident memory of this process, in bytes.
fn peak_rss() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kb << 10
}

/// The layer blob and manifest of a run result, as bytes from `dir`.
fn artefacts(dir: &Path, layout: &str, result: &Value) -> (Vec<u8>, Option<Vec<u8>>) {
    let blob = |digest: &str| {
        let hex = digest.strip_prefix("sha256:").unwrap();
        fs::read(dir.join(layout).join("blobs/sha256").join(hex)).unwrap()
    };
    let manifest = blob(result["manifest"].as_str().unwrap());
    let layer = result["layer"]["digest"].as_str().map(blob);
    (manifest, layer)
}

/// The entry names of a gzip layer, without `./` and trailing slashes.
fn layer_names(layer: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(layer));
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let name = e.unwrap().path().unwrap().display().to_string();
            let name = name
                .strip_prefix("./")
                .unwrap_or(&name)
                .trim_end_matches('/');
            if name.is_empty() {
                ".".to_owned()
            } else {
                name.to_owned()
            }
        })
        .collect()
}

/// A manifest's text without its header (the date differs from run to run).
fn body(mtree: &str) -> String {
    mtree
        .lines()
        .filter(|l| !l.starts_with("#  "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn sixteen_tenants_on_one_engine() {
    let _serial = crate::serial();
    let scratch = tempfile::tempdir().unwrap();
    let alone = scratch.path().join("alone");
    let together = scratch.path().join("together");
    fs::create_dir(&alone).unwrap();
    build(&alone);
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(&alone)
        .arg(&together)
        .status()
        .unwrap();
    assert!(copied.success());

    let repacker =
        Repacker::with_cache(&ComponentSource::Embedded, Some(&fixture::cache_dir())).unwrap();
    let jobs = jobs();
    assert_eq!(jobs.len(), 16);
    let hostile: BTreeMap<_, _> = HOSTILE.into_iter().collect();

    // Each well-behaved job alone, one after another.
    let good: Vec<String> = jobs
        .iter()
        .filter(|(id, _)| !hostile.contains_key(id))
        .map(|(_, line)| line.clone())
        .collect();
    let reference = run_batch(&repacker, &alone, &good, 1);

    // All sixteen at once, while the swapped bundle's directory is exchanged with a
    // symlink to `/` over and over.
    let lines: Vec<String> = jobs.iter().map(|(_, line)| line.clone()).collect();
    let stop = AtomicBool::new(false);
    let tree = together.join("hsw/rootfs/tree");
    let spare = together.join("hsw/spare-root");
    fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = peak_rss();
    let results = thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                renameat_with(CWD, &tree, CWD, &spare, RenameFlags::EXCHANGE).unwrap();
            }
        });
        let results = run_batch(&repacker, &together, &lines, 16);
        stop.store(true, Ordering::Relaxed);
        results
    });
    let peak = peak_rss();

    for (id, want) in &hostile {
        let result = &results[*id];
        if want.is_none() && result["ok"] == true {
            // The walk saw the directory or the symlink, never what it points to.
            let (_, layer) = artefacts(&together, "L4", result);
            for name in layer_names(&layer.unwrap()) {
                let inside = name.starts_with("srv")
                    || name == "big"
                    || name == "tree"
                    || name == "."
                    || name
                        .strip_prefix("tree/f")
                        .is_some_and(|n| n.parse::<u32>().is_ok());
                assert!(inside, "{id}: the layer holds {name:?}");
            }
            continue;
        }
        assert_eq!(result["ok"], false, "{id} did not fail: {result}");
        let error = result["error"].as_str().unwrap();
        match want {
            Some(limit) => {
                assert_eq!(result["limit"], *limit, "{id}: {result}");
                let named = error.contains(limit)
                    || (*limit == "memory" && error.contains("memory limit"))
                    || (*limit == "max_layer_size" && error.contains("max-layer-size"));
                assert!(named, "{id}: {error:?} does not name {limit}");
            }
            None => assert!(
                error.contains("changed during repack") || error.contains("escapes"),
                "{id}: {error}"
            ),
        }
        assert!(!error.contains('\n'));
        assert!(
            result["usage"]["wall_ms"].as_f64().unwrap() > 0.0,
            "{result}"
        );
    }

    for (id, line) in &jobs {
        if hostile.contains_key(id) {
            continue;
        }
        let (got, want) = (&results[*id], &reference[*id]);
        assert_eq!(got["ok"], true, "{id}: {got}");
        let spec: Value = serde_json::from_str(line).unwrap();
        match spec["op"].as_str().unwrap() {
            "run" => {
                assert_eq!(got["manifest"], want["manifest"], "{id}");
                assert_eq!(got["layer"], want["layer"], "{id}");
                let layout = spec["image"].as_str().unwrap().split(':').next().unwrap();
                assert_eq!(
                    artefacts(&together, layout, got),
                    artefacts(&alone, layout, want),
                    "{id}: blobs differ"
                );
                assert!(got["layer"]["digest"].is_string(), "{id} made no layer");
            }
            "unpack" => {
                assert_eq!(got["manifest"], want["manifest"]);
                let mtree = |dir: &Path| host(dir, &["raw", "mtree", "u1/rootfs"]);
                assert_eq!(body(&mtree(&together)), body(&mtree(&alone)));
            }
            _ => assert_eq!(
                body(got["mtree"].as_str().unwrap()),
                body(want["mtree"].as_str().unwrap())
            ),
        }
        let usage = &got["usage"];
        assert!(
            usage["memory_peak"].as_u64().unwrap() <= 32 << 20,
            "{usage}"
        );
        assert!(usage["host_calls"].as_u64().unwrap() > 0, "{usage}");
    }

    // No tag lost: every layout holds its base, the tag of each run that succeeded
    // (all the well-behaved ones, checked above), and no tag of a failed one.
    let mut want_tags: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for layout in ["L1", "L2", "L3", "L4"] {
        want_tags.insert(layout, vec!["base".into()]);
    }
    want_tags.insert("L5", vec!["base".into(), "bomb".into(), "small".into()]);
    for (id, line) in &jobs {
        let spec: Value = serde_json::from_str(line).unwrap();
        if spec["op"] == "run" && results[*id]["ok"] == true {
            let (layout, tag) = spec["image"].as_str().unwrap().split_once(':').unwrap();
            want_tags.get_mut(layout).unwrap().push(tag.to_owned());
        }
    }
    for (layout, mut tags) in want_tags {
        tags.sort_unstable();
        let listed = host(&together, &["ls", "--layout", layout]);
        let mut listed: Vec<&str> = listed.lines().collect();
        listed.sort_unstable();
        assert_eq!(listed, tags, "{layout}");
        for tag in &tags {
            host(&together, &["stat", "--image", &format!("{layout}:{tag}")]);
        }
    }

    let caps: u64 = jobs
        .iter()
        .map(|(_, line)| {
            let spec: Value = serde_json::from_str(line).unwrap();
            let memory = spec["limits"]["memory"].as_str().unwrap_or("1G");
            repack_host::sandbox::parse_size(memory).unwrap()
        })
        .sum();
    eprintln!(
        "peak RSS {} MiB with 16 jobs ({} MiB before them); caps {} MiB + fixed overhead {} MiB",
        peak >> 20,
        before >> 20,
        caps >> 20,
        FIXED_OVERHEAD >> 20
    );
    assert!(
        peak <= caps + FIXED_OVERHEAD,
        "peak RSS {peak} over {caps} + {FIXED_OVERHEAD}"
    );
}
