//! SIGTERM and SIGINT stop `batch` from starting jobs: the running one finishes and is
//! reported, no other starts, the command fails saying so, and every layout is valid.
//! It stops also while its input is a pipe with nothing more to give.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Stdio};

use rustix::process::{Pid, Signal, kill_process};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::fixture::{self, host, repack_host};

/// Every blob of `layout` hashes to its name, and every tag it lists can be read.
fn valid(dir: &Path, layout: &str) -> Vec<String> {
    for entry in fs::read_dir(dir.join(layout).join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let bytes = fs::read(entry.path()).unwrap();
        assert_eq!(hex(&Sha256::digest(&bytes)), name, "blob {name}");
    }
    let tags: Vec<String> = host(dir, &["ls", "--layout", layout])
        .lines()
        .map(str::to_owned)
        .collect();
    for tag in &tags {
        host(dir, &["stat", "--image", &format!("{layout}:{tag}")]);
    }
    tags
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Start `batch --jobs 1 -` in `dir` with `jobs` written to its input, which stays
/// open; wait for its first result line, then send `signal`.
fn interrupted(dir: &Path, jobs: &[String], signal: Signal) -> (Vec<Value>, String, Option<i32>) {
    let mut child: Child = repack_host()
        .current_dir(dir)
        .args(["batch", "--jobs", "1", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    for job in jobs {
        // The pipe holds them all; the batch reads them one at a time.
        writeln!(input, "{job}").unwrap();
    }
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    kill_process(pid, signal).unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let status = child.wait().unwrap();
    drop(input);
    let results = format!("{first}{rest}")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (results, stderr, status.code())
}

#[test]
fn a_signal_stops_new_jobs_and_leaves_layouts_valid() {
    let _serial = crate::serial();
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    fixture::layout(dir, "L");
    fixture::bundle(dir, "L:base", "b", 1, 400, 1 << 20);
    for (signal, name) in [(Signal::TERM, "term"), (Signal::INT, "int")] {
        let jobs: Vec<String> = (0..40)
            .map(|i| {
                format!(
                    r#"{{"id": "{name}{i}", "op": "run", "image": "L:{name}{i}", "bundle": "b", "compress": "zstd"}}"#
                )
            })
            .collect();
        let (results, stderr, code) = interrupted(dir, &jobs, signal);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains("interrupted"), "{stderr}");
        assert!(
            !results.is_empty() && results.len() < jobs.len(),
            "{results:?}"
        );
        for result in &results {
            assert_eq!(result["ok"], true, "{result}");
        }
        let tags = valid(dir, "L");
        for result in &results {
            let id = result["id"].as_str().unwrap();
            assert!(tags.iter().any(|t| t == id), "tag {id} lost");
        }
        // No job past the reported ones tagged anything.
        let this_round = tags.iter().filter(|t| t.starts_with(name)).count();
        assert_eq!(this_round, results.len(), "{tags:?}");
    }
}
