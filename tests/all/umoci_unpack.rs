//! `unpack` against umoci 0.4.7: the same bundle from the same image, umoci repacking
//! what we unpack, determinism, compression, blob verification, id mappings, rootless
//! and dirlink modes, and hostile layers that must never reach outside the bundle.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support;
use crate::support::{assert_same_paths, have, mtree_file, repack_host, root, run_ok, sha256_hex};

/// Builds layers from a snippet of Python: `tar OUT SNIPPET` writes a plain archive,
/// `layer LAYOUT TAG NEW_TAG gzip|none SNIPPET` appends it to an image (see the
/// script's docstring).
const LAYERS_PY: &str = include_str!("layers.py");

/// Lists the entry names of the (possibly gzip-compressed) tar file `argv[1]`.
const LIST_TAR: &str = r#"
import json, sys, tarfile
with tarfile.open(sys.argv[1]) as tar:
    json.dump([m.name for m in tar], sys.stdout)
"#;

/// Whether the peers are here and we are root. Under `CI=true` anything missing fails.
pub(crate) fn ready() -> bool {
    let mut ok = true;
    for tool in ["umoci", "python3", "setfattr"] {
        ok &= have(tool);
    }
    ok && root()
}

/// The shared lab (with `img:empty` from `umoci new`), with the layer builders and
/// bundle comparisons these tests need.
pub(crate) struct Lab(support::lab::Lab);

impl std::ops::Deref for Lab {
    type Target = support::lab::Lab;

    fn deref(&self) -> &support::lab::Lab {
        &self.0
    }
}

impl Lab {
    pub(crate) fn new() -> Lab {
        let lab = Lab(support::lab::Lab::scratch());
        lab.sh("umoci init --layout img && umoci new --image img:empty");
        lab
    }

    /// With umoci: unpack `from` into the bundle `work-<to>`, run `script` on its rootfs
    /// (`$R`), repack as `to`.
    pub(crate) fn umoci_layer(&self, from: &str, to: &str, script: &str) {
        self.sh(&format!(
            "umoci unpack --image img:{from} work-{to}\nR=work-{to}/rootfs\n{script}\numoci repack --image img:{to} work-{to}"
        ));
    }

    fn python(&self, args: &[&str]) {
        run_ok(
            Command::new("python3")
                .current_dir(self.path())
                .env("MARKER", self.path().canonicalize().unwrap().join("MARKER"))
                .arg("-c")
                .arg(LAYERS_PY)
                .args(args),
        );
    }

    /// Append a layer made by `snippet` (see [`LAYERS_PY`]) to `from`, as `to`.
    pub(crate) fn add_layer(&self, from: &str, to: &str, compress: &str, snippet: &str) {
        self.python(&["layer", "img", from, to, compress, snippet]);
    }

    /// The same, through `umoci raw add-layer` (umoci compresses the archive).
    fn umoci_add_layer(&self, from: &str, to: &str, snippet: &str) {
        self.python(&["tar", "layer.tar", snippet]);
        self.sh(&format!(
            "umoci raw add-layer --image img:{from} --tag {to} layer.tar && rm layer.tar"
        ));
    }

    /// `repack-host unpack FLAGS --image img:TAG BUNDLE` in the lab directory.
    pub(crate) fn ours(&self, tag: &str, bundle: &str, flags: &[&str]) -> Command {
        let mut cmd = repack_host();
        cmd.current_dir(self.path())
            .arg("unpack")
            .args(flags)
            .arg("--image")
            .arg(format!("img:{tag}"))
            .arg(bundle);
        cmd
    }

    pub(crate) fn unpack(&self, tag: &str, bundle: &str, flags: &[&str]) {
        run_ok(&mut self.ours(tag, bundle, flags));
    }

    pub(crate) fn umoci_unpack(&self, tag: &str, bundle: &str, flags: &[&str]) {
        self.sh(&format!(
            "umoci unpack {} --image img:{tag} {bundle}",
            flags.join(" ")
        ));
    }

    fn layers(&self, tag: &str) -> Vec<Value> {
        self.manifest(tag)["layers"].as_array().unwrap().clone()
    }

    /// The entry names of `tag`'s last layer (gzip or plain).
    fn last_layer_names(&self, tag: &str) -> Vec<String> {
        let layer = self.layers(tag).pop().expect("a layer");
        let out = run_ok(
            Command::new("python3")
                .args(["-c", LIST_TAR])
                .arg(self.blob_path(layer["digest"].as_str().unwrap())),
        );
        serde_json::from_str(&out).unwrap()
    }

    fn rootfs(&self, bundle: &str) -> Snapshot {
        snapshot(&self.at(&format!("{bundle}/rootfs")), &[])
    }

    /// Assert that our bundle and umoci's are the same: rootfs, manifest, config.json,
    /// umoci.json (but umoci 0.4.7's `"whiteout_mode":0`), file names, modes.
    pub(crate) fn assert_same_bundle(&self, ours: &str, theirs: &str) {
        self.assert_same_bundle_but_times(ours, theirs, &[]);
    }

    /// [`Self::assert_same_bundle`], but the modification times of `paths` (and of
    /// manifest entries with their base names) may differ.
    fn assert_same_bundle_but_times(&self, ours: &str, theirs: &str, paths: &[&str]) {
        let what = format!("{ours} against umoci's {theirs}");
        assert_same_snapshot(
            &forget_times(self.rootfs(ours), paths),
            &forget_times(self.rootfs(theirs), paths),
            &what,
        );
        let names: Vec<&str> = paths
            .iter()
            .map(|p| p.rsplit('/').next().unwrap())
            .collect();
        let mtree = |b: &str| {
            let text = fs::read_to_string(mtree_file(&self.at(b))).unwrap();
            comparable(&text, &names)
        };
        assert_eq!(mtree(ours), mtree(theirs), "{what}: .mtree");
        let read = |b: &str, f: &str| fs::read_to_string(self.at(b).join(f)).unwrap();
        crate::support::assert_same_json(
            read(ours, "config.json").as_bytes(),
            read(theirs, "config.json").as_bytes(),
            &format!("{what}: config.json"),
        );
        let theirs_meta = read(theirs, "umoci.json");
        assert!(
            theirs_meta.contains(",\"whiteout_mode\":0}"),
            "{theirs_meta}"
        );
        assert_eq!(
            read(ours, "umoci.json"),
            theirs_meta.replace(",\"whiteout_mode\":0}", "}"),
            "{what}: umoci.json"
        );
        let names = |b: &str| -> BTreeSet<String> {
            fs::read_dir(self.at(b))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        };
        // Ours may also hold its stat cache.
        let mut ours_names = names(ours);
        ours_names.remove(STAT_CACHE);
        assert_eq!(ours_names, names(theirs), "{what}: bundle files");
        let mode = |p: PathBuf| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(self.at(ours)), 0o700, "{what}: bundle mode");
        for f in ["config.json", "umoci.json"] {
            assert_eq!(mode(self.at(ours).join(f)), 0o644, "{what}: {f}");
        }
        assert_eq!(mode(mtree_file(&self.at(ours))), 0o644, "{what}: .mtree");
    }
}

/// Each object below a root, by path relative to it (`.` for the root): what `lstat`,
/// the data and the xattrs say, with hardlinked names sharing a label (the first path
/// of the inode in walk order). Access times are left out.
pub(crate) type Snapshot = BTreeMap<String, String>;

pub(crate) fn snapshot(root: &Path, skip: &[&Path]) -> Snapshot {
    let mut out = Snapshot::new();
    let mut inodes = HashMap::new();
    walk(root, root, skip, &mut out, &mut inodes);
    out
}

fn walk(
    root: &Path,
    path: &Path,
    skip: &[&Path],
    out: &mut Snapshot,
    inodes: &mut HashMap<(u64, u64), String>,
) {
    let meta = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let lent = lend(path, &meta);
    let rel = match path.strip_prefix(root).unwrap() {
        p if p.as_os_str().is_empty() => ".".to_owned(),
        p => p.to_string_lossy().into_owned(),
    };
    let ft = meta.file_type();
    let mut desc = format!(
        "mode={:o} uid={} gid={} nlink={} size={} mtime={}.{:09}",
        meta.mode(),
        meta.uid(),
        meta.gid(),
        meta.nlink(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec()
    );
    if !ft.is_dir() && meta.nlink() > 1 {
        let first = inodes
            .entry((meta.dev(), meta.ino()))
            .or_insert_with(|| rel.clone());
        desc += &format!(" inode={first:?}");
    }
    if ft.is_file() {
        desc += &format!(" sha256={}", sha256_hex(&fs::read(path).unwrap()));
    } else if ft.is_symlink() {
        desc += &format!(" link={:?}", fs::read_link(path).unwrap());
    } else if ft.is_char_device() || ft.is_block_device() {
        desc += &format!(" rdev={:x}", meta.rdev());
    }
    for (name, value) in xattrs(path) {
        desc += &format!(" xattr.{}={:02x?}", String::from_utf8_lossy(&name), value);
    }
    out.insert(rel, desc);
    if ft.is_dir() {
        let mut children: Vec<PathBuf> = fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        children.sort_by(|a, b| a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes()));
        for child in children {
            if !skip.contains(&child.as_path()) {
                walk(root, &child, skip, out, inodes);
            }
        }
    }
    if let Some(mode) = lent {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// Without root, give the owner the bits it needs to read `path` (a locked directory or
/// file), as the tools under test do; returns the mode to put back.
fn lend(path: &Path, meta: &fs::Metadata) -> Option<u32> {
    let need = if meta.is_dir() {
        0o700
    } else if meta.is_file() {
        0o600
    } else {
        return None;
    };
    let mode = meta.mode() & 0o7777;
    if rustix::process::geteuid().is_root() || mode & need == need {
        return None;
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode | need)).unwrap();
    Some(mode)
}

/// The extended attributes of `path` (not following a symlink), sorted.
fn xattrs(path: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut names = vec![0u8; 1 << 16];
    let n = rustix::fs::llistxattr(path, &mut names[..]).unwrap();
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = names[..n]
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty())
        .map(|name| {
            let mut value = vec![0u8; 1 << 16];
            let len =
                rustix::fs::lgetxattr(path, std::ffi::OsStr::from_bytes(name), &mut value[..])
                    .unwrap();
            value.truncate(len);
            (name.to_vec(), value)
        })
        .collect();
    out.sort();
    out
}

pub(crate) fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    xattrs(path)
        .into_iter()
        .find(|(n, _)| n == name.as_bytes())
        .map(|(_, v)| v)
}

/// Assert two snapshots agree, naming each path that differs.
fn assert_same_snapshot(ours: &Snapshot, theirs: &Snapshot, what: &str) {
    assert_same_paths(ours, theirs, ("ours", "theirs"), what);
}

/// Assert that `unpacked` is `source` as layers carry it: the same, but modification
/// times are whole seconds, truncated (repack-host, like umoci 0.6) or rounded (umoci
/// 0.4.7).
fn assert_same_in_whole_seconds(unpacked: &Snapshot, source: &Snapshot, what: &str) {
    let split = |desc: &str| {
        let start = desc.find(" mtime=").unwrap();
        let end = desc[start + 1..]
            .find(' ')
            .map_or(desc.len(), |i| start + 1 + i);
        let (sec, nsec) = desc[start + 7..end].split_once('.').unwrap();
        let rest = format!("{}{}", &desc[..start], &desc[end..]);
        (
            rest,
            sec.parse::<i64>().unwrap(),
            nsec.parse::<u32>().unwrap(),
        )
    };
    let mut problems = Vec::new();
    for path in unpacked
        .keys()
        .chain(source.keys())
        .collect::<BTreeSet<_>>()
    {
        let ok = match (unpacked.get(path), source.get(path)) {
            (Some(a), Some(b)) => {
                let ((a_rest, a_sec, a_nsec), (b_rest, b_sec, b_nsec)) = (split(a), split(b));
                let rounded = b_sec + i64::from(b_nsec >= 500_000_000);
                a_rest == b_rest && a_nsec == 0 && (a_sec == b_sec || a_sec == rounded)
            }
            _ => false,
        };
        if !ok {
            problems.push(format!(
                "{path:?}:\n  unpacked: {:?}\n  source:   {:?}",
                unpacked.get(path),
                source.get(path)
            ));
        }
    }
    assert!(problems.is_empty(), "{what}:\n{}", problems.join("\n"));
}

/// Lines that are neither comments nor blank: the structure and every entry.
fn body(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// The manifest's [`body`], each line's xattr keywords sorted (umoci sets a file's
/// xattrs in Go map order, so its manifest lists them in a random order) and without
/// the `tar_time` of entries named in `no_time`.
pub(crate) fn comparable(text: &str, no_time: &[&str]) -> Vec<String> {
    body(text)
        .into_iter()
        .map(|line| {
            let indent = &line[..line.len() - line.trim_start().len()];
            let mut words: Vec<&str> = line.split_whitespace().collect();
            let name = words[0];
            let mut xattrs: Vec<&str> = words
                .iter()
                .copied()
                .filter(|w| w.starts_with("xattr."))
                .collect();
            xattrs.sort_unstable();
            let timeless = no_time.contains(&name);
            words.retain(|w| {
                let time = timeless && w.starts_with("tar_time=");
                !(w.starts_with("xattr.") || time)
            });
            words.extend(xattrs);
            format!("{indent}{}", words.join(" "))
        })
        .collect()
}

/// The snapshot without the modification times of `paths`.
fn forget_times(mut snapshot: Snapshot, paths: &[&str]) -> Snapshot {
    for path in paths {
        let desc = snapshot
            .get_mut(*path)
            .unwrap_or_else(|| panic!("{path} is not in the tree"));
        let start = desc.find(" mtime=").unwrap();
        let end = desc[start + 1..]
            .find(' ')
            .map_or(desc.len(), |i| start + 1 + i);
        desc.replace_range(start..end, "");
    }
    snapshot
}

pub(crate) fn output(cmd: &mut Command) -> Output {
    cmd.output().expect("spawning a command")
}

/// A failed unpack's stderr: non-zero exit, one line, nothing on stdout.
pub(crate) fn one_line_failure(out: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{what}: unexpectedly succeeded");
    assert!(out.stdout.is_empty(), "{what}: stdout {:?}", out.stdout);
    assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
    assert!(stderr.starts_with("repack-host: "), "{what}: {stderr}");
    stderr
}

/// The first layer, by umoci: every kind of object, owner, mode, xattr and name.
const LAYER1: &str = r#"
mkdir -p "$R/etc" "$R/usr/bin" "$R/usr/lib" "$R/data/sub/deep" "$R/gone-dir/inner" \
    "$R/opq/keep-old" "$R/modes/sticky" "$R/odd/dir with space" "$R/odd/=eq=" "$R/odd/ünïcödé"
printf 'hello\n' > "$R/etc/motd"
printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:100::/home/user:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\nusers:x:100:\n' > "$R/etc/group"
printf 'old passwd' > "$R/etc/old"
printf 'tool' > "$R/usr/bin/tool"
ln "$R/usr/bin/tool" "$R/usr/bin/tool-hl"; ln "$R/usr/bin/tool" "$R/data/tool-hl2"
ln -s usr/bin "$R/bin"; ln -s /usr/lib "$R/lib"; ln -s ../../etc/motd "$R/data/sub/motd-link"
ln -s dangling-target "$R/data/dangling"; ln -s 'a \really //weird _00..:=path ' "$R/data/weird"
ln -s tool "$R/usr/bin/tool-sym"; ln -P "$R/usr/bin/tool-sym" "$R/data/hardsym"
printf deep > "$R/data/sub/deep/file"; printf g > "$R/gone-dir/inner/f"; printf g2 > "$R/gone-dir/top"
printf o1 > "$R/opq/old1"; printf o2 > "$R/opq/keep-old/x"
mknod "$R/chr" c 128 42; mknod "$R/blk" b 253 97; mkfifo "$R/fifo"
setfattr -n user.note -v hello "$R/etc/motd"
setfattr -n 'user.with space' -v sp "$R/data"
setfattr -n user.binary -v 0x00ff10 "$R/usr/bin/tool"
setfattr -n trusted.test -v t "$R/etc/passwd"
for m in suid sgid both plain; do printf $m > "$R/modes/$m"; done
chmod 4755 "$R/modes/suid"; chmod 2755 "$R/modes/sgid"; chmod 6711 "$R/modes/both"
chmod 0600 "$R/modes/plain"; chmod 1777 "$R/modes/sticky"
chown 992:123 "$R/etc/motd"; chown -R 1000:100 "$R/data/sub"; chown 5:6 "$R/fifo"
mkdir -p "$R/locked/inner"; mkfifo "$R/locked/fifo"; printf s > "$R/locked/file"
ln -s '/../././././/../../../../etc/shadow' "$R/locked/link"
chmod 0000 "$R/locked/inner" "$R/locked"
printf q > "$R/zero-file"; chmod 0000 "$R/zero-file"
printf 1 > "$R/odd/dir with space/ file with spaces "
printf 2 > "$R/odd/a=b"; printf 2 > "$R/odd/=eq=/x=y"
printf 3 > "$R/odd/ünïcödé/ağaç ışık ĞÜŞİÖÇ"; printf 4 > "$R/odd/漢字 かな"
printf 5 > "$R/odd/new
line"; printf 6 > "$R/odd/..dots.."; printf 7 > "$R/odd/glob*?[#"
printf 8 > "$R/odd/back\\slash"; printf 9 > "$R/odd/tab	c"
touch -h -d @1000000 "$R/etc/motd" "$R/bin" "$R/data/weird"
"#;

/// The second: deletions (whiteouts, a deleted directory), changes, type swaps, links.
const LAYER2: &str = r#"
rm "$R/etc/motd" "$R/data/dangling"; rm -r "$R/gone-dir"
printf 'new\n' > "$R/etc/new"
printf 'changed\n' >> "$R/etc/passwd"
ln "$R/usr/bin/tool" "$R/etc/tool-hl3"; rm "$R/usr/bin/tool-hl"
rm -r "$R/data/sub/deep"; printf 'now a file' > "$R/data/sub/deep"
rm "$R/lib"; mkdir "$R/lib"; printf l > "$R/lib/libx"
rm "$R/data/weird"; mkdir "$R/data/weird"
setfattr -n user.added -v v "$R/etc/passwd"; setfattr -x 'user.with space' "$R/data"
chmod 0755 "$R/locked"; printf 'changed' > "$R/locked/file"; chmod 0000 "$R/locked"
chown 7:8 "$R/fifo"; chmod 4711 "$R/modes/plain"
rm "$R/odd/漢字 かな"
"#;

/// The third: a deleted directory and file come back, a subtree with owners goes.
const LAYER3: &str = r#"
mkdir -p "$R/gone-dir"; printf back > "$R/gone-dir/again"
printf 'motd again\n' > "$R/etc/motd"
rm -r "$R/data/sub"
rm "$R/chr"; ln -s target "$R/chr"
printf new-tool > "$R/usr/bin/tool-new"
"#;

/// The fourth, raw: an opaque directory (with an entry of this layer before the
/// marker), a whiteout of a lower file and of this layer's own file, and a file
/// replacing a hardlinked name (the other names keep the old inode).
const LAYER4: &str = r#"
dir("opq", mode=0o750)
reg("opq/new", b"this layer")
reg("opq/.wh..wh..opq")
reg("opq/after", b"after the marker")
reg("etc/.wh.new")
reg("etc/fresh", b"kept")
reg("etc/.wh.fresh")
reg("usr/bin/tool", b"replaced", mode=0o755, uid=3, gid=4, xattrs={"user.x": "y"})
fifo("opq/p", mode=0o600)
"#;

/// `img:l1` … `img:l4` (see the layer constants).
fn layered_lab() -> Lab {
    let lab = Lab::new();
    lab.umoci_layer("empty", "l1", LAYER1);
    lab.umoci_layer("l1", "l2", LAYER2);
    lab.umoci_layer("l2", "l3", LAYER3);
    lab.umoci_add_layer("l3", "l4", LAYER4);
    lab
}

#[test]
fn unpack_equals_umoci_unpack() {
    if !ready() {
        return;
    }
    let lab = layered_lab();
    assert_eq!(lab.layers("l4").len(), 4);
    for tag in ["empty", "l1", "l2", "l3", "l4"] {
        let (ours, theirs) = (format!("ours-{tag}"), format!("umoci-{tag}"));
        lab.unpack(tag, &ours, &[]);
        lab.umoci_unpack(tag, &theirs, &[]);
        lab.assert_same_bundle(&ours, &theirs);
    }

    // What the layers did, in our bundle (umoci's is the same, as checked above).
    let got = lab.rootfs("ours-l4");
    let r = lab.at("ours-l4/rootfs");
    for gone in [
        "gone-dir/inner",
        "gone-dir/top",
        "data/dangling",
        "data/sub",
        "etc/new",
    ] {
        assert!(!got.contains_key(gone), "{gone} was deleted: {got:#?}");
    }
    assert_eq!(fs::read(r.join("gone-dir/again")).unwrap(), b"back");
    assert_eq!(fs::read(r.join("etc/motd")).unwrap(), b"motd again\n");
    assert!(
        fs::symlink_metadata(r.join("etc/fresh")).is_ok(),
        "a whiteout of the same layer's file is ignored"
    );
    let opq: Vec<&String> = got.keys().filter(|k| k.starts_with("opq/")).collect();
    assert_eq!(opq, ["opq/after", "opq/new", "opq/p"], "opaque directory");
    assert_eq!(fs::read(r.join("usr/bin/tool")).unwrap(), b"replaced");
    let ino = |p: &str| fs::symlink_metadata(r.join(p)).unwrap().ino();
    // Replacing a name leaves the lower layer's inode to its other names.
    assert_ne!(ino("data/tool-hl2"), ino("usr/bin/tool"));
    assert_eq!(fs::read(r.join("data/tool-hl2")).unwrap(), b"tool");
    let l1 = lab.at("ours-l1/rootfs");
    let l1_ino = |p: &str| fs::symlink_metadata(l1.join(p)).unwrap().ino();
    assert_eq!(l1_ino("usr/bin/tool"), l1_ino("usr/bin/tool-hl"));
    assert_eq!(l1_ino("usr/bin/tool"), l1_ino("data/tool-hl2"));
    assert_eq!(
        ino("data/hardsym"),
        ino("usr/bin/tool-sym"),
        "a hardlink to a symlink"
    );
    assert!(
        fs::symlink_metadata(r.join("data/hardsym"))
            .unwrap()
            .is_symlink()
    );
    let meta = |p: &str| fs::symlink_metadata(r.join(p)).unwrap();
    assert!(meta("blk").file_type().is_block_device());
    assert_eq!(meta("blk").rdev(), rustix::fs::makedev(253, 97));
    assert!(meta("fifo").file_type().is_fifo());
    assert_eq!((meta("fifo").uid(), meta("fifo").gid()), (7, 8));
    assert_eq!(meta("modes/both").mode() & 0o7777, 0o6711);
    assert_eq!(meta("modes/plain").mode() & 0o7777, 0o4711);
    assert_eq!(meta("modes/sticky").mode() & 0o7777, 0o1777);
    assert_eq!(meta("locked").mode() & 0o7777, 0);
    assert!(meta("chr").file_type().is_symlink());
    assert_eq!(
        xattr(&r.join("usr/bin/tool"), "user.x"),
        Some(b"y".to_vec())
    );
    assert_eq!(
        xattr(&r.join("etc/passwd"), "trusted.test"),
        Some(b"t".to_vec())
    );
    assert_eq!(
        fs::read(r.join("odd/new\nline")).unwrap(),
        b"5",
        "odd names"
    );
    assert!(got.contains_key("odd/glob*?[#"));
    assert!(!got.contains_key("odd/漢字 かな"));
    assert_eq!(
        fs::read_link(r.join("locked/link")).unwrap(),
        Path::new("/../././././/../../../../etc/shadow")
    );
}

#[test]
fn umoci_and_run_repack_our_bundle() {
    if !ready() {
        return;
    }
    let lab = layered_lab();
    lab.unpack("l4", "ours", &[]);
    lab.umoci_unpack("l4", "theirs", &[]);
    lab.sh("cp -a ours ours-run");
    const EDIT: &str = r#"
printf 'edited\n' > "$R/etc/edited"
printf 'more\n' >> "$R/etc/passwd"
rm "$R/modes/suid"; rm -r "$R/gone-dir"
chmod 0700 "$R/usr/bin"; chown 42:43 "$R/etc/group"
setfattr -n user.new -v n "$R/etc/group"
touch -d @1900000000 "$R/etc" "$R/modes" "$R"
"#;
    // The changed directories get a fixed time: an edit within the second of the unpack
    // would not show in the manifests' whole-second times, in one bundle but not another.
    for bundle in ["ours", "theirs", "ours-run"] {
        lab.sh(&format!("R={bundle}/rootfs\n{EDIT}"));
    }
    lab.sh(
        "umoci repack --image img:from-ours ours && umoci repack --image img:from-theirs theirs",
    );
    run_ok(repack_host().current_dir(lab.path()).args([
        "run",
        "--image",
        "img:from-run",
        "ours-run",
    ]));

    // umoci found the same changes against our manifest as against its own.
    let names = lab.last_layer_names("from-ours");
    assert_eq!(names, lab.last_layer_names("from-theirs"));
    for expected in [
        "etc/edited",
        "etc/passwd",
        "etc/group",
        "modes/.wh.suid",
        ".wh.gone-dir",
        "usr/bin",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    assert!(!names.iter().any(|n| n.starts_with("odd")), "{names:?}");

    // All three images unpack (with umoci) to the edited trees.
    for (tag, source) in [
        ("from-ours", "ours"),
        ("from-theirs", "theirs"),
        ("from-run", "ours-run"),
    ] {
        let check = format!("check-{tag}");
        lab.umoci_unpack(tag, &check, &[]);
        assert_same_in_whole_seconds(
            &lab.rootfs(&check),
            &lab.rootfs(source),
            &format!("umoci unpack of {tag} against {source}"),
        );
    }
    let r = lab.at("check-from-ours/rootfs");
    assert_eq!(fs::read(r.join("etc/edited")).unwrap(), b"edited\n");
    assert!(fs::read(r.join("etc/passwd")).unwrap().ends_with(b"more\n"));
    assert!(!r.join("modes/suid").exists() && !r.join("gone-dir").exists());
    let group = fs::metadata(r.join("etc/group")).unwrap();
    assert_eq!((group.uid(), group.gid()), (42, 43));
    assert_eq!(xattr(&r.join("etc/group"), "user.new"), Some(b"n".to_vec()));
    assert_eq!(
        fs::metadata(r.join("usr/bin")).unwrap().mode() & 0o7777,
        0o700
    );
}

#[test]
fn two_unpacks_are_identical() {
    if !ready() {
        return;
    }
    let lab = layered_lab();
    // No layer has the root: its time is the epoch.
    lab.add_layer(
        "empty",
        "noroot",
        "gzip",
        r#"dir("d"); reg("d/f", b"f"); dir("d/e", mode=0o700)"#,
    );
    for tag in ["l4", "noroot"] {
        let first = format!("{tag}-1");
        let second = format!("{tag}-2");
        lab.unpack(tag, &first, &[]);
        std::thread::sleep(std::time::Duration::from_secs(2));
        lab.unpack(tag, &second, &[]);
        let read = |b: &str| fs::read_to_string(mtree_file(&lab.at(b))).unwrap();
        let (a, b) = (read(&first), read(&second));
        assert_eq!(body(&a), body(&b), "{tag}");
        assert_same_snapshot(&lab.rootfs(&first), &lab.rootfs(&second), tag);
    }
    let text = fs::read_to_string(mtree_file(&lab.at("noroot-1"))).unwrap();
    let root_line = body(&text)[1];
    assert!(
        root_line.starts_with(". ") && root_line.contains(" tar_time=0.000000000"),
        "{root_line}"
    );
    assert_eq!(fs::metadata(lab.at("noroot-1/rootfs")).unwrap().mtime(), 0);
    lab.umoci_unpack("noroot", "noroot-umoci", &[]);
    lab.assert_same_bundle("noroot-1", "noroot-umoci");
}

#[test]
fn mixed_compression() {
    if !ready() {
        return;
    }
    let lab = Lab::new();
    let run = |tag: &str, compress: &str| {
        run_ok(repack_host().current_dir(lab.path()).args([
            "run",
            "--compress",
            compress,
            "--refresh-bundle",
            "--image",
            &format!("img:{tag}"),
            "b",
        ]));
    };
    lab.sh("umoci unpack --image img:empty b");
    lab.sh("mkdir b/rootfs/etc && echo gzip > b/rootfs/etc/one && umoci repack --refresh-bundle --image img:c1 b");
    lab.sh(
        "echo zstd > b/rootfs/etc/two && mkdir -p b/rootfs/z/deep && echo z > b/rootfs/z/deep/f",
    );
    run("c2", "zstd");
    lab.sh("echo none > b/rootfs/etc/three && rm b/rootfs/etc/one && ln -s two b/rootfs/etc/link");
    run("c3", "none");
    lab.sh("echo again >> b/rootfs/etc/two && rm -r b/rootfs/z && mkfifo b/rootfs/etc/p");
    run("c4", "zstd");
    lab.sh("echo last > b/rootfs/last && chmod 0600 b/rootfs/etc/three");
    run("c5", "gzip");

    const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    let types: Vec<String> = lab
        .layers("c5")
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            format!("{TAR}+gzip"),
            format!("{TAR}+zstd"),
            TAR.to_owned(),
            format!("{TAR}+zstd"),
            format!("{TAR}+gzip")
        ]
    );
    lab.unpack("c5", "out", &[]);
    assert_same_in_whole_seconds(
        &lab.rootfs("out"),
        &lab.rootfs("b"),
        "unpack of c5 against the bundle",
    );
    let r = lab.at("out/rootfs");
    assert_eq!(fs::read(r.join("etc/two")).unwrap(), b"zstd\nagain\n");
    assert!(!r.join("etc/one").exists() && !r.join("z").exists());
    assert!(
        fs::symlink_metadata(r.join("etc/p"))
            .unwrap()
            .file_type()
            .is_fifo()
    );

    // Every stage unpacks, and the first two stages agree with what was packed.
    for tag in ["c1", "c2", "c3", "c4"] {
        lab.unpack(tag, &format!("out-{tag}"), &[]);
    }
    assert_eq!(fs::read(lab.at("out-c2/rootfs/z/deep/f")).unwrap(), b"z\n");
    assert_eq!(
        fs::read_link(lab.at("out-c3/rootfs/etc/link")).unwrap(),
        Path::new("two")
    );
    assert!(!lab.at("out-c3/rootfs/etc/one").exists());
    assert!(lab.at("out-c3/rootfs/z/deep/f").exists());
    lab.umoci_unpack("c1", "umoci-c1", &[]);
    lab.assert_same_bundle("out-c1", "umoci-c1");
}

#[test]
fn corrupt_blobs_are_refused() {
    if !ready() {
        return;
    }
    let lab = Lab::new();
    lab.umoci_layer(
        "empty",
        "v1",
        "mkdir \"$R/etc\" && echo hello > \"$R/etc/motd\" && mkfifo \"$R/fifo\"",
    );
    lab.umoci_layer(
        "v1",
        "v2",
        "mkdir -p \"$R/a/b\" && seq 1 20000 > \"$R/a/b/numbers\" && printf x > \"$R/x\"",
    );
    lab.add_layer(
        "v2",
        "v3",
        "none",
        r#"reg("plain", b"an uncompressed layer " * 100)"#,
    );
    let manifest = lab.manifest("v3");
    let index: Value =
        serde_json::from_slice(&fs::read(lab.at("img/index.json")).unwrap()).unwrap();
    let tagged = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == "v3")
        .unwrap();
    let mut blobs: Vec<(String, String)> = vec![
        ("manifest".into(), tagged["digest"].as_str().unwrap().into()),
        (
            "config".into(),
            manifest["config"]["digest"].as_str().unwrap().into(),
        ),
    ];
    for (i, l) in manifest["layers"].as_array().unwrap().iter().enumerate() {
        blobs.push((format!("layer {i}"), l["digest"].as_str().unwrap().into()));
    }
    assert_eq!(blobs.len(), 5);
    let index_before = fs::read(lab.at("img/index.json")).unwrap();

    let mut case = 0;
    let mut refused = |what: &str, digest: &str, change: &dyn Fn(&mut Vec<u8>), cause: &str| {
        let path = lab.blob_path(digest);
        let good = fs::read(&path).unwrap();
        let mut bad = good.clone();
        change(&mut bad);
        fs::write(&path, &bad).unwrap();
        case += 1;
        let bundle = format!("bad-{case}");
        let out = output(&mut lab.ours("v3", &bundle, &[]));
        fs::write(&path, &good).unwrap();
        let stderr = one_line_failure(&out, what);
        assert!(
            stderr.contains(digest) && stderr.contains(cause),
            "{what}: {stderr}"
        );
        assert!(
            !lab.at(&bundle).join("rootfs").exists(),
            "{what}: rootfs remains"
        );
        assert!(!lab.at(&bundle).join("config.json").exists(), "{what}");
    };
    for (what, digest) in &blobs {
        let len = fs::read(lab.blob_path(digest)).unwrap().len();
        for at in [0, 4, len / 2, len - 5, len - 1] {
            refused(
                &format!("{what}: byte {at} of {len} flipped"),
                digest,
                &|b| b[at] ^= 0x20,
                "digest mismatch",
            );
        }
        refused(
            &format!("{what}: one byte appended"),
            digest,
            &|b| b.push(b'\n'),
            "size mismatch",
        );
        refused(
            &format!("{what}: last byte cut"),
            digest,
            &|b| {
                b.pop();
            },
            "size mismatch",
        );
    }
    assert_eq!(fs::read(lab.at("img/index.json")).unwrap(), index_before);
    // The restored blobs unpack.
    lab.unpack("v3", "good", &[]);
    assert!(lab.at("good/rootfs/a/b/numbers").exists());
}

#[test]
fn id_mappings() {
    if !ready() {
        return;
    }
    let lab = layered_lab();
    let maps = ["--uid-map", "0:1337:65535", "--gid-map", "0:8888:65535"];
    lab.unpack("l4", "ours", &maps);
    lab.umoci_unpack("l4", "theirs", &maps);
    lab.assert_same_bundle("ours", "theirs");
    let tree = snapshot(&lab.at("ours/rootfs"), &[]);
    assert!(tree.len() > 40, "{}", tree.len());
    let r = lab.at("ours/rootfs");
    for path in tree.keys() {
        let m = fs::symlink_metadata(r.join(path)).unwrap();
        assert!(
            (1337..1337 + 65535).contains(&m.uid()) && (8888..8888 + 65535).contains(&m.gid()),
            "{path}: {}:{}",
            m.uid(),
            m.gid()
        );
    }
    let owner = |p: &str| {
        let m = fs::symlink_metadata(r.join(p)).unwrap();
        (m.uid(), m.gid())
    };
    assert_eq!(owner("."), (1337, 8888));
    assert_eq!(owner("fifo"), (1337 + 7, 8888 + 8));
    assert_eq!(owner("usr/bin/tool"), (1337 + 3, 8888 + 4));
    let meta: Value =
        serde_json::from_slice(&fs::read(lab.at("ours/umoci.json")).unwrap()).unwrap();
    assert_eq!(
        meta["map_options"],
        serde_json::json!({
            "uid_mappings": [{"containerID": 0, "hostID": 1337, "size": 65535}],
            "gid_mappings": [{"containerID": 0, "hostID": 8888, "size": 65535}],
            "rootless": false
        })
    );

    // An owner outside the mapping cannot be extracted.
    let out = output(&mut lab.ours("l4", "small", &["--uid-map", "0:1337:6"]));
    let stderr = one_line_failure(&out, "unmapped owner");
    assert!(stderr.contains("has no mapping"), "{stderr}");
    assert!(!lab.at("small/rootfs").exists());
}

#[test]
fn rootless() {
    if !ready() {
        return;
    }
    let lab = Lab::new();
    lab.add_layer(
        "empty",
        "r",
        "gzip",
        r#"
dir("d", uid=98)
reg("d/owned", b"o", uid=992, gid=123)
reg("d/group-only", b"g", gid=456)
reg("d/root", b"r")
reg("d/imported", b"i", xattrs={"user.rootlesscontainers": "bogus"})
dev("d/chr", "c", 1, 3, uid=5)
dev("d/blk", "b", 8, 0)
fifo("d/fifo", mode=0o600)
sym("d/link", "owned", uid=7, gid=7)
"#,
    );
    lab.unpack("r", "ours", &["--rootless"]);
    lab.umoci_unpack("r", "theirs", &["--rootless"]);
    lab.assert_same_bundle("ours", "theirs");

    let r = lab.at("ours/rootfs");
    let (uid, gid) = (
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    );
    for path in snapshot(&r, &[]).keys() {
        let m = fs::symlink_metadata(r.join(path)).unwrap();
        assert_eq!((m.uid(), m.gid()), (uid, gid), "{path}");
    }
    let rl = |p: &str| xattr(&r.join(p), "user.rootlesscontainers");
    assert_eq!(rl("d/owned"), Some(vec![0x08, 0xe0, 0x07, 0x10, 0x7b]));
    assert_eq!(
        rl("d/group-only"),
        Some(vec![0x08, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x10, 0xc8, 0x03])
    );
    assert_eq!(
        rl("d"),
        Some(vec![0x08, 0x62, 0x10, 0xff, 0xff, 0xff, 0xff, 0x0f])
    );
    assert_eq!(rl("d/root"), None);
    assert_eq!(rl("d/imported"), None, "a layer's own value is dropped");
    for dev in ["d/chr", "d/blk"] {
        let m = fs::symlink_metadata(r.join(dev)).unwrap();
        assert!(m.file_type().is_file() && m.len() == 0, "{dev}: {m:?}");
    }
    assert!(
        fs::symlink_metadata(r.join("d/fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let meta: Value =
        serde_json::from_slice(&fs::read(lab.at("ours/umoci.json")).unwrap()).unwrap();
    assert_eq!(meta["map_options"]["rootless"], true);
    assert_eq!(
        meta["map_options"]["uid_mappings"],
        serde_json::json!([{"containerID": 0, "hostID": uid, "size": 1}])
    );

    // A rootful unpack records no owner attribute, but keeps a layer's own.
    lab.unpack("r", "rootful", &[]);
    let mut tree = snapshot(&lab.at("rootful/rootfs"), &[]);
    let imported = tree.remove("d/imported").unwrap();
    assert!(imported.contains("rootlesscontainers"), "{imported}");
    assert!(
        tree.values().all(|d| !d.contains("rootlesscontainers")),
        "{tree:#?}"
    );
}

#[test]
fn keep_dirlinks() {
    if !ready() {
        return;
    }
    let lab = Lab::new();
    lab.umoci_layer(
        "empty",
        "links",
        r#"
mkdir "$R/dir"; printf old > "$R/dir/old"
ln -s dir "$R/link"; ln -s link "$R/link2"; ln -s /dir "$R/abs"
ln -s loop2 "$R/loop1"; ln -s loop3 "$R/loop2"; ln -s loop1 "$R/loop3"
ln -s ../loop4 "$R/dir/loop4"; ln -s missing "$R/broken"
"#,
    );
    lab.umoci_add_layer(
        "links",
        "dirs",
        r#"
dir("link", mode=0o711)
reg("link/a", b"a")
dir("link2")
reg("link2/b", b"b")
dir("abs")
reg("abs/c", b"c")
dir("loop1")
reg("loop1/d", b"d")
dir("broken")
reg("broken/e", b"e")
"#,
    );
    lab.unpack("dirs", "ours", &["--keep-dirlinks"]);
    lab.umoci_unpack("dirs", "theirs", &["--keep-dirlinks"]);
    // The times of a directory entry kept as a dirlink go to the directory (umoci sets
    // them on the symlink, though its mode goes to the directory).
    let kept = ["link", "link2", "abs", "dir"];
    lab.assert_same_bundle_but_times("ours", "theirs", &kept);
    let mtime = |b: &str, p: &str| {
        fs::symlink_metadata(lab.at(b).join("rootfs").join(p))
            .unwrap()
            .mtime()
    };
    assert_eq!(mtime("ours", "dir"), 1_234_567_890);
    assert_eq!(mtime("theirs", "link"), 1_234_567_890);
    let r = lab.at("ours/rootfs");
    let link = |p: &str| fs::read_link(r.join(p)).ok();
    assert_eq!(link("link"), Some(PathBuf::from("dir")));
    assert_eq!(link("link2"), Some(PathBuf::from("link")));
    assert_eq!(link("abs"), Some(PathBuf::from("/dir")));
    assert_eq!(link("loop2"), Some(PathBuf::from("loop3")));
    assert_eq!(link("loop3"), Some(PathBuf::from("loop1")));
    assert_eq!(link("dir/loop4"), Some(PathBuf::from("../loop4")));
    for (name, data) in [("a", "a"), ("b", "b"), ("c", "c"), ("old", "old")] {
        assert_eq!(fs::read_to_string(r.join("dir").join(name)).unwrap(), data);
    }
    for (dir, file) in [("loop1", "d"), ("broken", "e")] {
        let m = fs::symlink_metadata(r.join(dir)).unwrap();
        assert!(m.is_dir(), "{dir} became a directory");
        assert!(r.join(dir).join(file).is_file());
    }

    // Without the flag every symlink in the way is replaced, as umoci does.
    lab.unpack("dirs", "plain", &[]);
    lab.umoci_unpack("dirs", "plain-umoci", &[]);
    lab.assert_same_bundle("plain", "plain-umoci");
    assert!(
        fs::symlink_metadata(lab.at("plain/rootfs/link"))
            .unwrap()
            .is_dir()
    );
    assert!(!lab.at("plain/rootfs/dir/a").exists());
}

/// What a hostile layer must lead to.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Unpack fails with a one-line message containing this.
    Fails(&'static str),
    /// Unpack succeeds; the check runs on the rootfs.
    Unpacks(fn(&Path)),
}

/// One hostile layer: a name, the snippet making it (see [`LAYERS_PY`]), unpack flags.
struct Hostile {
    name: &'static str,
    snippet: &'static str,
    flags: &'static [&'static str],
    expect: Expect,
}

/// repack-host's own cache of file digests, which umoci's bundles lack.
const STAT_CACHE: &str = "repack.statcache";

/// A host path that layers try to create; it must never exist.
const HOST_PWNED: &str = "/repack-unpack-test-pwned";

fn file_is(root: &Path, path: &str, data: &[u8]) {
    let p = root.join(path);
    let m = fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
    assert!(m.is_file(), "{p:?}: {m:?}");
    assert_eq!(fs::read(&p).unwrap(), data, "{p:?}");
}

fn marker_in_rootfs(root: &Path) -> String {
    // The marker's absolute path, as a path below the rootfs.
    let marker = root.join("../../..").canonicalize().unwrap().join("MARKER");
    marker.to_str().unwrap().trim_start_matches('/').to_owned()
}

const HOSTILE: &[Hostile] = &[
    Hostile {
        name: "dotdot",
        snippet: r#"reg("../x", b"1")"#,
        flags: &[],
        expect: Expect::Unpacks(|r| file_is(r, "x", b"1")),
    },
    Hostile {
        name: "absolute",
        snippet: r#"reg("/repack-unpack-test-pwned", b"1")"#,
        flags: &[],
        expect: Expect::Unpacks(|r| file_is(r, "repack-unpack-test-pwned", b"1")),
    },
    Hostile {
        name: "up-to-marker",
        snippet: r#"reg("../../../MARKER/pwned", b"1"); reg("../../MARKER/pwned2", b"2")"#,
        flags: &[],
        expect: Expect::Unpacks(|r| {
            file_is(r, "MARKER/pwned", b"1");
            file_is(r, "MARKER/pwned2", b"2");
        }),
    },
    Hostile {
        name: "symlink-dot",
        snippet: r#"sym(".", MARKER); reg("pwned", b"1")"#,
        flags: &[],
        expect: Expect::Fails("malicious tar entry"),
    },
    Hostile {
        name: "symlink-dot-slash",
        snippet: r#"dir("d"); sym("./", MARKER); reg("pwned", b"1")"#,
        flags: &[],
        expect: Expect::Fails("malicious tar entry"),
    },
    Hostile {
        name: "symlink-slash",
        snippet: r#"sym("/", "/"); reg("pwned", b"1")"#,
        flags: &[],
        expect: Expect::Fails("malicious tar entry"),
    },
    Hostile {
        name: "file-for-root",
        snippet: r#"reg("d/..", b"not a directory")"#,
        flags: &[],
        expect: Expect::Fails("malicious tar entry"),
    },
    Hostile {
        name: "symlink-to-root",
        snippet: r#"sym("evil", "/"); reg("evil/pwned", b"1")"#,
        flags: &[],
        expect: Expect::Unpacks(|r| {
            file_is(r, "pwned", b"1");
            assert_eq!(fs::read_link(r.join("evil")).unwrap(), Path::new("/"));
        }),
    },
    Hostile {
        name: "symlink-up-to-marker",
        snippet: r#"sym("evil", "../../../MARKER"); reg("evil/pwned", b"1"); dir("evil/d"); sym("evil/d/x", "/")"#,
        flags: &[],
        expect: Expect::Unpacks(|r| file_is(r, "MARKER/pwned", b"1")),
    },
    Hostile {
        name: "symlink-to-marker",
        snippet: r#"sym("evil", MARKER); reg("evil/pwned", b"1"); reg("evil/file", b"overwritten")"#,
        flags: &[],
        expect: Expect::Unpacks(|r| {
            let m = marker_in_rootfs(r);
            file_is(r, &format!("{m}/pwned"), b"1");
            file_is(r, &format!("{m}/file"), b"overwritten");
        }),
    },
    Hostile {
        name: "symlink-chain",
        snippet: r#"sym("a", "b"); sym("b", "../c"); sym("c", MARKER + "/.."); reg("a/MARKER/pwned", b"1")"#,
        flags: &[],
        expect: Expect::Unpacks(|r| {
            let m = marker_in_rootfs(r);
            file_is(r, &format!("{m}/pwned"), b"1");
        }),
    },
    Hostile {
        name: "hardlink-named-through-symlink",
        snippet: r#"reg("real", b"r"); sym("evil", MARKER); hard("evil/hl", "real")"#,
        flags: &[],
        expect: Expect::Unpacks(|r| {
            let m = marker_in_rootfs(r);
            let ino = |p: &str| fs::symlink_metadata(r.join(p)).unwrap().ino();
            assert_eq!(ino(&format!("{m}/hl")), ino("real"));
        }),
    },
    Hostile {
        name: "hardlink-target-through-symlink",
        snippet: r#"sym("evil", MARKER); hard("hl", "evil/file")"#,
        flags: &[],
        expect: Expect::Fails("hardlink"),
    },
    Hostile {
        name: "hardlink-into-symlinked-dir",
        snippet: r#"sym("evil", MARKER); hard("evil/hl", "evil/file")"#,
        flags: &[],
        expect: Expect::Fails("hardlink"),
    },
    Hostile {
        name: "hardlink-up-to-marker",
        snippet: r#"hard("hl", "../../../MARKER/file")"#,
        flags: &[],
        expect: Expect::Fails("hardlink"),
    },
    Hostile {
        name: "hardlink-to-host-passwd",
        snippet: r#"hard("hl", "/etc/passwd")"#,
        flags: &[],
        expect: Expect::Fails("hardlink"),
    },
    Hostile {
        name: "hardlink-to-rootfs-passwd",
        snippet: r#"dir("etc"); reg("etc/passwd", b"mine"); hard("hl", "/etc/passwd"); hard("hl2", "../../etc/passwd")"#,
        flags: &[],
        expect: Expect::Unpacks(|r| {
            let ino = |p: &str| fs::symlink_metadata(r.join(p)).unwrap().ino();
            assert_eq!(ino("hl"), ino("etc/passwd"));
            assert_eq!(ino("hl2"), ino("etc/passwd"));
            file_is(r, "hl", b"mine");
        }),
    },
    Hostile {
        name: "whiteout-dot",
        snippet: r#"dir("x"); reg("x/keep"); reg(".wh..")"#,
        flags: &[],
        expect: Expect::Fails("malicious whiteout"),
    },
    Hostile {
        name: "whiteout-empty",
        snippet: r#"dir("x"); reg("x/keep"); reg(".wh.")"#,
        flags: &[],
        expect: Expect::Fails("malicious whiteout"),
    },
    Hostile {
        name: "whiteout-dot-in-dir",
        snippet: r#"dir("x"); reg("x/keep"); reg("x/.wh..")"#,
        flags: &[],
        expect: Expect::Fails("malicious whiteout"),
    },
    Hostile {
        name: "whiteout-dotdot-of-root",
        snippet: r#"dir("x"); reg(".wh...")"#,
        flags: &[],
        expect: Expect::Fails("malicious whiteout"),
    },
    Hostile {
        name: "whiteout-dotdot-in-dir",
        snippet: r#"dir("x"); reg("x/.wh...")"#,
        flags: &[],
        expect: Expect::Fails("malicious whiteout"),
    },
    Hostile {
        name: "whiteouts-through-symlinks",
        snippet: r#"
sym("evil", MARKER); reg("evil/.wh.file"); reg("evil/.wh..wh..opq")
sym("up", "../../.."); reg("up/.wh.MARKER"); reg("../../../.wh.MARKER"); reg("../../.wh.MARKER")
reg("kept", b"k")"#,
        flags: &[],
        expect: Expect::Unpacks(|r| file_is(r, "kept", b"k")),
    },
    Hostile {
        name: "duplicates",
        snippet: r#"reg("dup", b"1"); dir("dup"); reg("dup/inner", b"i"); reg("dup", b"2")"#,
        flags: &[],
        expect: Expect::Unpacks(|r| file_is(r, "dup", b"2")),
    },
    Hostile {
        name: "device-rootless",
        snippet: r#"dev("chr", "c", 1, 1); dev("blk", "b", 8, 0); fifo("p")"#,
        flags: &["--rootless"],
        expect: Expect::Unpacks(|r| {
            file_is(r, "chr", b"");
            file_is(r, "blk", b"");
            assert!(
                fs::symlink_metadata(r.join("p"))
                    .unwrap()
                    .file_type()
                    .is_fifo()
            );
        }),
    },
    Hostile {
        name: "pax-size-lie",
        snippet: r#"reg("before", b"b"); lying("big", 10**15, b"abc")"#,
        flags: &[],
        expect: Expect::Fails("ends inside"),
    },
    Hostile {
        name: "pax-size-record",
        snippet: r#"
i = tarfile.TarInfo("sized")
i.pax_headers["size"] = "5"
raw(i.tobuf(tarfile.PAX_FORMAT)); raw(b"12345" + bytes(507))
reg("after", b"a")"#,
        flags: &[],
        expect: Expect::Unpacks(|r| {
            file_is(r, "sized", b"12345");
            file_is(r, "after", b"a");
        }),
    },
    Hostile {
        name: "bomb",
        snippet: r#"zeros("bomb", 200 << 20)"#,
        flags: &["--max-layer-size", "10M"],
        expect: Expect::Fails("--max-layer-size"),
    },
    Hostile {
        name: "etc-symlink-to-itself",
        snippet: r#"sym("etc", "/etc"); reg("etc/passwd", b"pwned")"#,
        flags: &[],
        expect: Expect::Fails("symbolic links"),
    },
    Hostile {
        name: "symlink-to-host-etc",
        snippet: r#"sym("hostetc", "/etc"); reg("hostetc/passwd", b"pwned"); reg("hostetc/../../etc/group", b"g")"#,
        flags: &[],
        expect: Expect::Unpacks(|r| {
            file_is(r, "etc/passwd", b"pwned");
            file_is(r, "etc/group", b"g");
        }),
    },
];

#[test]
fn hostile_layers_stay_inside_the_bundle() {
    if !ready() {
        return;
    }
    let lab = Lab::new();
    fs::create_dir(lab.at("MARKER")).unwrap();
    fs::write(lab.at("MARKER/file"), "marker\n").unwrap();
    fs::create_dir(lab.at("cases")).unwrap();
    let passwd = || sha256_hex(&fs::read("/etc/passwd").unwrap());
    let passwd_before = (passwd(), fs::metadata("/etc/passwd").unwrap().nlink());
    assert!(
        fs::symlink_metadata(HOST_PWNED).is_err(),
        "{HOST_PWNED} exists"
    );
    let marker_before = snapshot(&lab.at("MARKER"), &[]);
    // Each bundle is cases/<name>: the rootfs's `../../../MARKER` is the marker.
    let cases = lab.at("cases");

    let mut names = BTreeSet::new();
    for case in HOSTILE {
        assert!(names.insert(case.name), "duplicate case {}", case.name);
        lab.add_layer("empty", case.name, "gzip", case.snippet);
        let bundle = cases.join(case.name);
        let outside = |lab: &Lab| {
            let mut s = snapshot(lab.path(), &[bundle.as_path()]);
            // Making the bundle changes its parent's times.
            s.insert("cases".into(), "a directory".into());
            s
        };
        let before = outside(&lab);
        let out = output(
            repack_host()
                .current_dir(&cases)
                .arg("unpack")
                .args(case.flags)
                .arg("--image")
                .arg(format!("{}:{}", lab.at("img").display(), case.name))
                .arg(case.name),
        );
        let what = format!("case {}", case.name);

        assert_same_snapshot(
            &outside(&lab),
            &before,
            &format!("{what}: outside the bundle"),
        );
        assert_eq!(snapshot(&lab.at("MARKER"), &[]), marker_before, "{what}");
        assert_eq!(
            (passwd(), fs::metadata("/etc/passwd").unwrap().nlink()),
            passwd_before,
            "{what}: /etc/passwd"
        );
        assert!(
            fs::symlink_metadata(HOST_PWNED).is_err(),
            "{what}: {HOST_PWNED}"
        );
        let in_bundle: BTreeSet<String> = fs::read_dir(&bundle)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        match case.expect {
            Expect::Fails(cause) => {
                let stderr = one_line_failure(&out, &what);
                assert!(stderr.contains(cause), "{what}: {stderr}");
                assert!(in_bundle.is_empty(), "{what}: left {in_bundle:?}");
            }
            Expect::Unpacks(check) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(out.status.success(), "{what}: {stderr}");
                let mtree = mtree_file(&bundle);
                let mut in_bundle = in_bundle;
                in_bundle.remove(STAT_CACHE);
                let expected: BTreeSet<String> = [
                    "config.json",
                    "rootfs",
                    "umoci.json",
                    mtree.file_name().unwrap().to_str().unwrap(),
                ]
                .map(str::to_owned)
                .into();
                assert_eq!(in_bundle, expected, "{what}");
                check(&bundle.join("rootfs"));
            }
        }
    }
}
