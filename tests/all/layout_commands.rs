//! `tag`, `rm`, `ls`, `gc`, `stat` and `config`: umoci's layout and image commands,
//! checked against umoci 0.4.7 where it can read or write the same thing.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use repack_host::layout::{Layout, descriptor, lock};
use serde_json::{Value, json};

use crate::support;
use crate::support::{have, repack_host, run_fail, run_ok, sh};

/// The shared lab, with the layout and blob readers these commands need.
struct Lab(support::lab::Lab);

impl std::ops::Deref for Lab {
    type Target = support::lab::Lab;

    fn deref(&self) -> &support::lab::Lab {
        &self.0
    }
}

impl Lab {
    /// `img` with `img:a`, an empty image made by `repack-host new`.
    fn new() -> Lab {
        let lab = Lab(support::lab::Lab::scratch());
        run_ok(&mut lab.host(&["init", "--layout", "img"]));
        run_ok(&mut lab.host(&["new", "--image", "img:a"]));
        lab
    }

    fn layout(&self) -> PathBuf {
        self.path().join("img")
    }

    /// `umoci ARGS` in the lab directory, with `unpack` rootless when not root.
    fn umoci(&self, args: &[&str]) -> Command {
        let mut cmd = match args.split_first() {
            Some((&"unpack", rest)) => {
                let mut cmd = crate::support::umoci_unpack();
                cmd.args(rest);
                cmd
            }
            _ => {
                let mut cmd = Command::new("umoci");
                cmd.args(args);
                cmd
            }
        };
        cmd.current_dir(self.path());
        cmd
    }

    /// The ref.names in index order.
    fn tags(&self) -> Vec<String> {
        self.index()["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["annotations"][descriptor::REF_NAME].as_str())
            .map(str::to_owned)
            .collect()
    }

    fn config_digest(&self, tag: &str) -> String {
        self.manifest(tag)["config"]["digest"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn config(&self, tag: &str) -> Value {
        self.json_blob(&self.config_digest(tag))
    }

    /// The file names in `blobs/sha256`.
    fn blobs(&self) -> BTreeSet<String> {
        fs::read_dir(self.layout().join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect()
    }

    /// The blobs `tag` reaches (manifest, config, layers).
    fn reached(&self, tag: &str) -> BTreeSet<String> {
        let manifest = self.manifest(tag);
        let mut out = BTreeSet::new();
        let mut add = |d: &Value| {
            let digest = d["digest"].as_str().unwrap();
            out.insert(digest.strip_prefix("sha256:").unwrap().to_owned());
        };
        add(&self.tagged(tag));
        add(&manifest["config"]);
        manifest["layers"].as_array().unwrap().iter().for_each(add);
        out
    }
}

#[test]
fn tag_ls_rm_round_trip() {
    let lab = Lab::new();
    run_ok(&mut lab.host(&["tag", "--image", "img:a", "b"]));
    run_ok(&mut lab.host(&["tag", "--image", "img:b", "c/d:e@f+g--h"]));
    let listed = run_ok(&mut lab.host(&["ls", "--layout", "img"]));
    assert_eq!(listed, "a\nb\nc/d:e@f+g--h\n");
    // Same manifest, same entry but for the tag.
    let mut a = lab.tagged("a");
    let mut b = lab.tagged("b");
    a["annotations"] = Value::Null;
    b["annotations"] = Value::Null;
    assert_eq!(a, b);
    if have("umoci") {
        assert_eq!(run_ok(&mut lab.umoci(&["ls", "--layout", "img"])), listed);
        // umoci sees the duplicate as the same image.
        let stat = |tag: &str| run_ok(&mut lab.umoci(&["stat", "--json", "--image", tag]));
        assert_eq!(stat("img:a"), stat("img:b"));
    }
    run_ok(&mut lab.host(&["rm", "--image", "img:b"]));
    run_ok(&mut lab.host(&["list", "--layout", "img"]));
    assert_eq!(lab.tags(), ["a", "c/d:e@f+g--h"]);
    // Removing a missing tag succeeds and changes nothing.
    let before = lab.index();
    run_ok(&mut lab.host(&["remove", "--image", "img:b"]));
    assert_eq!(lab.index(), before);
    if have("umoci") {
        run_ok(&mut lab.umoci(&["rm", "--image", "img:a"]));
        assert_eq!(
            run_ok(&mut lab.host(&["ls", "--layout", "img"])),
            "c/d:e@f+g--h\n"
        );
    }
}

#[test]
fn tag_failures_are_clean() {
    let lab = Lab::new();
    let before = lab.index();
    let out = run_fail(&mut lab.host(&["tag", "--image", "img:missing", "x"]));
    assert!(out.stderr.contains("is not found"), "{}", out.stderr);
    let out = run_fail(&mut lab.host(&["tag", "--image", "img:a", ".bad"]));
    assert!(out.stderr.contains("not valid"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    run_fail(&mut lab.host(&["tag", "--image", "img:a"]));
    run_fail(&mut lab.host(&["tag", "--image", "img:a", "x", "y"]));
    run_fail(&mut lab.host(&["rm", "--image", "img:a", "extra"]));
    run_fail(&mut lab.host(&["ls", "--layout", "nowhere"]));
    assert_eq!(lab.index(), before);
    // Two entries with one tag: ambiguous.
    let layout = Layout::open(lab.layout()).unwrap();
    let entry = layout.index_entries().unwrap().remove(0);
    layout.update_index(|m| m.push(entry)).unwrap();
    drop(layout);
    let out = run_fail(&mut lab.host(&["tag", "--image", "img:a", "x"]));
    assert!(out.stderr.contains("is ambiguous"), "{}", out.stderr);
}

#[test]
fn tag_clobbers_and_flattens_nested_indexes() {
    let lab = Lab::new();
    run_ok(&mut lab.host(&["config", "--image", "img:a", "--tag", "b", "--author", "b"]));
    run_ok(&mut lab.host(&["tag", "--image", "img:a", "x"]));
    run_ok(&mut lab.host(&["tag", "--image", "img:b", "x"]));
    assert_eq!(lab.tags(), ["a", "b", "x"]);
    assert_eq!(lab.tagged("x")["digest"], lab.tagged("b")["digest"]);

    // Tagging through an index points the new tag at the manifest itself.
    let layout = Layout::open(lab.layout()).unwrap();
    let mut manifest = layout.resolve_one("a").unwrap().remove(0);
    manifest.json.shift_remove("annotations");
    manifest.set_annotation("inner", "kept");
    let index = layout
        .put_json(
            descriptor::INDEX,
            &json!({"schemaVersion": 2, "mediaType": descriptor::INDEX, "manifests": [manifest.to_value()]}),
        )
        .unwrap();
    layout.set_tag("nested", &index).unwrap();
    drop(layout);
    run_ok(&mut lab.host(&["tag", "--image", "img:nested", "flat"]));
    let flat = lab.tagged("flat");
    assert_eq!(flat["mediaType"], descriptor::MANIFEST);
    assert_eq!(flat["digest"], lab.tagged("a")["digest"]);
    assert_eq!(flat["annotations"]["inner"], "kept");
    // gc walks through the index: nothing it reaches goes.
    run_ok(&mut lab.host(&["rm", "--image", "img:a"]));
    run_ok(&mut lab.host(&["rm", "--image", "img:flat"]));
    run_ok(&mut lab.host(&["gc", "--layout", "img"]));
    let index_hex = index.digest.hex().to_owned();
    assert!(lab.blobs().contains(&index_hex));
    run_ok(&mut lab.host(&["stat", "--image", "img:nested"]));
}

/// `img:base` from umoci with one layer, and `img:next` from `repack-host run` on top.
fn layered_lab() -> Option<Lab> {
    if !have("umoci") {
        return None;
    }
    let lab = Lab(support::lab::Lab::scratch());
    let unpack = format!("umoci {}", crate::support::umoci_unpack_words().join(" "));
    sh(
        lab.path(),
        &format!(
            "umoci init --layout img && umoci new --image img:a && {unpack} --image img:a b \
             && echo one > b/rootfs/one && umoci repack --image img:base b \
             && {unpack} --image img:base b2 && echo two > b2/rootfs/two"
        ),
    );
    run_ok(&mut lab.host(&["run", "--image", "img:next", "b2"]));
    Some(lab)
}

#[test]
fn gc_is_idempotent_and_collects_what_rm_unreaches() {
    let Some(lab) = layered_lab() else { return };
    run_ok(&mut lab.host(&[
        "config",
        "--image",
        "img:next",
        "--tag",
        "cfg",
        "--config.user",
        "1",
    ]));
    let all = lab.blobs();
    run_ok(&mut lab.host(&["gc", "--layout", "img"]));
    let live: BTreeSet<String> = ["a", "base", "next", "cfg"]
        .iter()
        .flat_map(|t| lab.reached(t))
        .collect();
    assert_eq!(lab.blobs(), live);
    assert!(live.is_subset(&all));
    run_ok(&mut lab.host(&["gc", "--layout", "img"]));
    assert_eq!(lab.blobs(), live, "a second gc removes nothing");

    // After rm, exactly what only that tag reached goes; umoci agrees.
    let next_only: BTreeSet<String> = lab
        .reached("next")
        .difference(&lab.reached("cfg"))
        .cloned()
        .collect();
    assert_eq!(next_only.len(), 2, "next's own manifest and config");
    run_ok(&mut lab.host(&["rm", "--image", "img:next"]));
    run_ok(&mut lab.host(&["gc", "--layout", "img"]));
    assert_eq!(
        lab.blobs(),
        live.difference(&next_only)
            .cloned()
            .collect::<BTreeSet<_>>()
    );
    let ours = lab.blobs();
    run_ok(&mut lab.umoci(&["gc", "--layout", "img"]));
    assert_eq!(lab.blobs(), ours, "umoci's gc finds nothing more to delete");
    let bundle = lab.path().join("check");
    run_ok(lab.umoci(&["unpack", "--image", "img:cfg"]).arg(&bundle));
    assert!(bundle.join("rootfs/two").exists());

    // No tags, no blobs.
    for tag in lab.tags() {
        run_ok(&mut lab.host(&["rm", "--image", &format!("img:{tag}")]));
    }
    run_ok(&mut lab.host(&["gc", "--layout", "img"]));
    assert!(lab.blobs().is_empty());
    assert!(lab.tags().is_empty());
}

#[test]
fn gc_removes_stale_temp_dirs_and_keeps_held_ones() {
    let lab = Lab::new();
    let layout = lab.layout();
    let held = layout.join(".umoci-HELDHELD");
    let stale = layout.join(".umoci-STALESTA");
    fs::create_dir_all(held.join("inner")).unwrap();
    fs::create_dir_all(stale.join("inner")).unwrap();
    fs::write(stale.join("inner/blob"), b"x").unwrap();
    fs::write(layout.join(".umoci-file"), b"x").unwrap();
    fs::write(layout.join("unknown-file"), b"x").unwrap();
    fs::write(layout.join("blobs/sha256/not-a-digest"), b"x").unwrap();
    let orphan = "0".repeat(64);
    fs::write(layout.join("blobs/sha256").join(&orphan), b"x").unwrap();
    let lock = fs::File::open(&held).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();

    run_ok(&mut lab.host(&["gc", "--layout", "img"]));
    assert!(held.join("inner").is_dir(), "a held temp dir stays");
    assert!(!stale.exists(), "a stale temp dir goes");
    assert!(!layout.join(".umoci-file").exists());
    assert!(layout.join("unknown-file").exists(), "other files stay");
    assert!(!lab.blobs().contains(&orphan));
    // Names that are not digests are not blobs: left alone, as umoci leaves them.
    assert!(layout.join("blobs/sha256/not-a-digest").exists());
    fs::remove_file(layout.join("blobs/sha256/not-a-digest")).unwrap();
    assert_eq!(lab.blobs(), lab.reached("a"));

    drop(lock);
    run_ok(&mut lab.host(&["gc", "--layout", "img"]));
    assert!(!held.exists(), "released, it goes too");
    if have("umoci") {
        run_ok(&mut lab.umoci(&["stat", "--image", "img:a"]));
    }
}

/// Wait up to `limit` for `child`; whether it exited.
fn exits_within(child: &mut std::process::Child, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn gc_and_writers_wait_for_each_other() {
    let lab = Lab::new();
    let orphan = "1".repeat(64);
    let orphan_path = lab.layout().join("blobs/sha256").join(&orphan);
    fs::write(&orphan_path, b"x").unwrap();

    // A running writer (held through the library, as `run` holds it) holds gc off.
    let dir = repack_host::handle::ambient_dir(&lab.layout(), true).unwrap();
    let writer = lock::WriterLock::acquire(&dir, &lab.layout(), None).unwrap();
    let mut gc = lab
        .host(&["gc", "--layout", "img"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        !exits_within(&mut gc, Duration::from_millis(300)),
        "gc waits"
    );
    assert!(orphan_path.exists());
    drop(writer);
    assert!(gc.wait().unwrap().success());
    assert!(!orphan_path.exists());

    // A running gc holds writers off.
    let collecting = lock::lock_writers(&dir, &lab.layout(), None).unwrap();
    let mut tag = lab
        .host(&["tag", "--image", "img:a", "b"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        !exits_within(&mut tag, Duration::from_millis(300)),
        "tag waits"
    );
    assert_eq!(lab.tags(), ["a"]);
    drop(collecting);
    assert!(tag.wait().unwrap().success());
    assert_eq!(lab.tags(), ["a", "b"]);

    // A handle that writes cannot collect (it would wait for itself).
    let layout = Layout::open(lab.layout()).unwrap();
    layout.start_writing().unwrap();
    assert!(layout.gc().is_err());
}

#[test]
fn stat_pairs_history_with_layers_like_umoci() {
    let Some(lab) = layered_lab() else { return };
    run_ok(&mut lab.host(&[
        "config",
        "--image",
        "img:next",
        "--history.comment",
        "a comment",
    ]));
    let ours: Value = serde_json::from_str(&run_ok(
        &mut lab.host(&["stat", "--json", "--image", "img:next"]),
    ))
    .unwrap();
    let history = ours["history"].as_array().unwrap();
    assert_eq!(history.len(), 3, "umoci repack, repack-host run, config");
    assert_eq!(history[1]["created_by"], "repack-host run");
    assert_eq!(history[1]["layer"], lab.manifest("next")["layers"][1]);
    assert_eq!(
        history[1]["diff_id"],
        lab.config("next")["rootfs"]["diff_ids"][1]
    );
    assert_eq!(history[2]["layer"], Value::Null);
    assert_eq!(history[2]["diff_id"], "");
    assert_eq!(history[2]["comment"], "a comment");
    assert_eq!(ours["manifest"]["blob"], lab.manifest("next"));
    assert_eq!(ours["manifest"]["descriptor"], lab.tagged("next"));
    assert_eq!(ours["config"]["blob"], lab.config("next"));
    assert_eq!(ours["config"]["descriptor"], lab.manifest("next")["config"]);
    // umoci 0.4.7's JSON has only the history, entry for entry the same.
    let theirs: Value = serde_json::from_str(&run_ok(
        &mut lab.umoci(&["stat", "--json", "--image", "img:next"]),
    ))
    .unwrap();
    assert_eq!(ours["history"], theirs["history"]);
    // And the table is umoci's, byte for byte.
    assert_eq!(
        run_ok(&mut lab.host(&["stat", "--image", "img:next"])),
        run_ok(&mut lab.umoci(&["stat", "--image", "img:next"]))
    );
}

#[test]
fn config_edits_are_what_umoci_reads_and_writes() {
    if !have("umoci") {
        return;
    }
    let lab = Lab::new();
    let flags = [
        "--config.user",
        "1234:1332",
        "--config.env",
        "FOO=bar",
        "--config.env",
        "PATH=/custom/bin",
        "--config.env",
        "FOO=baz",
        "--config.entrypoint",
        "/bin/sh",
        "--config.cmd",
        "-c",
        "--config.cmd",
        "echo hi",
        "--config.volume",
        "/data",
        "--config.exposedports",
        "8080/tcp",
        "--config.label",
        "org.example=yes <&>",
        "--config.workingdir",
        "/srv",
        "--config.stopsignal",
        "SIGINT",
        "--author",
        "Someone <a@b>",
        "--created",
        "2020-01-02T03:04:05.5+01:00",
        "--os",
        "linux",
        "--architecture",
        "arm64",
        "--manifest.annotation",
        "k=v=w",
        "--history.created",
        "2021-06-07T08:09:10Z",
        "--history.created_by",
        "made by hand",
    ];
    let with = |tag: &str| {
        let mut args = vec!["config", "--image", "img:a", "--tag", tag];
        args.extend_from_slice(&flags);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let ours = with("ours");
    run_ok(&mut lab.host(&ours.iter().map(String::as_str).collect::<Vec<_>>()));
    run_ok(lab.umoci(&[]).args(with("theirs")));
    // The same config bytes umoci writes; the manifest differs only by mediaType
    // (which 0.4.7 leaves out).
    assert_eq!(lab.config_digest("ours"), lab.config_digest("theirs"));
    let mut theirs = lab.manifest("theirs");
    theirs["mediaType"] = descriptor::MANIFEST.into();
    assert_eq!(lab.manifest("ours"), theirs);
    assert_eq!(lab.manifest("ours")["annotations"], json!({"k": "v=w"}));
    let config = lab.config("ours");
    assert_eq!(
        config["config"]["Env"],
        json!(["FOO=baz", "PATH=/custom/bin"])
    );
    assert_eq!(config["config"]["ExposedPorts"], json!({"8080/tcp": {}}));

    // umoci reads it: stat, and unpack's runtime config.
    run_ok(&mut lab.umoci(&["stat", "--json", "--image", "img:ours"]));
    let bundle = lab.path().join("bundle");
    run_ok(lab.umoci(&["unpack", "--image", "img:ours"]).arg(&bundle));
    let runtime: Value =
        serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    let process = &runtime["process"];
    assert_eq!(process["user"]["uid"], 1234);
    assert_eq!(process["user"]["gid"], 1332);
    assert!(
        process["user"]
            .get("additionalGids")
            .is_none_or(Value::is_null)
    );
    assert_eq!(process["args"], json!(["/bin/sh", "-c", "echo hi"]));
    assert_eq!(process["cwd"], "/srv");
    let env: Vec<&str> = process["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"FOO=baz") && env.contains(&"PATH=/custom/bin"),
        "{env:?}"
    );
    assert_eq!(runtime["annotations"]["org.example"], "yes <&>");
    assert!(
        runtime["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["destination"] == "/data"),
        "the volume is a mount"
    );
}

#[test]
fn config_history_clear_and_unknown_fields() {
    let lab = Lab::new();
    // A config with fields we do not know.
    let layout = Layout::open(lab.layout()).unwrap();
    let config = json!({
        "created": "2020-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Hostname": "kept", "Env": ["A=1"], "Labels": {"old": "x"}},
        "rootfs": {"type": "layers", "diff_ids": []},
        "docker_version": "kept too",
    });
    let config = layout.put_json(descriptor::CONFIG, &config).unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": descriptor::MANIFEST,
        "config": config.to_value(),
        "layers": [],
        "annotations": {"old": "y"},
    });
    let manifest = layout.put_json(descriptor::MANIFEST, &manifest).unwrap();
    layout.set_tag("odd", &manifest).unwrap();
    drop(layout);

    run_ok(
        lab.host(&[
            "config",
            "--image",
            "img:odd",
            "--clear",
            "config.env",
            "--clear",
            "manifest.annotations",
            "--config.label",
            "new=z",
        ])
        .env("SOURCE_DATE_EPOCH", "1600000000"),
    );
    let config = lab.config("odd");
    assert_eq!(config["docker_version"], "kept too");
    assert_eq!(config["config"]["Hostname"], "kept");
    assert!(config["config"].get("Env").is_none());
    assert_eq!(config["config"]["Labels"], json!({"new": "z", "old": "x"}));
    assert_eq!(
        config["created"], "2020-01-01T00:00:00Z",
        "not SOURCE_DATE_EPOCH"
    );
    assert_eq!(
        config["history"],
        json!([{"created": "2020-09-13T12:26:40Z", "created_by": "repack-host config", "empty_layer": true}])
    );
    assert!(lab.manifest("odd").get("annotations").is_none());

    // --history.created wins over SOURCE_DATE_EPOCH and keeps its offset; the history
    // author defaults to the image's.
    run_ok(
        lab.host(&[
            "config",
            "--image",
            "img:odd",
            "--author",
            "me",
            "--history.created",
            "2022-02-02T02:02:02.250+05:30",
        ])
        .env("SOURCE_DATE_EPOCH", "1600000000"),
    );
    let history = lab.config("odd")["history"].clone();
    assert_eq!(
        history[1],
        json!({"created": "2022-02-02T02:02:02.25+05:30", "created_by": "repack-host config", "author": "me", "empty_layer": true})
    );
    // --no-history adds none.
    run_ok(&mut lab.host(&[
        "config",
        "--image",
        "img:odd",
        "--no-history",
        "--config.user",
        "7",
    ]));
    assert_eq!(lab.config("odd")["history"], history);
    assert_eq!(lab.config("odd")["config"]["User"], "7");
    assert_eq!(lab.tags(), ["a", "odd"], "the tag moved, no new one");
}

#[test]
fn config_refuses_bad_values_cleanly() {
    let lab = Lab::new();
    let before = lab.index();
    let blobs = lab.blobs();
    for (args, says) in [
        (&["--manifest.annotation", "foo"][..], "must contain '='"),
        (&["--config.env", "=x"], "non-empty name"),
        (&["--config.label", "nolabel"], "must contain '='"),
        (&["--created", "yesterday"], "not an RFC 3339 time"),
        (
            &["--history.created", "invalid date"],
            "not an RFC 3339 time",
        ),
        (&["--tag", ".bad"], "not valid"),
        (&["--clear", "rootfs.diffids"], "invalid value"),
        (
            &["--no-history", "--history.author", "x"],
            "cannot be used with",
        ),
        (&["positional"], "unexpected argument"),
    ] {
        let mut argv = vec!["config", "--image", "img:a"];
        argv.extend_from_slice(args);
        let out = run_fail(&mut lab.host(&argv));
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
    }
    let out = run_fail(&mut lab.host(&["config", "--image", "img:nope", "--author", "x"]));
    assert!(out.stderr.contains("is not found"), "{}", out.stderr);
    assert_eq!(lab.index(), before);
    assert_eq!(lab.blobs(), blobs);
}

#[test]
fn raw_add_layer_appends_an_archive_umoci_unpacks() {
    if !have("umoci") || !have("tar") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    sh(
        dir,
        "mkdir -p src/d && echo added > src/d/f && ln -s f src/d/l && tar -C src -cf layer.tar d",
    );
    let layout = dir.join("L");
    run_ok(repack_host().args(["init", "--layout"]).arg(&layout));
    let image = format!("{}:t", layout.display());
    run_ok(repack_host().args(["new", "--image", &image]));
    let out = run_ok(
        repack_host()
            .args([
                "raw",
                "add-layer",
                "--compress",
                "zstd",
                "--tag",
                "t2",
                "--image",
                &image,
            ])
            .arg(dir.join("layer.tar")),
    );
    assert!(out.starts_with("sha256:"), "{out}");
    // umoci 0.4.7 cannot read zstd; add a gzip layer on top too and read that with ours.
    run_ok(
        repack_host()
            .args(["raw", "add-layer", "--compress", "gzip", "--image"])
            .arg(format!("{}:t", layout.display()))
            .arg(dir.join("layer.tar")),
    );
    run_ok(
        crate::support::umoci_unpack()
            .args(["--image", &image])
            .arg(dir.join("b")),
    );
    assert_eq!(
        fs::read_to_string(dir.join("b/rootfs/d/f")).unwrap(),
        "added\n"
    );
    run_ok(
        repack_host()
            .arg("unpack")
            .args(
                (!rustix::process::geteuid().is_root())
                    .then_some("--rootless")
                    .as_slice(),
            )
            .arg("--image")
            .arg(format!("{}:t2", layout.display()))
            .arg(dir.join("z")),
    );
    assert_eq!(
        fs::read_link(dir.join("z/rootfs/d/l")).unwrap(),
        Path::new("f")
    );
    let manifest = {
        let index: Value =
            serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
        let t2 = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["annotations"][descriptor::REF_NAME] == "t2")
            .unwrap()
            .clone();
        let hex = t2["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:")
            .to_owned();
        serde_json::from_slice::<Value>(&fs::read(layout.join("blobs/sha256").join(hex)).unwrap())
            .unwrap()
    };
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    let err = run_fail(
        repack_host()
            .args(["raw", "add-layer", "--image", &image])
            .arg(dir),
    );
    assert!(err.stderr.contains("not a regular file"), "{}", err.stderr);
}

#[test]
fn insert_adds_whites_out_and_hides_what_umoci_then_sees() {
    if !have("umoci") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    sh(
        dir,
        "mkdir -p src/sub src2 && echo a > src/a && echo b > src/sub/b && chmod 4755 src/a \
         && ln -s a src/link && echo f > file && echo c > src2/c",
    );
    let layout = dir.join("L");
    run_ok(repack_host().args(["init", "--layout"]).arg(&layout));
    let image = format!("{}:t", layout.display());
    run_ok(repack_host().args(["new", "--image", &image]));
    let insert = |args: &[&str]| {
        run_ok(
            repack_host()
                .args(["insert", "--image", &image])
                .args(args)
                .current_dir(dir),
        )
    };
    insert(&["src", "/opt/app"]);
    insert(&["file", "/etc/motd"]);
    let unpack = |name: &str| {
        run_ok(
            crate::support::umoci_unpack()
                .args(["--image", &image])
                .arg(dir.join(name)),
        );
        dir.join(name).join("rootfs")
    };
    let r1 = unpack("b1");
    assert_eq!(fs::read_to_string(r1.join("opt/app/sub/b")).unwrap(), "b\n");
    assert_eq!(fs::read_to_string(r1.join("etc/motd")).unwrap(), "f\n");
    assert_eq!(
        fs::read_link(r1.join("opt/app/link")).unwrap(),
        Path::new("a")
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(r1.join("opt/app/a"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o4755
    );
    insert(&["--whiteout", "/opt/app/sub"]);
    insert(&["--opaque", "src2", "/opt/app"]);
    let r2 = unpack("b2");
    let names: BTreeSet<String> = fs::read_dir(r2.join("opt/app"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["c".to_owned()]),
        "opaque hid a, link and sub"
    );
    assert!(r2.join("etc/motd").exists());
    for bad in [&["file", "/x/.wh.y"][..], &["file", "/"][..]] {
        let out = run_fail(
            repack_host()
                .args(["insert", "--image", &image])
                .args(bad)
                .current_dir(dir),
        );
        assert_eq!(out.stderr.lines().count(), 1, "{bad:?}: {}", out.stderr);
    }
}

#[test]
fn unpack_caches_the_digest_of_every_file_it_wrote() {
    let lab = Lab::new();
    sh(
        lab.path(),
        "mkdir -p src/sub && echo a > src/a && echo b > src/sub/b && ln -s a src/link",
    );
    run_ok(&mut lab.host(&["insert", "--image", "img:a", "src", "/opt"]));
    run_ok(&mut lab.host(&["unpack", "--image", "img:a", "bundle"]));
    // Unpack waits out the racy window it passes to the guest, so both files it just
    // wrote are old enough to be kept.
    let cache = fs::read_to_string(lab.path().join("bundle/repack.statcache")).unwrap();
    let lines: Vec<&str> = cache.lines().collect();
    assert_eq!(lines[0], "repack-statcache 2");
    assert!(lines[lines.len() - 1].starts_with("manifest "), "{cache}");
    let objects = &lines[1..lines.len() - 1];
    // Every object of the rootfs, each agreeing with the manifest; the two files with
    // their digests.
    let rootfs_objects =
        crate::umoci_unpack::snapshot(&lab.path().join("bundle/rootfs"), &[]).len();
    assert_eq!(objects.len(), rootfs_objects, "{cache}");
    assert!(
        objects.iter().all(|l| l.split(' ').nth(1) == Some("=")),
        "{cache}"
    );
    assert_eq!(
        objects.iter().filter(|l| l.split(' ').count() == 3).count(),
        2
    );
    // A repack right after knows every object from the cache and finds nothing
    // changed.
    let out = lab
        .host(&["--log", "debug", "run", "--image", "img:b", "bundle"])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("added 0, modified 0, deleted 0"),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!("stat cache: {rootfs_objects} objects known")),
        "{stderr}"
    );
}
