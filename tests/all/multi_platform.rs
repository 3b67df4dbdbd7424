//! Multi-platform images: a tag naming an image index with an amd64 and an arm64
//! manifest (the same rootfs, two configs). `--platform` picks one for unpack, stat,
//! config and insert; `run` on such a bundle changes only that platform's entry, and
//! skopeo, oci-image-tool and umoci read the result.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use sha2::Digest;

use crate::support::{have, repack_host, run_fail, run_ok, sh, umoci_unpack_words};

const INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn ready() -> bool {
    let mut ok = true;
    for tool in ["umoci", "skopeo", "oci-image-tool"] {
        ok &= have(tool);
    }
    ok
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

fn blob(lab: &Path, digest: &str) -> std::path::PathBuf {
    lab.join("img/blobs/sha256").join(&digest[7..])
}

/// The descriptor `tag` has in `index.json`.
fn tagged(lab: &Path, tag: &str) -> Value {
    let index = read_json(&lab.join("img/index.json"));
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("tag {tag} in {index}"))
        .clone()
}

/// The manifests (with their platforms) of the index `tag` names.
fn platforms(lab: &Path, tag: &str) -> Vec<Value> {
    let desc = tagged(lab, tag);
    assert_eq!(desc["mediaType"], INDEX);
    read_json(&blob(lab, desc["digest"].as_str().unwrap()))["manifests"]
        .as_array()
        .unwrap()
        .clone()
}

/// `img` with `img:amd64` and `img:arm64` (umoci), and `img:multi`, an index listing
/// both with their platforms, an annotation and a field no reader knows.
fn lab() -> tempfile::TempDir {
    let lab = tempfile::tempdir().unwrap();
    let unpack = umoci_unpack_words().join(" ");
    sh(
        lab.path(),
        &format!(
            "umoci init --layout img && umoci new --image img:base\n\
             umoci {unpack} --image img:base b && echo shared > b/rootfs/file\n\
             umoci repack --image img:amd64 b\n\
             umoci config --image img:amd64 --tag amd64 --architecture amd64 --os linux\n\
             umoci config --image img:amd64 --tag arm64 --architecture arm64 --os linux"
        ),
    );
    let entry = |tag: &str, platform: Value| {
        let mut d = tagged(lab.path(), tag);
        d.as_object_mut().unwrap().remove("annotations");
        d["platform"] = platform;
        d
    };
    let index = json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [
            entry("amd64", json!({"architecture": "amd64", "os": "linux"})),
            entry("arm64", json!({"architecture": "arm64", "os": "linux", "variant": "v8"})),
        ],
        "annotations": {"org.example.kept": "yes"},
        "org.example.unknown": {"kept": true}
    });
    let bytes = serde_json::to_vec(&index).unwrap();
    let hex: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    fs::write(lab.path().join("img/blobs/sha256").join(&hex), &bytes).unwrap();
    let path = lab.path().join("img/index.json");
    let mut top = read_json(&path);
    top["manifests"].as_array_mut().unwrap().push(json!({
        "mediaType": INDEX,
        "digest": format!("sha256:{hex}"),
        "size": bytes.len(),
        "annotations": {"org.opencontainers.image.ref.name": "multi"}
    }));
    fs::write(&path, serde_json::to_vec(&top).unwrap()).unwrap();
    lab
}

fn ours(lab: &Path) -> Command {
    let mut cmd = repack_host();
    cmd.current_dir(lab);
    cmd
}

fn unpack(lab: &Path, platform: Option<&str>, bundle: &str) -> Command {
    let mut cmd = ours(lab);
    cmd.arg("unpack");
    if !rustix::process::geteuid().is_root() {
        cmd.arg("--rootless");
    }
    if let Some(p) = platform {
        cmd.args(["--platform", p]);
    }
    cmd.args(["--image", "img:multi", bundle]);
    cmd
}

/// The manifest digest a bundle was unpacked from, and its descriptor walk's length.
fn unpacked_from(lab: &Path, bundle: &str) -> (String, usize) {
    let meta = read_json(&lab.join(bundle).join("umoci.json"));
    let walk = meta["from_descriptor_path"]["descriptor_walk"]
        .as_array()
        .unwrap();
    (
        walk.last().unwrap()["digest"].as_str().unwrap().to_owned(),
        walk.len(),
    )
}

#[test]
fn unpack_picks_a_platform_and_run_changes_only_its_entry() {
    if !ready() {
        return;
    }
    let tmp = lab();
    let lab = tmp.path();
    let amd = tagged(lab, "amd64")["digest"].as_str().unwrap().to_owned();
    let arm = tagged(lab, "arm64")["digest"].as_str().unwrap().to_owned();

    // This machine's platform by default, any with --platform (arm64 = arm64/v8).
    run_ok(&mut unpack(lab, None, "b-default"));
    let machine = if std::env::consts::ARCH == "x86_64" {
        &amd
    } else {
        &arm
    };
    assert_eq!(unpacked_from(lab, "b-default"), (machine.clone(), 2));
    run_ok(&mut unpack(lab, Some("linux/arm64"), "b-arm"));
    assert_eq!(unpacked_from(lab, "b-arm"), (arm.clone(), 2));
    run_ok(&mut unpack(lab, Some("linux/amd64"), "b-amd"));
    assert_eq!(unpacked_from(lab, "b-amd").0, amd);

    // A platform the index lacks: one line listing those it has, and no bundle.
    let missing = run_fail(&mut unpack(lab, Some("linux/s390x"), "b-none"));
    assert_eq!(
        missing.stderr.trim().lines().count(),
        1,
        "{}",
        missing.stderr
    );
    assert!(
        missing
            .stderr
            .contains("no manifest for linux/s390x; it has linux/amd64, linux/arm64/v8"),
        "{}",
        missing.stderr
    );
    assert!(!lab.join("b-none/rootfs").exists());
    let bad = run_fail(&mut unpack(lab, Some("linux"), "b-bad"));
    assert!(bad.stderr.contains("invalid --platform"), "{}", bad.stderr);

    // run on the arm64 bundle: a new index where only arm64's entry changed.
    let before = platforms(lab, "multi");
    let old_index = tagged(lab, "multi");
    fs::write(lab.join("b-arm/rootfs/added"), "arm only\n").unwrap();
    run_ok(ours(lab).args(["run", "--image", "img:multi", "b-arm"]));
    let after = platforms(lab, "multi");
    assert_ne!(tagged(lab, "multi")["digest"], old_index["digest"]);
    assert_eq!(after[0], before[0], "the amd64 entry is untouched");
    assert_ne!(after[1]["digest"], before[1]["digest"]);
    assert_eq!(after[1]["platform"], before[1]["platform"]);
    let raw: Value = serde_json::from_str(&run_ok(Command::new("skopeo").current_dir(lab).args([
        "inspect",
        "--raw",
        "oci:img:multi",
    ])))
    .unwrap();
    assert_eq!(raw["annotations"]["org.example.kept"], "yes");
    assert_eq!(raw["org.example.unknown"]["kept"], true);
    assert_eq!(raw["manifests"][0]["digest"].as_str(), Some(amd.as_str()));

    // Readers: skopeo copies every platform, oci-image-tool validates, umoci unpacks
    // the single-manifest tags, and our arm64 unpack sees the change.
    run_ok(Command::new("skopeo").current_dir(lab).args([
        "copy",
        "--all",
        "oci:img:multi",
        "oci:copy:multi",
    ]));
    let copied: Value =
        serde_json::from_str(&run_ok(Command::new("skopeo").current_dir(lab).args([
            "inspect",
            "--raw",
            "oci:copy:multi",
        ])))
        .unwrap();
    assert_eq!(copied["manifests"], raw["manifests"]);
    run_ok(
        Command::new("oci-image-tool").current_dir(lab).args([
            "validate",
            "--type",
            "imageIndex",
            blob(lab, tagged(lab, "multi")["digest"].as_str().unwrap())
                .to_str()
                .unwrap(),
        ]),
    );
    for tag in ["amd64", "arm64"] {
        sh(
            lab,
            &format!(
                "umoci {} --image img:{tag} u-{tag}",
                umoci_unpack_words().join(" ")
            ),
        );
    }
    run_ok(&mut unpack(lab, Some("linux/arm64/v8"), "b-arm-again"));
    assert_eq!(
        fs::read_to_string(lab.join("b-arm-again/rootfs/added")).unwrap(),
        "arm only\n"
    );
    run_ok(&mut unpack(lab, Some("linux/amd64"), "b-amd-again"));
    assert!(!lab.join("b-amd-again/rootfs/added").exists());
}

#[test]
fn stat_config_and_insert_take_a_platform() {
    if !ready() {
        return;
    }
    let tmp = lab();
    let lab = tmp.path();
    let before = platforms(lab, "multi");

    let stat = |platform: &str| {
        run_ok(ours(lab).args([
            "stat",
            "--json",
            "--platform",
            platform,
            "--image",
            "img:multi",
        ]))
    };
    let arm: Value = serde_json::from_str(&stat("linux/arm64")).unwrap();
    assert_eq!(
        arm["manifest"]["descriptor"]["digest"], before[1]["digest"],
        "{arm}"
    );
    let missing = run_fail(ours(lab).args([
        "stat",
        "--platform",
        "linux/riscv64",
        "--image",
        "img:multi",
    ]));
    assert!(missing.stderr.contains("no manifest for linux/riscv64"));

    run_ok(ours(lab).args([
        "config",
        "--platform",
        "linux/arm64",
        "--image",
        "img:multi",
        "--config.user",
        "nobody",
    ]));
    let configured = platforms(lab, "multi");
    assert_eq!(configured[0], before[0]);
    let manifest = read_json(&blob(lab, configured[1]["digest"].as_str().unwrap()));
    let config = read_json(&blob(lab, manifest["config"]["digest"].as_str().unwrap()));
    assert_eq!(config["config"]["User"], "nobody");
    assert_eq!(config["architecture"], "arm64");

    fs::write(lab.join("inserted"), "amd only\n").unwrap();
    run_ok(ours(lab).args([
        "insert",
        "--platform",
        "linux/amd64",
        "--image",
        "img:multi",
        "inserted",
        "/inserted",
    ]));
    let inserted = platforms(lab, "multi");
    assert_eq!(inserted[1], configured[1], "the arm64 entry is untouched");
    assert_ne!(inserted[0]["digest"], configured[0]["digest"]);
    let amd: Value = serde_json::from_str(&stat("linux/amd64")).unwrap();
    assert_eq!(
        amd["manifest"]["descriptor"]["digest"],
        inserted[0]["digest"]
    );
}
