//! What must hold of a layout whatever happened to the process writing it, checked
//! independently of the product's own code: every blob hashes to its name, `index.json`
//! parses, every tag resolves down to verified blobs, and nothing but the layout's own
//! files is left behind.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// The annotation holding a tag.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// The names a layout may hold at its top (besides `.umoci-*` temp directories).
const TOP_LEVEL: &[&str] = &[
    "blobs",
    "index.json",
    "oci-layout",
    ".repack.lock",
    ".repack-writers.lock",
];

/// The hex sha256 of a file's bytes.
pub fn sha256_file(path: &Path) -> String {
    let mut file = fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    hex(&hash.finalize())
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The digest string of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// Every file of `blobs/sha256`, each checked to be a regular file hashing to its
/// name; hex → size.
pub fn verified_blobs(layout: &Path) -> BTreeMap<String, u64> {
    let dir = layout.join("blobs/sha256");
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let path = entry.path();
        let meta = fs::symlink_metadata(&path).unwrap();
        assert!(
            meta.is_file(),
            "{}: not a regular file in blobs/sha256",
            path.display()
        );
        assert!(
            name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
            "{}: a stray file in blobs/sha256",
            path.display()
        );
        assert_eq!(
            sha256_file(&path),
            name,
            "{}: the blob does not hash to its name",
            path.display()
        );
        out.insert(name, meta.len());
    }
    out
}

/// `index.json`, parsed; it must be an object with a `manifests` list.
pub fn index(layout: &Path) -> Value {
    let path = layout.join("index.json");
    let bytes = fs::read(&path).unwrap();
    let index: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{}: does not parse: {e}", path.display()));
    assert_eq!(index["schemaVersion"], 2, "{index}");
    assert!(index["manifests"].is_array(), "{index}");
    index
}

/// The tagged `index.json` entries; a tag must not appear twice.
pub fn tags(layout: &Path) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for entry in index(layout)["manifests"].as_array().unwrap() {
        if let Some(tag) = entry["annotations"][REF_NAME].as_str() {
            let old = out.insert(tag.to_owned(), entry.clone());
            assert!(old.is_none(), "tag {tag} appears twice in index.json");
        }
    }
    out
}

/// The hex of a descriptor's digest.
pub fn desc_hex(desc: &Value) -> &str {
    desc["digest"]
        .as_str()
        .and_then(|d| d.strip_prefix("sha256:"))
        .unwrap_or_else(|| panic!("descriptor without a sha256 digest: {desc}"))
}

/// Check that `desc` and everything below it are present with the right size among
/// `blobs` (which are verified); returns the image manifests reached.
pub fn resolve(layout: &Path, blobs: &BTreeMap<String, u64>, desc: &Value) -> Vec<Value> {
    let mut manifests = Vec::new();
    resolve_into(layout, blobs, desc, 0, &mut manifests);
    manifests
}

fn resolve_into(
    layout: &Path,
    blobs: &BTreeMap<String, u64>,
    desc: &Value,
    depth: usize,
    manifests: &mut Vec<Value>,
) {
    assert!(depth < 8, "indexes nested too deep at {desc}");
    let hex = desc_hex(desc);
    let size = desc["size"]
        .as_u64()
        .unwrap_or_else(|| panic!("bad size: {desc}"));
    assert_eq!(
        blobs.get(hex),
        Some(&size),
        "blob {hex} is missing or of the wrong size ({desc})"
    );
    let media_type = desc["mediaType"].as_str().unwrap_or_default();
    if media_type != INDEX && media_type != MANIFEST {
        return;
    }
    let bytes = fs::read(layout.join("blobs/sha256").join(hex)).unwrap();
    let blob: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("blob {hex} ({media_type}) does not parse: {e}"));
    if media_type == INDEX {
        for child in blob["manifests"].as_array().into_iter().flatten() {
            resolve_into(layout, blobs, child, depth + 1, manifests);
        }
        return;
    }
    resolve_into(layout, blobs, &blob["config"], depth + 1, manifests);
    let layers = blob["layers"].as_array().cloned().unwrap_or_default();
    for layer in &layers {
        resolve_into(layout, blobs, layer, depth + 1, manifests);
    }
    // The config lists one diff_id per layer.
    let config: Value = serde_json::from_slice(
        &fs::read(layout.join("blobs/sha256").join(desc_hex(&blob["config"]))).unwrap(),
    )
    .unwrap();
    assert_eq!(
        config["rootfs"]["diff_ids"].as_array().map_or(0, Vec::len),
        layers.len(),
        "manifest {hex}: diff_ids and layers differ in number"
    );
    manifests.push(blob);
}

/// The `.umoci-*` entries of the layout (each must be a directory), after checking
/// that nothing else unexpected is there.
pub fn temp_dirs(layout: &Path) -> Vec<String> {
    let mut temps = Vec::new();
    for entry in fs::read_dir(layout).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if name.starts_with(".umoci-") {
            assert!(
                entry.file_type().unwrap().is_dir(),
                "{name}: a temp entry that is not a directory"
            );
            temps.push(name);
            continue;
        }
        assert!(
            TOP_LEVEL.contains(&name.as_str()),
            "{}: a stray file in the layout",
            entry.path().display()
        );
    }
    let blobs: Vec<String> = fs::read_dir(layout.join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(blobs, ["sha256"], "blobs/ holds only sha256/");
    temps.sort();
    temps
}

/// Everything [`check`] found.
#[derive(Debug)]
pub struct Checked {
    /// Tag → its `index.json` entry.
    pub tags: BTreeMap<String, Value>,
    /// Blob hex → size.
    pub blobs: BTreeMap<String, u64>,
    /// The `.umoci-*` directories present.
    pub temps: Vec<String>,
}

/// Check every invariant, and that each of `kept` (tag → entry) is still exactly in
/// `index.json`.
pub fn check(layout: &Path, kept: &BTreeMap<String, Value>) -> Checked {
    let temps = temp_dirs(layout);
    let blobs = verified_blobs(layout);
    let tags = tags(layout);
    for (tag, entry) in kept {
        assert_eq!(
            tags.get(tag),
            Some(entry),
            "tag {tag} no longer points where it did"
        );
    }
    for (tag, entry) in &tags {
        let manifests = resolve(layout, &blobs, entry);
        assert!(!manifests.is_empty(), "tag {tag} reaches no image manifest");
    }
    Checked { tags, blobs, temps }
}

/// A description of every file under `dir` (type, mode, size and content hash, or
/// link target), keyed by relative path: equal snapshots mean an unchanged tree.
pub fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    snapshot_into(dir, dir, &mut out);
    out
}

fn snapshot_into(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let meta = fs::symlink_metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        let what = if meta.is_dir() {
            snapshot_into(root, &path, out);
            format!("dir {mode:o}")
        } else if meta.is_symlink() {
            format!("link {}", fs::read_link(&path).unwrap().display())
        } else {
            format!("file {mode:o} {} {}", meta.len(), sha256_file(&path))
        };
        out.insert(rel, what);
    }
}

/// Assert two snapshots are equal, listing the differences.
pub fn assert_same(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
    what: &str,
) {
    if before == after {
        return;
    }
    let mut diffs = Vec::new();
    for (k, v) in before {
        match after.get(k) {
            None => diffs.push(format!("- {k} ({v})")),
            Some(w) if w != v => diffs.push(format!("~ {k}: {v} -> {w}")),
            _ => {}
        }
    }
    for (k, v) in after {
        if !before.contains_key(k) {
            diffs.push(format!("+ {k} ({v})"));
        }
    }
    panic!("{what}: the layout changed:\n{}", diffs.join("\n"));
}
