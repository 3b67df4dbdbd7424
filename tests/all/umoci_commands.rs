//! `raw unpack` and `raw runtime-config` against umoci 0.4.7's, and the differences
//! umoci's own test suite showed: `--layout` paths with `:`, `insert --opaque` of a
//! file, the wording of corrupt-blob errors, umoci's `-v` and `h`, and what unpack says
//! to a user other than root or about a bundle path that is a file.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::support;
use crate::support::{cache_dir, have, repack_host, root, run_ok, sha256_hex};

/// The shared lab with the layout `img`: `img:empty` from `umoci new`, and `img:v1`,
/// one layer by umoci holding accounts, owners, modes, links, a fifo and an xattr.
struct Lab(support::lab::Lab);

impl std::ops::Deref for Lab {
    type Target = support::lab::Lab;

    fn deref(&self) -> &support::lab::Lab {
        &self.0
    }
}

/// What `img:v1`'s layer holds (`$R` is the rootfs).
const V1: &str = r#"
mkdir -p "$R/etc" "$R/usr/bin" "$R/d/sub" "$R/home/u"
printf 'root:x:0:0:root:/root:/bin/sh\ntestuser:x:1337:8888:test user:/my home dir :/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\ntestgroup:x:2581:root,testuser\ngroup:x:9001:testuser\nemptygroup:x:2222:\n' > "$R/etc/group"
printf 'tool' > "$R/usr/bin/tool"; chmod 4755 "$R/usr/bin/tool"; ln "$R/usr/bin/tool" "$R/usr/bin/hl"
ln -s usr/bin "$R/bin"; ln -s /etc/passwd "$R/d/abs"; mkfifo "$R/d/fifo"
printf one > "$R/d/one"; printf two > "$R/d/sub/two"; chown -R 1000:100 "$R/home/u"
setfattr -n user.note -v hello "$R/d/one"; chmod 0700 "$R/home/u"
"#;

impl Lab {
    /// The lab, or `None` (with a note) when umoci, setfattr or root is missing
    /// outside CI.
    fn new() -> Option<Lab> {
        if !(have("umoci") && have("setfattr") && root()) {
            return None;
        }
        let lab = Lab(support::lab::Lab::scratch());
        lab.sh(&format!(
            "umoci init --layout img && umoci new --image img:empty\n\
             umoci unpack --image img:empty work\nR=work/rootfs\n{V1}\n\
             umoci repack --image img:v1 work && rm -rf work"
        ));
        Some(lab)
    }

    /// The manifest `tag` points at, and its digest.
    fn manifest_with_digest(&self, tag: &str) -> (String, Value) {
        let index: Value =
            serde_json::from_slice(&fs::read(self.at("img/index.json")).unwrap()).unwrap();
        let digest = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag)
            .unwrap_or_else(|| panic!("no tag {tag}"))["digest"]
            .as_str()
            .unwrap()
            .to_owned();
        let manifest = serde_json::from_slice(&fs::read(self.blob_path(&digest)).unwrap()).unwrap();
        (digest, manifest)
    }

    /// The entry lines of `repack-host raw mtree DIR` (the tree, whatever its path).
    fn tree(&self, dir: &str) -> Vec<String> {
        body(&run_ok(&mut self.host(&["raw", "mtree", dir])))
    }
}

/// Lines that are neither comments nor blank.
fn body(manifest: &str) -> Vec<String> {
    manifest
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// A failure in one line on stderr naming the program, nothing on stdout.
fn one_line_failure(out: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{what}: unexpectedly succeeded");
    assert!(out.stdout.is_empty(), "{what}: stdout {:?}", out.stdout);
    assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
    assert!(stderr.starts_with("repack-host: "), "{what}: {stderr}");
    stderr
}

#[test]
fn raw_unpack_equals_umoci_raw_unpack() {
    let Some(lab) = Lab::new() else { return };
    run_ok(&mut lab.host(&["raw", "unpack", "--image", "img:v1", "ours"]));
    run_ok(&mut lab.umoci(&["raw", "unpack", "--image", "img:v1", "theirs"]));
    let ours = lab.tree("ours");
    assert!(ours.len() > 15, "{ours:#?}");
    assert_eq!(ours, lab.tree("theirs"), "raw unpack against umoci's");
    // The same tree as a whole unpack's, which the bundle's manifest describes.
    run_ok(&mut lab.umoci(&["unpack", "--image", "img:v1", "bundle"]));
    let mtree = fs::read_dir(lab.at("bundle"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "mtree"))
        .unwrap();
    assert_eq!(ours, body(&fs::read_to_string(mtree).unwrap()));
    // The rootfs alone: nothing written beside it.
    let mut names: Vec<String> = fs::read_dir(lab.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["bundle", "img", "ours", "theirs"]);
    let root = |dir: &str| {
        let m = fs::metadata(lab.at(dir)).unwrap();
        (m.mode() & 0o7777, m.uid(), m.gid(), m.mtime())
    };
    assert_eq!(root("ours"), root("theirs"));
    assert_eq!(root("ours").0, 0o755);

    // Mapped owners, into an empty directory that is already there.
    let maps = ["--uid-map", "0:100000:65536", "--gid-map", "0:200000:65536"];
    fs::create_dir(lab.at("mapped-ours")).unwrap();
    let mut ours_cmd = lab.host(&["raw", "unpack", "--image", "img:v1"]);
    run_ok(ours_cmd.args(maps).arg("mapped-ours"));
    let mut theirs_cmd = lab.umoci(&["raw", "unpack", "--image", "img:v1"]);
    run_ok(theirs_cmd.args(maps).arg("mapped-theirs"));
    let mapped = lab.tree("mapped-ours");
    assert_eq!(mapped, lab.tree("mapped-theirs"), "with id maps");
    assert!(
        mapped.iter().any(|l| l.contains("uid=101000")),
        "{mapped:#?}"
    );
}

#[test]
fn raw_unpack_refuses_what_umoci_refuses_and_leaves_nothing() {
    let Some(lab) = Lab::new() else { return };
    for args in [
        &[][..],
        &["r"],
        &["--image", "img:v1"],
        &["--image", ":v1", "r"],
        &["--image", "img-doesnotexist:v1", "r"],
        &["--image", "img:", "r"],
        &["--image", "img:v1-doesnotexist", "r"],
        &["--image", "img:.AZ94n18s", "r"],
        &["--this-is-an-invalid-argument", "--image", "img:v1", "r"],
        &["--image", "img:v1", "r", "this-is-an-invalid-argument"],
    ] {
        let ours = lab.host(&["raw", "unpack"]).args(args).output().unwrap();
        let theirs = lab.umoci(&["raw", "unpack"]).args(args).output().unwrap();
        assert!(!theirs.status.success(), "umoci accepts {args:?}");
        assert!(!ours.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&ours.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        for made in ["r", "this-is-an-invalid-argument"] {
            assert!(!lab.at(made).exists(), "{args:?} made {made}");
        }
    }

    // Where umoci writes over what is there, we refuse it, untouched.
    lab.sh("mkdir full && echo keep > full/f && echo keep > file");
    for (target, why) in [("full", "is not empty"), ("file", "is a file")] {
        let out = lab
            .host(&["raw", "unpack", "--image", "img:v1", target])
            .output()
            .unwrap();
        let stderr = one_line_failure(&out, target);
        assert!(stderr.contains(&format!("{target}: {why}")), "{stderr}");
    }
    assert_eq!(fs::read(lab.at("full/f")).unwrap(), b"keep\n");
    assert_eq!(fs::read(lab.at("file")).unwrap(), b"keep\n");

    // A corrupt layer: the new directory goes, an empty one that was there stays empty.
    let (_, manifest) = lab.manifest_with_digest("v1");
    let layer = lab.blob_path(manifest["layers"][0]["digest"].as_str().unwrap());
    let good = fs::read(&layer).unwrap();
    let mut bad = good.clone();
    let middle = bad.len() / 2;
    bad[middle] ^= 0x55;
    fs::write(&layer, &bad).unwrap();
    fs::create_dir(lab.at("empty")).unwrap();
    for target in ["new", "empty"] {
        let out = lab
            .host(&["raw", "unpack", "--image", "img:v1", target])
            .output()
            .unwrap();
        let stderr = one_line_failure(&out, target);
        assert!(
            stderr.contains("verified reader digest mismatch"),
            "{stderr}"
        );
    }
    fs::write(&layer, &good).unwrap();
    assert!(!lab.at("new").exists());
    assert_eq!(fs::read_dir(lab.at("empty")).unwrap().count(), 0);
}

#[test]
fn raw_runtime_config_equals_umoci_s() {
    let Some(lab) = Lab::new() else { return };
    run_ok(&mut lab.umoci(&["raw", "unpack", "--image", "img:v1", "rootfs"]));
    for (tag, edits) in [
        ("named", &["--config.user", "testuser"][..]),
        ("grouped", &["--config.user", "testuser:emptygroup"]),
        (
            "numeric",
            &[
                "--config.user",
                "1337:8888",
                "--config.workingdir",
                "/a/fake/directory",
                "--config.volume",
                "/some nutty/path name/ here",
                "--config.env",
                "VARIABLE1=test",
                "--config.entrypoint",
                "sh",
                "--config.cmd",
                "-c",
            ],
        ),
    ] {
        let mut config = lab.umoci(&["config", "--image", "img:v1", "--tag", tag]);
        run_ok(config.args(edits));
    }
    for tag in ["v1", "named", "grouped", "numeric"] {
        for flags in [
            &[][..],
            &["--rootfs", "rootfs"],
            &["--rootless"],
            &["--uid-map", "0:1000:65536", "--gid-map", "0:2000:65536"],
        ] {
            let what = format!("{tag} {flags:?}");
            let image = format!("img:{tag}");
            let (ours, theirs) = (lab.at("ours.json"), lab.at("theirs.json"));
            // Both replace what is there.
            fs::write(&ours, "old contents, longer than nothing").unwrap();
            let out = lab
                .host(&["raw", "runtime-config", "--image", &image])
                .args(flags)
                .arg(&ours)
                .output()
                .unwrap();
            assert!(out.status.success(), "{what}: {out:?}");
            run_ok(
                lab.umoci(&["raw", "runtime-config", "--image", &image])
                    .args(flags)
                    .arg(&theirs),
            );
            crate::support::assert_same_json(
                &fs::read(&ours).unwrap(),
                &fs::read(&theirs).unwrap(),
                &what,
            );
            assert_eq!(fs::metadata(&ours).unwrap().mode() & 0o777, 0o644);
            // A user name with nothing to look it up in: root, with umoci's warning.
            let stderr = String::from_utf8_lossy(&out.stderr);
            let unresolved = flags.is_empty() || flags[0] != "--rootfs";
            let named = tag == "named" || tag == "grouped";
            assert_eq!(
                stderr.contains("cannot resolve user spec"),
                named && unresolved,
                "{what}: {stderr}"
            );
        }
    }
    let config: Value = serde_json::from_slice(&fs::read(lab.at("theirs.json")).unwrap()).unwrap();
    assert_eq!(
        config["process"]["user"]["uid"], 1337,
        "the last is numeric"
    );

    // `raw config` is umoci's short name; a name a rootfs does not list is an error.
    run_ok(&mut lab.host(&["raw", "config", "--image", "img:v1", "short.json"]));
    lab.sh("sed -i /testuser/d rootfs/etc/passwd");
    let out = lab
        .host(&["raw", "runtime-config", "--image", "img:named"])
        .args(["--rootfs", "rootfs", "fail.json"])
        .output()
        .unwrap();
    let stderr = one_line_failure(&out, "unknown user");
    assert!(stderr.contains("\"testuser\" not found"), "{stderr}");
    assert!(!lab.at("fail.json").exists());
}

#[test]
fn layout_paths_with_a_colon_are_refused_as_umoci_refuses_them() {
    let Some(lab) = Lab::new() else { return };
    let message = "invalid --layout: path contains ':' character: 'new:tag'";
    let out = lab
        .umoci(&["init", "--layout", "new:tag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(message));
    let out = lab.host(&["init", "--layout", "new:tag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = one_line_failure(&out, "init");
    assert_eq!(stderr.trim_end(), format!("repack-host: {message}"));
    assert!(!lab.at("new:tag").exists());
    // A layout that does have such a name cannot be listed or collected either.
    lab.sh("cp -a img 'old:tag'");
    for command in ["ls", "gc"] {
        let out = lab
            .host(&[command, "--layout", "old:tag"])
            .output()
            .unwrap();
        let stderr = one_line_failure(&out, command);
        assert!(stderr.contains("path contains ':' character: 'old:tag'"));
        let umoci = lab
            .umoci(&[command, "--layout", "old:tag"])
            .output()
            .unwrap();
        assert!(!umoci.status.success(), "umoci {command}");
    }
    run_ok(&mut lab.host(&["ls", "--layout", "img"]));
}

/// One layer entry: name, type, mode, uid, gid, size, mtime.
type Entry = (String, u8, u32, u64, u64, u64, u64);

/// The entries of a gzip layer, and whether it read to its end without an error.
fn layer_entries(path: &Path) -> (Vec<Entry>, bool) {
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(
        fs::File::open(path).unwrap(),
    ));
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let Ok(e) = entry else {
            return (out, false);
        };
        let h = e.header();
        out.push((
            String::from_utf8_lossy(&e.path_bytes()).into_owned(),
            h.entry_type().as_byte(),
            h.mode().unwrap(),
            h.uid().unwrap(),
            h.gid().unwrap(),
            h.size().unwrap(),
            h.mtime().unwrap(),
        ));
    }
    (out, true)
}

#[test]
fn insert_opaque_of_a_file_writes_umoci_s_layer() {
    let Some(lab) = Lab::new() else { return };
    lab.sh("printf 'a file\\n' > source && touch -d @1500000000 source");
    run_ok(&mut lab.host(&[
        "insert", "--image", "img:v1", "--tag", "ours", "--opaque", "source", "/d",
    ]));
    run_ok(&mut lab.umoci(&[
        "insert", "--image", "img:v1", "--tag", "theirs", "--opaque", "source", "/d",
    ]));
    let last = |tag: &str| {
        let (_, manifest) = lab.manifest_with_digest(tag);
        let layer = manifest["layers"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        layer_entries(&lab.blob_path(layer["digest"].as_str().unwrap()))
    };
    let (ours, whole) = last("ours");
    assert!(whole, "our layer reads to its end");
    // umoci 0.4.7's insert layer ends early (no end-of-archive blocks), so a reader
    // stops with an error after its entries.
    assert_eq!(ours, last("theirs").0);
    assert_eq!(ours.len(), 2, "{ours:?}");
    assert_eq!(ours[0].0, "d/.wh..wh..opq", "the marker comes first");
    assert_eq!(ours[1].0, "d");
    for tag in ["ours", "theirs"] {
        run_ok(&mut lab.umoci(&["unpack", "--image", &format!("img:{tag}"), tag]));
        let d = lab.at(tag).join("rootfs/d");
        assert_eq!(fs::read(&d).unwrap(), b"a file\n", "{tag}");
    }
}

#[test]
fn corrupt_blobs_are_reported_in_one_wording_with_exact_sizes() {
    let Some(lab) = Lab::new() else { return };
    let (manifest_digest, manifest) = lab.manifest_with_digest("v1");
    let config_digest = manifest["config"]["digest"].as_str().unwrap().to_owned();
    let layer_digest = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    let index_before = fs::read(lab.at("img/index.json")).unwrap();
    let commands: [&[&str]; 4] = [
        &["unpack", "--image", "img:v1", "bundle"],
        &["raw", "unpack", "--image", "img:v1", "rootfs"],
        &["stat", "--image", "img:v1"],
        &["raw", "runtime-config", "--image", "img:v1", "config.json"],
    ];
    for (what, digest) in [
        ("manifest", &manifest_digest),
        ("config", &config_digest),
        ("layer", &layer_digest),
    ] {
        let path = lab.blob_path(digest);
        let good = fs::read(&path).unwrap();
        let n = good.len();
        let mut flipped = good.clone();
        flipped[n / 2] ^= 0x20;
        let cases = [
            (
                "one byte longer",
                [&good[..], b"\n"].concat(),
                format!(
                    "verified reader size mismatch: the descriptor says {n} bytes, the blob has {}",
                    n + 1
                ),
            ),
            (
                "one byte shorter",
                good[..n - 1].to_vec(),
                format!(
                    "verified reader size mismatch: the descriptor says {n} bytes, the blob has {}",
                    n - 1
                ),
            ),
            (
                "one byte flipped",
                flipped.clone(),
                format!(
                    "verified reader digest mismatch: the bytes hash to sha256:{}",
                    sha256_hex(&flipped)
                ),
            ),
        ];
        for (change, bytes, cause) in cases {
            fs::write(&path, &bytes).unwrap();
            // Only the unpacks read a layer.
            let readers = if what == "layer" {
                &commands[..2]
            } else {
                &commands[..]
            };
            for args in readers {
                let case = format!("{what}, {change}: {args:?}");
                let out = lab.host(args).output().unwrap();
                let stderr = one_line_failure(&out, &case);
                assert!(
                    stderr.contains(&format!("blob {digest}: {cause}")),
                    "{case}: {stderr}"
                );
                for made in ["bundle/rootfs", "rootfs", "config.json"] {
                    assert!(!lab.at(made).exists(), "{case}: {made} remains");
                }
            }
            // umoci refuses it too, though not always with its phrase: it reports
            // what its decompressor, archive or JSON reader met before the check.
            let out = lab
                .umoci(&["unpack", "--image", "img:v1", "umoci-bundle"])
                .output()
                .unwrap();
            assert!(!out.status.success(), "umoci: {what}, {change}");
            let _ = fs::remove_dir_all(lab.at("umoci-bundle"));
        }
        fs::write(&path, &good).unwrap();
    }
    assert_eq!(fs::read(lab.at("img/index.json")).unwrap(), index_before);
}

#[test]
fn version_and_help_take_umoci_s_spellings() {
    for flag in ["-v", "-V", "--version"] {
        let out = run_ok(repack_host().arg(flag));
        assert!(out.starts_with("repack-host "), "{flag}: {out}");
    }
    for args in [
        &["h"][..],
        &["help"],
        &["--help"],
        &["-h"],
        &["h", "unpack"],
        &["help", "raw", "unpack"],
        &["raw", "unpack", "--help"],
    ] {
        let out = run_ok(repack_host().args(args));
        assert!(out.contains("Usage: repack-host"), "{args:?}: {out}");
    }
    let out = run_ok(repack_host().args(["h", "raw", "runtime-config"]));
    assert!(out.contains("--rootfs <ROOTFS>"), "{out}");
    let out = repack_host().args(["help", "nonsense"]).output().unwrap();
    let stderr = one_line_failure(&out, "help nonsense");
    assert!(stderr.contains("no command \"nonsense\""), "{stderr}");
}

#[test]
fn stat_json_keeps_umoci_0_6_s_shape() {
    let Some(lab) = Lab::new() else { return };
    let ours: serde_json::Map<String, Value> = serde_json::from_str(&run_ok(
        &mut lab.host(&["stat", "--json", "--image", "img:v1"]),
    ))
    .unwrap();
    let keys: Vec<&str> = ours.keys().map(String::as_str).collect();
    assert_eq!(keys, ["manifest", "config", "history"]);
    // 0.4.7 printed the history alone; ours holds the same entries.
    let theirs: Value = serde_json::from_str(&run_ok(
        &mut lab.umoci(&["stat", "--json", "--image", "img:v1"]),
    ))
    .unwrap();
    assert_eq!(theirs.as_object().unwrap().len(), 1);
    assert_eq!(ours["history"], theirs["history"]);
}

/// An unprivileged user for the tests (made when missing); its name.
fn unprivileged_user() -> &'static str {
    const NAME: &str = "repack-cli-test";
    let exists = Command::new("id")
        .arg(NAME)
        .output()
        .unwrap()
        .status
        .success();
    if !exists {
        let out = Command::new("useradd")
            .args(["--no-create-home", "--shell", "/bin/sh", NAME])
            .output()
            .unwrap();
        // Another test may have made it meanwhile.
        let again = Command::new("id")
            .arg(NAME)
            .output()
            .unwrap()
            .status
            .success();
        assert!(out.status.success() || again, "useradd: {out:?}");
    }
    NAME
}

#[test]
fn unpack_as_another_user_hints_at_rootless_and_names_a_file_bundle() {
    let Some(lab) = Lab::new() else { return };
    let user = unprivileged_user();
    // A copy of the compiled-component cache the user may write to.
    let cache = lab.at("cache");
    fs::create_dir(&cache).unwrap();
    for entry in fs::read_dir(cache_dir()).into_iter().flatten() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            fs::copy(entry.path(), cache.join(entry.file_name())).unwrap();
        }
    }
    lab.sh(&format!("chown -R {user}: . && chmod 755 ."));
    let as_user = |program: &str, args: &[&str]| {
        let mut cmd = Command::new("setpriv");
        cmd.current_dir(lab.path())
            .args([
                &format!("--reuid={user}"),
                &format!("--regid={user}"),
                "--init-groups",
                program,
            ])
            .args(args)
            .env("REPACK_CACHE_DIR", &cache);
        cmd.output().unwrap()
    };
    let ours = env!("CARGO_BIN_EXE_repack-host");
    for flags in [&["--uid-map", "0:100000:65536"][..], &[]] {
        let mut args = vec!["unpack", "--image", "img:v1"];
        args.extend_from_slice(flags);
        args.push("b");
        let out = as_user(ours, &args);
        let stderr = one_line_failure(&out, &format!("{flags:?}"));
        assert!(
            stderr.contains("Operation not permitted")
                && stderr.ends_with("maybe --rootless will help?)\n"),
            "{flags:?}: {stderr}"
        );
        assert!(!lab.at("b/rootfs").exists());
        let theirs = as_user("umoci", &args);
        assert!(
            String::from_utf8_lossy(&theirs.stderr).contains("maybe --rootless will help?"),
            "umoci: {theirs:?}"
        );
    }
    // With --rootless it works.
    let out = as_user(ours, &["unpack", "--rootless", "--image", "img:v1", "rl"]);
    assert!(out.status.success(), "{out:?}");

    // A bundle path that is a file is named as one, and left alone.
    lab.sh("echo data > plain");
    for args in [
        &["unpack", "--image", "img:v1", "plain"][..],
        &["raw", "unpack", "--image", "img:v1", "plain"],
    ] {
        let out = lab.host(args).output().unwrap();
        let stderr = one_line_failure(&out, "a file");
        assert!(stderr.contains("plain: is a file"), "{stderr}");
        assert_eq!(fs::read(lab.at("plain")).unwrap(), b"data\n");
    }
}
