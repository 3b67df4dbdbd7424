//! Corrupt layouts: `unpack` and `run` refuse each in one line naming the digest of
//! what is wrong, and change nothing (no blob, no `index.json` byte, no half bundle).
//!
//! `run` reads the bundle's descriptor walk, the manifest and the config, and updates
//! `index.json`; it never reads the base image's layers (as umoci's repack), so the
//! cases breaking only a layer blob are `unpack`'s alone.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::invariants::{REF_NAME, assert_same, desc_hex, digest_of, snapshot};
use crate::lab::{Lab, write_random};
use crate::support::{run_fail_line, run_ok, sh};

const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// One copy of the pristine layout and bundle, to break.
struct Case {
    dir: PathBuf,
    rel: String,
}

impl Case {
    fn layout(&self) -> PathBuf {
        self.dir.join("img")
    }

    fn index(&self) -> Value {
        serde_json::from_slice(&fs::read(self.layout().join("index.json")).unwrap()).unwrap()
    }

    fn write_index(&self, index: &Value) {
        fs::write(
            self.layout().join("index.json"),
            serde_json::to_vec(index).unwrap(),
        )
        .unwrap();
    }

    /// Edit the entry tagged `one`.
    fn edit_entry(&self, edit: impl FnOnce(&mut Value)) {
        let mut index = self.index();
        let entry = index["manifests"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|d| d["annotations"][REF_NAME] == "one")
            .unwrap();
        edit(entry);
        self.write_index(&index);
    }

    fn entry(&self) -> Value {
        self.index()["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["annotations"][REF_NAME] == "one")
            .unwrap()
            .clone()
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        self.layout()
            .join("blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap())
    }

    fn manifest(&self) -> Value {
        let hex = desc_hex(&self.entry()).to_owned();
        serde_json::from_slice(&fs::read(self.blob_path(&format!("sha256:{hex}"))).unwrap())
            .unwrap()
    }

    fn manifest_digest(&self) -> String {
        self.entry()["digest"].as_str().unwrap().to_owned()
    }

    fn config_digest(&self) -> String {
        self.manifest()["config"]["digest"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn layer_digest(&self) -> String {
        self.manifest()["layers"][0]["digest"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Store an edited manifest and point the tag and the bundle at it; returns its
    /// digest.
    fn replace_manifest(&self, edit: impl FnOnce(&mut Value)) -> String {
        let old = self.manifest_digest();
        let mut manifest = self.manifest();
        edit(&mut manifest);
        let bytes = serde_json::to_vec(&manifest).unwrap();
        let digest = digest_of(&bytes);
        fs::write(self.blob_path(&digest), &bytes).unwrap();
        let size = bytes.len();
        self.edit_entry(|e| {
            e["digest"] = json!(digest);
            e["size"] = json!(size);
        });
        // The bundle's metadata names the manifest, and so does its mtree file.
        let bundle = self.dir.join("bundle");
        let meta_path = bundle.join("umoci.json");
        let mut meta: Value = serde_json::from_slice(&fs::read(&meta_path).unwrap()).unwrap();
        let walk = meta["from_descriptor_path"]["descriptor_walk"]
            .as_array_mut()
            .unwrap();
        let last = walk.last_mut().unwrap();
        assert_eq!(last["digest"], json!(old));
        last["digest"] = json!(digest);
        last["size"] = json!(size);
        fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
        let mtree = |d: &str| bundle.join(format!("sha256_{}.mtree", &d[7..]));
        fs::rename(mtree(&old), mtree(&digest)).unwrap();
        digest
    }
}

/// Flip one byte in the middle of a file.
fn flip_byte(path: &Path) {
    flip_byte_at(path, |len| len / 2);
}

/// Flip the byte at `at(length)` of a file.
fn flip_byte_at(path: &Path, at: fn(usize) -> usize) {
    let mut bytes = fs::read(path).unwrap();
    let at = at(bytes.len());
    bytes[at] ^= 0x20;
    fs::write(path, bytes).unwrap();
}

/// Cut a file to half its length.
fn truncate(path: &Path) {
    let len = fs::metadata(path).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
}

/// What a case breaks and how the commands must react.
struct Broken {
    /// What both refusals must contain (the digest, or the reason).
    needle: String,
    /// Whether `run` reads what is broken (else only `unpack` is tried).
    run_refuses: bool,
}

fn both(needle: String) -> Broken {
    Broken {
        needle,
        run_refuses: true,
    }
}

fn unpack_only(needle: String) -> Broken {
    Broken {
        needle,
        run_refuses: false,
    }
}

type Breaker = fn(&Case) -> Broken;

fn cases() -> Vec<(&'static str, Breaker)> {
    vec![
        ("config bytes do not match its digest", |c| {
            let d = c.config_digest();
            flip_byte(&c.blob_path(&d));
            both(d)
        }),
        ("layer bytes do not match its digest", |c| {
            let d = c.layer_digest();
            flip_byte(&c.blob_path(&d));
            unpack_only(d)
        }),
        ("layer bytes changed in its compressed text", |c| {
            // The layer ends with the small text files, deflated: the decompressor
            // meets the damage before the blob's digest is known.
            let d = c.layer_digest();
            flip_byte_at(&c.blob_path(&d), |len| len - 1500);
            unpack_only(d)
        }),
        ("manifest truncated", |c| {
            let d = c.manifest_digest();
            truncate(&c.blob_path(&d));
            both(d)
        }),
        ("layer truncated", |c| {
            let d = c.layer_digest();
            truncate(&c.blob_path(&d));
            unpack_only(d)
        }),
        ("manifest whose mediaType says index", |c| {
            both(c.replace_manifest(|m| m["mediaType"] = json!(INDEX)))
        }),
        ("index.json entry says index for a manifest", |c| {
            c.edit_entry(|e| e["mediaType"] = json!(INDEX));
            unpack_only(c.manifest_digest())
        }),
        ("index.json entry with a negative size", |c| {
            c.edit_entry(|e| e["size"] = json!(-1));
            both(c.manifest_digest())
        }),
        ("index.json entry with size 10^18", |c| {
            c.edit_entry(|e| e["size"] = json!(1_000_000_000_000_000_000u64));
            unpack_only(c.manifest_digest())
        }),
        ("config descriptor with a negative size", |c| {
            let d = c.config_digest();
            c.replace_manifest(|m| m["config"]["size"] = json!(-1));
            both(d)
        }),
        ("config descriptor with size 10^18", |c| {
            let d = c.config_digest();
            c.replace_manifest(|m| m["config"]["size"] = json!(1_000_000_000_000_000_000u64));
            both(d)
        }),
        ("layer descriptor with a negative size", |c| {
            let d = c.layer_digest();
            c.replace_manifest(|m| m["layers"][0]["size"] = json!(-1));
            both(d)
        }),
        ("layer descriptor with size 10^18", |c| {
            let d = c.layer_digest();
            c.replace_manifest(|m| m["layers"][0]["size"] = json!(1_000_000_000_000_000_000u64));
            unpack_only(d)
        }),
        ("missing manifest", |c| {
            let d = c.manifest_digest();
            fs::remove_file(c.blob_path(&d)).unwrap();
            both(d)
        }),
        ("missing config", |c| {
            let d = c.config_digest();
            fs::remove_file(c.blob_path(&d)).unwrap();
            both(d)
        }),
        ("missing layer", |c| {
            let d = c.layer_digest();
            fs::remove_file(c.blob_path(&d)).unwrap();
            unpack_only(d)
        }),
        ("index.json with a malformed digest", |c| {
            let mut index = c.index();
            index["manifests"].as_array_mut().unwrap().push(json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": "sha256:xyz",
                "size": 10,
                "annotations": {REF_NAME: "bad"},
            }));
            c.write_index(&index);
            both("sha256:xyz".into())
        }),
        ("index.json with a duplicate tag", |c| {
            let mut index = c.index();
            let base = index["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["annotations"][REF_NAME] == "base")
                .unwrap()
                .clone();
            let mut dup = base;
            dup["annotations"][REF_NAME] = json!("one");
            index["manifests"].as_array_mut().unwrap().push(dup);
            c.write_index(&index);
            unpack_only("tag \"one\" is ambiguous".into())
        }),
    ]
}

#[test]
fn corrupt_inputs_are_refused_naming_the_digest() {
    // The pristine state: `img:one` with one gzip layer, and a bundle of it with a
    // change to repack.
    let lab = Lab::with_layout_in("pristine/img");
    lab.unpack("pristine/img:base", "seed");
    let rootfs = lab.path().join("seed/rootfs");
    write_random(&rootfs.join("random"), 256 << 10, 3);
    for i in 0..200 {
        fs::write(
            rootfs.join(format!("text{i}")),
            format!("line {i}\n").repeat(50),
        )
        .unwrap();
    }
    run_ok(&mut lab.run_cmd("pristine/img:one", "seed", &[]));
    lab.unpack("pristine/img:one", "pristine/bundle");
    fs::write(lab.path().join("pristine/bundle/rootfs/change"), b"x\n").unwrap();

    let mut report = Vec::new();
    for (n, (name, breaker)) in cases().into_iter().enumerate() {
        let rel = format!("c{n}");
        sh(lab.path(), &format!("cp -a pristine {rel}"));
        let case = Case {
            dir: lab.path().join(&rel),
            rel,
        };
        let broken = breaker(&case);
        let before = snapshot(&case.layout());
        let image = format!("{}/img:one", case.rel);

        let out = format!("{}/out", case.rel);
        let line = run_fail_line(&mut lab.unpack_cmd(&image, &out));
        assert!(
            line.contains(&broken.needle),
            "{name}: unpack's message does not name {}: {line}",
            broken.needle
        );
        assert!(
            !lab.path().join(&out).join("rootfs").exists(),
            "{name}: unpack left a half rootfs"
        );
        assert_same(
            &before,
            &snapshot(&case.layout()),
            &format!("{name}: unpack"),
        );
        report.push(format!("{name}\n    unpack: {line}"));

        if broken.run_refuses {
            let bundle = format!("{}/bundle", case.rel);
            let line =
                run_fail_line(&mut lab.run_cmd(&format!("{}/img:new", case.rel), &bundle, &[]));
            assert!(
                line.contains(&broken.needle),
                "{name}: run's message does not name {}: {line}",
                broken.needle
            );
            assert_same(&before, &snapshot(&case.layout()), &format!("{name}: run"));
            report.push(format!("    run:    {line}"));
        }
        fs::remove_dir_all(&case.dir).unwrap();
    }
    eprintln!("corrupt inputs:\n  {}", report.join("\n  "));
}

/// A tag that appears twice is ambiguous to read, but `run` into it replaces both
/// entries with its one.
#[test]
fn run_into_a_duplicated_tag_leaves_one_entry() {
    let lab = Lab::new();
    run_ok(&mut lab.host(&["tag", "--image", "img:base", "dup"]));
    let path = lab.layout().join("index.json");
    let mut index: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let entry = index["manifests"][1].clone();
    index["manifests"].as_array_mut().unwrap().push(entry);
    fs::write(&path, serde_json::to_vec(&index).unwrap()).unwrap();
    lab.unpack("img:base", "bundle");
    fs::write(lab.path().join("bundle/rootfs/change"), b"x\n").unwrap();
    run_ok(&mut lab.run_cmd("img:dup", "bundle", &[]));
    let tags = crate::invariants::check(&lab.layout(), &Default::default()).tags;
    assert!(tags.contains_key("dup"));
}
