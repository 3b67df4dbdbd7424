//! Images and checks the registry tests share.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::Digest as _;

use crate::support::{run_fail, run_ok, sh};

/// `repack-host` with these arguments.
pub fn rh<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> Command {
    crate::support::repack_host_with(args)
}

/// Run `repack-host` with `args` plus `flags`, requiring success; returns stdout and
/// stderr together.
pub fn ok(args: &[&str], flags: &[String]) -> String {
    let mut cmd = rh(args);
    cmd.args(flags);
    let out = cmd.output().expect("spawning repack-host");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Run `repack-host` with `args` plus `flags`, requiring failure with exactly one line
/// on stderr; returns it.
pub fn fails(args: &[&str], flags: &[String]) -> String {
    let mut cmd = rh(args);
    cmd.args(flags);
    let failed = run_fail(&mut cmd);
    let lines: Vec<&str> = failed.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "not one line: {}", failed.stderr);
    lines[0].to_owned()
}

/// A layout `dir/NAME` whose tag `base` holds one layer made by `fill` (a shell script
/// run in the rootfs).
pub fn image(dir: &Path, name: &str, fill: &str) -> PathBuf {
    let layout = dir.join(name);
    let bundle = dir.join(format!("{name}-bundle"));
    run_ok(rh(["init", "--layout"]).arg(&layout));
    run_ok(rh(["new", "--image"]).arg(format!("{}:base", layout.display())));
    run_ok(
        rh(["unpack", "--image"])
            .arg(format!("{}:base", layout.display()))
            .arg(&bundle),
    );
    sh(&bundle.join("rootfs"), fill);
    run_ok(
        rh(["run", "--refresh-bundle", "--image"])
            .arg(format!("{}:base", layout.display()))
            .arg(&bundle),
    );
    layout
}

/// A small image: a few files, one of `random_kib` KiB of random bytes.
pub fn small_image(dir: &Path, name: &str, random_kib: u32) -> PathBuf {
    image(
        dir,
        name,
        &format!(
            "mkdir -p etc data && echo hello > etc/greeting && ln -s greeting etc/link && \
             head -c {}K /dev/urandom > data/random && chmod 0600 data/random",
            random_kib
        ),
    )
}

/// A base image of real Debian files (the machine's time zone database and Perl's
/// base library).
pub fn debian_image(dir: &Path, name: &str) -> PathBuf {
    image(
        dir,
        name,
        "mkdir -p usr/share usr/lib && cp -a /usr/share/zoneinfo usr/share/ && \
         cp -a /usr/lib/x86_64-linux-gnu/perl-base usr/lib/ 2>/dev/null || cp -a /etc/ssl usr/lib/",
    )
}

/// The manifest of a rootfs without its comment lines (the tree is the only
/// difference between two unpacks of one image).
pub fn mtree(rootfs: &Path) -> String {
    let text = run_ok(rh(["raw", "mtree"]).arg(rootfs));
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level `index.json` entries of a layout.
pub fn entries(layout: &Path) -> Vec<serde_json::Value> {
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"].as_array().cloned().unwrap_or_default()
}

/// The digest the tag names in a layout.
pub fn tag_digest(layout: &Path, tag: &str) -> String {
    entries(layout)
        .iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no tag {tag} in {}", layout.display()))["digest"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The layer descriptors of a manifest in a layout.
pub fn layers(layout: &Path, manifest: &str) -> Vec<(String, u64)> {
    let manifest: serde_json::Value = serde_json::from_slice(&blob(layout, manifest)).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["digest"].as_str().unwrap().to_owned(),
                l["size"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// A blob's bytes.
pub fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    fs::read(
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap()
}

/// Every file in `blobs/sha256` hashes to its name (no partial blob anywhere).
pub fn assert_blobs_whole(layout: &Path) {
    for entry in fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let hash = hex(&sha2::Sha256::digest(fs::read(entry.path()).unwrap()));
        assert_eq!(
            hash,
            name,
            "blob {name} in {} is not whole",
            layout.display()
        );
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
