//! Rootless mode as a real unprivileged user, against umoci 0.4.7 doing the same: trees
//! with directories the owner cannot enter or write (Fedora's 0555 `/usr/bin`, 0550
//! `/root`, a 0000 directory with children, a 0500 one) and files the owner cannot read
//! (0000, 0200). Both tools lend themselves the owner bits they need and put the modes
//! back; the results must be the same, each tool must read the other's, and no lent bit
//! may show in a layer, a manifest or the tree afterwards.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::Path;

use crate::as_user::user;
use crate::support::{have, mtree_file, run_fail, run_ok};
use crate::umoci_unpack::{comparable, snapshot};

/// Fill the rootfs `$R` with locked directories and files (run as the user).
const LOCKED_TREE: &str = r#"
mkdir -p $R/usr/bin $R/root $R/locked/sub/deeper $R/ro $R/etc $R/empty-locked
echo ls > $R/usr/bin/ls && chmod 0755 $R/usr/bin/ls
echo bashrc > $R/root/.bashrc
echo deep > $R/locked/sub/deeper/f
echo ro > $R/ro/f && chmod 0444 $R/ro/f
echo secret > $R/etc/shadow
echo wo > $R/etc/wo && chmod 0200 $R/etc/wo
setfattr -n user.note -v hi $R/usr/bin/ls
setfattr -n user.note -v dir $R/root
chmod 0000 $R/etc/shadow
chmod 0555 $R/usr/bin $R/usr
chmod 0550 $R/root
chmod 0000 $R/locked/sub/deeper $R/empty-locked
chmod 0000 $R/locked
chmod 0500 $R/ro
chmod 0555 $R
"#;

/// Edits inside the locked places, made the way a user does (lend, edit, put back).
/// What changes gets a fixed time: an edit within the second of the unpack would not
/// show in a manifest's whole-second `tar_time`, and the two bundles' results must be
/// the same tree.
const EDITS: &str = r#"
cd $B/rootfs
T=@1900000000
chmod u+w . && mkdir newlocked && echo n > newlocked/f && touch -d $T newlocked/f newlocked
chmod 0000 newlocked
echo w > wo-new && touch -d $T wo-new && chmod 0200 wo-new && touch -d $T . && chmod 0555 .
chmod u+w root && echo added > root/added && touch -d $T root/added root && chmod 0550 root
chmod u+w etc/shadow && echo changed > etc/shadow && touch -d $T etc/shadow
chmod 0000 etc/shadow
chmod 0700 locked locked/sub/deeper && echo new > locked/sub/deeper/new
touch -d $T locked/sub/deeper/new locked/sub/deeper && chmod 0000 locked/sub/deeper locked
echo more >> usr/bin/ls && touch -d $T usr/bin/ls
"#;

fn ready() -> bool {
    let mut ok = true;
    for tool in ["umoci", "setfattr", "setpriv"] {
        ok &= have(tool);
    }
    ok
}

/// A scratch directory the user owns, holding `img` with `img:locked`, an image whose
/// one layer is [`LOCKED_TREE`], made by umoci.
fn locked_image() -> tempfile::TempDir {
    let u = user();
    let lab = u.scratch();
    u.sh(
        lab.path(),
        &format!(
            "umoci init --layout img && umoci new --image img:empty\n\
             umoci unpack --rootless --image img:empty b\nR=b/rootfs\n{LOCKED_TREE}\n\
             umoci repack --image img:locked b\nchmod -R u+rwx b && rm -rf b"
        ),
    );
    lab
}

/// `repack-host unpack --rootless --image img:TAG BUNDLE` as the user, in `lab`.
fn unpack_cmd(lab: &Path, tag: &str, bundle: &str) -> std::process::Command {
    let mut cmd = user().repack_host(lab);
    cmd.args([
        "unpack",
        "--rootless",
        "--image",
        &format!("img:{tag}"),
        bundle,
    ]);
    cmd
}

/// [`unpack_cmd`], requiring success.
fn unpack(lab: &Path, tag: &str, bundle: &str) {
    run_ok(&mut unpack_cmd(lab, tag, bundle));
}

/// The entries of `tag`'s last layer: name to type, mode, owner, size, data digest and
/// xattrs (modification times left out: edits were made at different times).
fn last_layer(lab: &Path, tag: &str) -> BTreeMap<String, String> {
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(lab.join("img/index.json")).unwrap()).unwrap();
    let blob = |digest: &str| lab.join("img/blobs/sha256").join(&digest[7..]);
    let manifest = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("tag {tag}"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(blob(manifest["digest"].as_str().unwrap())).unwrap())
            .unwrap();
    let layer = manifest["layers"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    let file = fs::File::open(blob(layer["digest"].as_str().unwrap())).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let h = entry.header().clone();
        let mut xattrs = Vec::new();
        if let Some(exts) = entry.pax_extensions().unwrap() {
            for ext in exts {
                let ext = ext.unwrap();
                if ext.key().unwrap().starts_with("SCHILY.xattr.") {
                    xattrs.push(format!("{}={:?}", ext.key().unwrap(), ext.value_bytes()));
                }
            }
        }
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.insert(
            name.trim_end_matches('/').to_owned(),
            format!(
                "type={} mode={:o} owner={}:{} size={} data={:?} {}",
                h.entry_type().as_byte() as char,
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                data.len(),
                String::from_utf8_lossy(&data),
                xattrs.join(" ")
            ),
        );
    }
    out
}

#[test]
fn rootless_unpack_of_locked_directories_equals_umoci() {
    if !ready() {
        return;
    }
    let u = user();
    let lab = locked_image();
    let at = |p: &str| lab.path().join(p);
    u.sh(
        lab.path(),
        "umoci unpack --rootless --image img:locked theirs",
    );
    unpack(lab.path(), "locked", "ours");
    let ours = snapshot(&at("ours/rootfs"), &[]);
    assert_eq!(
        ours.get("locked").map(|d| d.starts_with("mode=40000 ")),
        Some(true),
        "{ours:#?}"
    );
    assert!(ours["etc/shadow"].starts_with("mode=100000 "), "{ours:#?}");
    assert!(ours["."].starts_with("mode=40555 "), "{ours:#?}");
    // umoci 0.4.7 sets a directory's mode before its xattrs, so a directory without the
    // owner's write bit silently loses them; we apply the mode after.
    let mut ours = ours;
    let root = ours.get_mut("root").unwrap();
    assert!(root.ends_with(" xattr.user.note=[64, 69, 72]"), "{root}");
    *root = root.replace(" xattr.user.note=[64, 69, 72]", "");
    crate::support::assert_same_paths(
        &ours,
        &snapshot(&at("theirs/rootfs"), &[]),
        ("ours", "umoci"),
        "rootless unpack of locked directories",
    );
    let mtree = |b: &str| {
        comparable(
            &fs::read_to_string(mtree_file(&at(b)))
                .unwrap()
                .replace(" xattr.user.note=ZGly", ""),
            &[],
        )
    };
    assert_eq!(mtree("ours"), mtree("theirs"), ".mtree");
    crate::support::assert_same_json(
        &fs::read(at("ours/config.json")).unwrap(),
        &fs::read(at("theirs/config.json")).unwrap(),
        "config.json",
    );
}

#[test]
fn rootless_repack_of_edits_in_locked_directories_equals_umoci() {
    if !ready() {
        return;
    }
    let u = user();
    let lab = locked_image();
    let at = |p: &str| lab.path().join(p);
    // Ours keeps a stat cache; umoci's bundle has none, so every file is read.
    unpack(lab.path(), "locked", "ours");
    u.sh(
        lab.path(),
        "umoci unpack --rootless --image img:locked theirs",
    );
    for bundle in ["ours", "theirs"] {
        u.sh(lab.path(), &format!("B={bundle}\n{EDITS}"));
    }
    let before = snapshot(&at("theirs/rootfs"), &[]);
    let ours_before = snapshot(&at("ours/rootfs"), &[]);
    u.sh(lab.path(), "umoci repack --image img:by-umoci theirs");
    run_ok(
        u.repack_host(lab.path())
            .args(["run", "--image", "img:by-us", "theirs"]),
    );
    run_ok(
        u.repack_host(lab.path())
            .args(["run", "--image", "img:by-us-cached", "ours"]),
    );
    // The modes are back exactly; nothing else moved.
    crate::support::assert_same_paths(
        &snapshot(&at("theirs/rootfs"), &[]),
        &before,
        ("after", "before"),
        "umoci's bundle after our run",
    );
    crate::support::assert_same_paths(
        &snapshot(&at("ours/rootfs"), &[]),
        &ours_before,
        ("after", "before"),
        "our bundle after our run",
    );
    let umoci = last_layer(lab.path(), "by-umoci");
    crate::support::assert_same_paths(
        &last_layer(lab.path(), "by-us"),
        &umoci,
        ("by-us", "by-umoci"),
        "the new layer",
    );
    // Our bundle kept the 0550 directory's xattr, which umoci's unpack dropped.
    let mut cached = last_layer(lab.path(), "by-us-cached");
    assert!(cached.contains_key("root"), "{cached:#?}");
    let root = cached.get_mut("root").unwrap();
    assert!(
        root.ends_with("SCHILY.xattr.user.note=[100, 105, 114]"),
        "{root}"
    );
    *root = root.replace("SCHILY.xattr.user.note=[100, 105, 114]", "");
    crate::support::assert_same_paths(
        &cached,
        &umoci,
        ("by-us-cached", "by-umoci"),
        "the new layer",
    );
    assert!(umoci["newlocked"].contains("mode=0 "), "{umoci:#?}");
    assert!(
        umoci["locked/sub/deeper/new"].contains("data=\"new\\n\""),
        "{umoci:#?}"
    );

    // Each tool reads the other's result.
    u.sh(
        lab.path(),
        "umoci unpack --rootless --image img:by-us umoci-reads-ours",
    );
    unpack(lab.path(), "by-us", "we-read-ours");
    unpack(lab.path(), "by-umoci", "we-read-umoci");
    let read = |b: &str| snapshot(&at(&format!("{b}/rootfs")), &[]);
    crate::support::assert_same_paths(
        &read("we-read-ours"),
        &read("umoci-reads-ours"),
        ("ours", "umoci"),
        "unpacking our layer",
    );
    crate::support::assert_same_paths(
        &read("we-read-umoci"),
        &read("we-read-ours"),
        ("umoci's image", "ours"),
        "the two repacked images",
    );
}

#[test]
fn a_failed_rootless_job_leaves_modes_and_no_rootfs() {
    if !ready() {
        return;
    }
    let u = user();
    let lab = locked_image();
    let at = |p: &str| lab.path().join(p);
    unpack(lab.path(), "locked", "ours");
    // A repack that fails deep inside a 0000 directory puts every mode back.
    u.sh(
        lab.path(),
        "cd ours/rootfs && chmod 0700 locked && touch locked/.wh.bad && chmod 0000 locked",
    );
    let before = snapshot(&at("ours/rootfs"), &[]);
    let failed = run_fail(
        u.repack_host(lab.path())
            .args(["run", "--image", "img:x", "ours"]),
    );
    assert!(failed.stderr.contains(".wh.bad"), "{}", failed.stderr);
    crate::support::assert_same_paths(
        &snapshot(&at("ours/rootfs"), &[]),
        &before,
        ("after", "before"),
        "a failed run",
    );

    // An unpack that fails after a layer full of locked directories removes the rootfs.
    u.sh(
        lab.path(),
        "umoci unpack --rootless --image img:locked b\n\
         chmod u+w b/rootfs && echo x > b/rootfs/x.txt && chmod 0555 b/rootfs\n\
         umoci repack --image img:broken b",
    );
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(at("img/index.json")).unwrap()).unwrap();
    let broken = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == "broken")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(at("img/blobs/sha256").join(&broken[7..])).unwrap())
            .unwrap();
    let last = manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let blob = at("img/blobs/sha256").join(&last[7..]);
    let mut bytes = fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&blob, bytes).unwrap();
    let failed = run_fail(&mut unpack_cmd(lab.path(), "broken", "failed"));
    assert!(failed.stderr.contains(&last[7..19]), "{}", failed.stderr);
    assert_eq!(failed.stderr.trim().lines().count(), 1, "{}", failed.stderr);
    assert!(!at("failed/rootfs").exists(), "the rootfs is left behind");
    assert!(!at("failed/config.json").exists());
}

#[test]
fn rootless_insert_of_a_locked_directory() {
    if !ready() {
        return;
    }
    let u = user();
    let lab = locked_image();
    // umoci 0.4.7 writes a broken layer for this source (the 0000 directory as a
    // hardlink to itself, then the archive ends), so the expectation is spelled out.
    u.sh(
        lab.path(),
        "mkdir -p src/inner && echo a > src/inner/a && echo b > src/b && chmod 0000 src/b\n\
         touch -d @1500000000 src/inner/a src/b src/inner src\n\
         chmod 0000 src/inner src",
    );
    run_ok(u.repack_host(lab.path()).args([
        "insert",
        "--rootless",
        "--image",
        "img:locked",
        "--tag",
        "by-us",
        "src",
        "/opt/src",
    ]));
    let ours = last_layer(lab.path(), "by-us");
    let expected: BTreeMap<String, String> = [
        ("opt/src", "type=5 mode=0 owner=0:0 size=0 data=\"\" "),
        ("opt/src/b", "type=0 mode=0 owner=0:0 size=2 data=\"b\\n\" "),
        ("opt/src/inner", "type=5 mode=0 owner=0:0 size=0 data=\"\" "),
        (
            "opt/src/inner/a",
            "type=0 mode=644 owner=0:0 size=2 data=\"a\\n\" ",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    crate::support::assert_same_paths(&ours, &expected, ("ours", "expected"), "insert");
    let src = snapshot(&lab.path().join("src"), &[]);
    for path in [".", "inner", "b"] {
        assert!(
            src[path].starts_with("mode=40000 ") || src[path].starts_with("mode=100000 "),
            "the source's modes are put back: {src:#?}"
        );
    }
    // umoci reads the result.
    u.sh(
        lab.path(),
        "umoci unpack --rootless --image img:by-us check",
    );
    let tree = snapshot(&lab.path().join("check/rootfs"), &[]);
    assert!(
        tree["opt/src/inner"].starts_with("mode=40000 "),
        "{tree:#?}"
    );
    assert!(
        tree["opt/src/inner/a"].contains("mtime=1500000000."),
        "{tree:#?}"
    );
}

#[test]
fn the_demo_runs_as_an_unprivileged_user() {
    let u = user();
    let dir = u.scratch();
    let out = run_ok(u.repack_host(dir.path()).args(["demo", "--workdir", "w"]));
    assert!(
        out.starts_with("not running as root: unpacking with --rootless"),
        "{out}"
    );
    assert!(out.contains("its tree equals the edited rootfs"), "{out}");
    assert!(!out.contains("DIFFERS"), "{out}");
}
