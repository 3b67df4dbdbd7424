//! `run` (umoci's `repack`) against umoci 0.4.7: round trips through `umoci unpack`,
//! the same layer entries as `umoci repack`, other tools reading what we write, and
//! umoci's repack flags and failures.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use repack_guest::mtree::{Keywords, ParsedEntry, parse};
use serde_json::Value;

use crate::support;
use crate::support::{
    assert_same_paths, have, mtree_file, repack_host, root, run_fail, run_ok, sha256_hex,
};

/// The base image's content (`$R` is the rootfs), packed by umoci.
const BASE: &str = r#"
mkdir -p "$R/etc" "$R/tree/a/b" "$R/swap/dir/sub" "$R/modes/stickydir" "$R/owners" "$R/xa"
printf 'hello\n' > "$R/etc/motd"
printf 'gone\n' > "$R/etc/gone"
printf 'change me\n' > "$R/etc/change"
ln -s motd "$R/etc/motd-link"
printf deep > "$R/tree/a/b/c"; printf x > "$R/tree/a/x"; ln -s b "$R/tree/a/lnk"
printf inner > "$R/swap/dir/inner"; printf s > "$R/swap/dir/sub/s"
ln -s ../etc "$R/swap/symdir"
printf 'was a file' > "$R/swap/file"
for m in suid sgid both plain; do printf $m > "$R/modes/$m"; done
printf o > "$R/owners/file"
printf x > "$R/xa/file"
setfattr -n user.keep -v same "$R/xa/file"
setfattr -n user.change -v old "$R/xa/file"
setfattr -n user.remove -v bye "$R/xa/file"
setfattr -n user.dir -v d "$R/xa"
printf u > "$R/ünï gone"
"#;

/// Every kind of change a repack has to carry (`$R` is the rootfs).
const EDIT: &str = r#"
printf 'added\n' > "$R/etc/added"
printf 'changed\n' >> "$R/etc/change"
rm "$R/etc/gone" "$R/etc/motd-link"
rm -r "$R/tree"
chmod 4755 "$R/modes/suid"; chmod 2750 "$R/modes/sgid"; chmod 6711 "$R/modes/both"
chmod 1777 "$R/modes/stickydir"; chmod 0600 "$R/modes/plain"
chown 1234:5678 "$R/owners/file"; chown 42:43 "$R/owners"
setfattr -n user.change -v new "$R/xa/file"
setfattr -x user.remove "$R/xa/file"
setfattr -n user.added -v 'a value' "$R/xa/file"
setfattr -n 'user.with space' -v sp "$R/xa"
printf e > "$R/xa/empty"; setfattr -n user.empty "$R/xa/empty"; setfattr -n user.kept -v k "$R/xa/empty"
mkdir -p "$R/links/one/two" "$R/links/three/four/five"
printf 'linked\n' > "$R/links/file"
ln "$R/links/file" "$R/links/one/hl1"
ln "$R/links/file" "$R/links/one/two/hl2"
ln "$R/links/file" "$R/links/three/four/five/hl3"
ln -s file "$R/links/sym"; ln "$R/links/sym" "$R/links/one/hardsym"
rm -r "$R/swap/dir"; printf 'now a file' > "$R/swap/dir"
rm "$R/swap/symdir"; mkdir "$R/swap/symdir"; printf in > "$R/swap/symdir/in"
rm "$R/swap/file"; ln -s 'a \really //weird _00..:=path ' "$R/swap/file"
mkdir -p "$R/odd/dir with space" "$R/odd/=eq=" "$R/odd/ünïcödé/çok güzel"
printf 1 > "$R/odd/dir with space/ file with spaces "
printf 2 > "$R/odd/a=b"; printf 2 > "$R/odd/=eq=/x=y"
printf 3 > "$R/odd/ünïcödé/çok güzel/ağaç ışık ĞÜŞİÖÇ"
printf 4 > "$R/odd/漢字 かな"
printf 5 > "$R/odd/árvíztűrő tükörfúrógép"
printf 6 > "$R/odd/new
line"
printf 7 > "$R/odd/..dots.."
rm "$R/ünï gone"
mknod "$R/chr" c 128 42; mknod "$R/blk" b 253 97; mkfifo "$R/fifo"
mkdir -p "$R/locked/inner"; mkfifo "$R/locked/fifo"; printf s > "$R/locked/file"
ln -s '/../././././/../../../../etc/shadow' "$R/locked/link"
chmod 0000 "$R/locked/inner" "$R/locked"
printf q > "$R/zero-file"; chmod 0000 "$R/zero-file"
"#;

/// The whiteouts [`EDIT`] makes: one per deleted path, none below a deleted directory
/// and none below the directory that became a file; in layer order, each where its
/// deleted path sorts.
const EDIT_WHITEOUTS: [&str; 4] = [
    "etc/.wh.gone",
    "etc/.wh.motd-link",
    ".wh.tree",
    ".wh.ünï gone",
];

/// Lists the entries of the tar file `argv[1]` as JSON, with an independent reader.
const LIST_TAR: &str = r#"
import hashlib, json, sys, tarfile
out = []
with tarfile.open(sys.argv[1], mode="r:", encoding="utf-8") as tar:
    for m in tar:
        e = {"name": m.name, "type": m.type.decode(), "linkname": m.linkname,
             "mode": m.mode, "uid": m.uid, "gid": m.gid, "uname": m.uname,
             "gname": m.gname, "size": m.size, "mtime": int(m.mtime),
             "dev": [m.devmajor, m.devminor],
             "xattrs": sorted([k[len("SCHILY.xattr."):], v] for k, v in m.pax_headers.items()
                              if k.startswith("SCHILY.xattr.")),
             "sha256": None}
        if m.isreg():
            e["sha256"] = hashlib.sha256(tar.extractfile(m).read()).hexdigest()
        out.append(e)
json.dump(out, sys.stdout)
"#;

/// Whether the peers these tests drive are here (and we are root, which mknod, chown
/// and umoci's rootful unpack need). Under `CI=true` anything missing fails.
fn ready(tools: &[&str]) -> bool {
    let mut ok = true;
    for tool in ["umoci", "python3", "setfattr"].iter().chain(tools) {
        ok &= have(tool);
    }
    ok && root()
}

/// One tar entry, as Python's `tarfile` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    name: String,
    kind: char,
    link: String,
    mode: u32,
    uid: u64,
    gid: u64,
    owner_names: (String, String),
    size: u64,
    mtime: i64,
    dev: (u64, u64),
    xattrs: Vec<(String, String)>,
    sha256: Option<String>,
}

impl Entry {
    fn from_json(v: &Value) -> Entry {
        let s = |k: &str| {
            v[k].as_str()
                .unwrap_or_else(|| panic!("{k} in {v}"))
                .to_owned()
        };
        let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
        Entry {
            name: s("name"),
            kind: s("type").chars().next().unwrap_or('?'),
            link: s("linkname"),
            mode: u32::try_from(n("mode")).unwrap(),
            uid: n("uid"),
            gid: n("gid"),
            owner_names: (s("uname"), s("gname")),
            size: n("size"),
            mtime: v["mtime"].as_i64().unwrap(),
            dev: (v["dev"][0].as_u64().unwrap(), v["dev"][1].as_u64().unwrap()),
            xattrs: v["xattrs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_str().unwrap().into(), p[1].as_str().unwrap().into()))
                .collect(),
            sha256: v["sha256"].as_str().map(str::to_owned),
        }
    }

    fn is_whiteout(&self) -> bool {
        self.name.rsplit('/').next().unwrap().starts_with(".wh.")
    }

    fn xattr(&self, name: &str) -> Option<&str> {
        self.xattrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The shared lab, with umoci's base image and the readers these tests need.
struct Lab(support::lab::Lab);

impl std::ops::Deref for Lab {
    type Target = support::lab::Lab;

    fn deref(&self) -> &support::lab::Lab {
        &self.0
    }
}

impl Lab {
    /// `img:empty` from `umoci new`, and `img:base` holding `content` (a script on `$R`,
    /// the rootfs) as packed by `umoci repack`.
    fn new(content: &str) -> Lab {
        let lab = Lab(support::lab::Lab::scratch());
        lab.sh("umoci init --layout img && umoci new --image img:empty");
        lab.sh("umoci unpack --image img:empty b0");
        lab.sh(&format!("R=b0/rootfs\n{content}"));
        lab.sh("umoci repack --image img:base b0");
        lab
    }

    /// Run `script` with `$R` set to `bundle`'s rootfs.
    fn edit(&self, bundle: &str, script: &str) {
        self.sh(&format!("R={bundle}/rootfs\n{script}"));
    }

    fn unpack(&self, tag: &str, bundle: &str) {
        self.sh(&format!("umoci unpack --image img:{tag} {bundle}"));
    }

    /// `repack-host run ARGS` in the lab directory.
    fn run(&self, args: &[&str]) -> Command {
        let mut cmd = repack_host();
        cmd.current_dir(self.path()).arg("run").args(args);
        cmd
    }

    /// Repack `bundle` into `img:tag` with `--json` and `extra` flags; the JSON.
    fn repack(&self, bundle: &str, tag: &str, extra: &[&str]) -> Value {
        let image = format!("img:{tag}");
        let mut args = vec!["--json", "--image", &image];
        args.extend_from_slice(extra);
        args.push(bundle);
        let out = run_ok(&mut self.run(&args));
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    fn index_bytes(&self) -> Vec<u8> {
        fs::read(self.path().join("img/index.json")).unwrap()
    }

    fn digest(&self, tag: &str) -> String {
        self.tagged(tag)["digest"].as_str().unwrap().to_owned()
    }

    fn config(&self, tag: &str) -> Value {
        self.json_blob(self.manifest(tag)["config"]["digest"].as_str().unwrap())
    }

    fn layers(&self, tag: &str) -> Vec<Value> {
        self.manifest(tag)["layers"].as_array().unwrap().clone()
    }

    fn history(&self, tag: &str) -> Vec<Value> {
        self.config(tag)["history"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The last layer's descriptor and its uncompressed archive.
    fn last_layer(&self, tag: &str) -> (Value, Vec<u8>) {
        let desc = self.layers(tag).pop().expect("a layer");
        let blob = self.blob(desc["digest"].as_str().unwrap());
        let tar = decompress(desc["mediaType"].as_str().unwrap(), &blob);
        (desc, tar)
    }

    /// The entries of `tag`'s last layer.
    fn entries(&self, tag: &str) -> Vec<Entry> {
        list_tar(self.path(), &self.last_layer(tag).1)
    }

    /// The manifest of `bundle`'s rootfs, as `raw mtree` walks it now.
    fn tree(&self, bundle: &str) -> Vec<ParsedEntry<'static>> {
        let text = run_ok(
            repack_host()
                .current_dir(self.path())
                .args(["raw", "mtree"])
                .arg(format!("{bundle}/rootfs")),
        );
        owned(&text)
    }

    /// The `.mtree` file of `bundle`.
    fn mtree_file(&self, bundle: &str) -> PathBuf {
        mtree_file(&self.path().join(bundle))
    }

    fn umoci_json(&self, bundle: &str) -> Value {
        serde_json::from_slice(&fs::read(self.path().join(bundle).join("umoci.json")).unwrap())
            .unwrap()
    }
}

/// The uncompressed archive of a layer blob of `media_type`.
fn decompress(media_type: &str, blob: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match media_type.split_once('+').map(|(_, s)| s) {
        None => out = blob.to_vec(),
        Some("gzip") => {
            flate2::read::MultiGzDecoder::new(blob)
                .read_to_end(&mut out)
                .expect("a gzip stream");
        }
        Some("zstd") => out = zstd::stream::decode_all(blob).expect("a zstd stream"),
        Some(other) => panic!("unexpected compression {other}"),
    }
    out
}

/// The entries of an uncompressed archive.
fn list_tar(scratch: &Path, tar: &[u8]) -> Vec<Entry> {
    let file = tempfile::NamedTempFile::new_in(scratch).unwrap();
    fs::write(file.path(), tar).unwrap();
    let out = run_ok(
        Command::new("python3")
            .args(["-c", LIST_TAR])
            .arg(file.path()),
    );
    let list: Value = serde_json::from_str(&out).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(Entry::from_json)
        .collect()
}

fn names(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.name.as_str()).collect()
}

fn find<'a>(entries: &'a [Entry], name: &str) -> &'a Entry {
    entries
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("{name:?} not in {:?}", names(entries)))
}

/// A manifest's entries, parsed from `text` and owning their keywords.
fn owned(text: &str) -> Vec<ParsedEntry<'static>> {
    parse(text)
        .unwrap()
        .into_iter()
        .map(ParsedEntry::into_owned)
        .collect()
}

fn keyed(tree: &[ParsedEntry]) -> BTreeMap<String, BTreeMap<String, String>> {
    tree.iter()
        .map(|e| {
            (
                String::from_utf8_lossy(&e.path).into_owned(),
                e.keywords().to_map(),
            )
        })
        .collect()
}

/// Assert two manifests describe the same tree, naming each path that differs.
fn assert_same_tree(ours: &[ParsedEntry], theirs: &[ParsedEntry], what: &str) {
    assert_same_paths(&keyed(ours), &keyed(theirs), ("edited", "other"), what);
    assert_eq!(ours.len(), theirs.len(), "{what}: duplicate paths");
}

fn keywords<'a>(tree: &[ParsedEntry<'a>], path: &str) -> Keywords<'a> {
    tree.iter()
        .find(|e| e.path == path.as_bytes())
        .unwrap_or_else(|| panic!("{path:?} is not in the tree"))
        .keywords()
}

fn has(tree: &[ParsedEntry], path: &str) -> bool {
    tree.iter().any(|e| e.path == path.as_bytes())
}

/// `umoci init/new/unpack`, content, `umoci repack`, `umoci unpack` into `b`, [`EDIT`].
fn edited_lab() -> Lab {
    let lab = Lab::new(BASE);
    lab.unpack("base", "b");
    lab.edit("b", EDIT);
    lab
}

#[test]
fn round_trip_through_umoci_unpack() {
    if !ready(&[]) {
        return;
    }
    let lab = edited_lab();
    let out = lab.repack("b", "new", &[]);
    assert!(out["added"].as_u64().unwrap() > 20, "{out}");
    assert!(out["modified"].as_u64().unwrap() >= 10, "{out}");
    assert_eq!(out["deleted"], EDIT_WHITEOUTS.len(), "{out}");
    assert_eq!(out["manifest"].as_str().unwrap(), lab.digest("new"));
    let warnings = out["warnings"].to_string();
    assert!(warnings.contains("user.empty"), "{warnings}");

    // The layer: one whiteout per deleted path and nothing below a deleted directory.
    let entries = lab.entries("new");
    let whiteouts: Vec<&str> = entries
        .iter()
        .filter(|e| e.is_whiteout())
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(whiteouts, EDIT_WHITEOUTS);
    assert!(entries.iter().all(|e| !e.name.starts_with("tree/")));
    let unique: BTreeSet<&str> = names(&entries).into_iter().collect();
    assert_eq!(unique.len(), entries.len(), "{:?}", names(&entries));

    lab.unpack("new", "check");
    let check = lab.tree("check");
    // An empty xattr value cannot go into a tar header: it is gone, the rest is kept.
    let empty = keywords(&check, "xa/empty");
    assert_eq!(empty.get("xattr.user.kept"), Some("aw=="));
    assert!(!empty.contains_key("xattr.user.empty"), "{empty:?}");
    lab.sh("setfattr -x user.empty b/rootfs/xa/empty");

    // Everything else comes back exactly: types, modes, owners, sizes, times, contents,
    // links, link counts and xattrs.
    let edited = lab.tree("b");
    assert_same_tree(&edited, &check, "umoci unpack of the new image");
    let theirs = owned(&fs::read_to_string(lab.mtree_file("check")).unwrap());
    assert_same_tree(&edited, &theirs, "umoci's manifest of its unpack");

    // What the comparison covers, spelled out for the trickiest objects.
    for (path, keyword, value) in [
        ("tree", "", ""),
        ("etc/gone", "", ""),
        ("ünï gone", "", ""),
        ("swap/dir", "type", "file"),
        ("swap/symdir", "type", "dir"),
        ("swap/symdir/in", "type", "file"),
        (
            "swap/file",
            "link",
            r"a\040\\really\040//weird\040_00..:=path\040",
        ),
        ("modes/suid", "mode", "04755"),
        ("modes/both", "mode", "06711"),
        ("modes/stickydir", "mode", "01777"),
        ("owners/file", "uid", "1234"),
        ("owners", "gid", "43"),
        ("xa/file", "xattr.user.change", "bmV3"),
        ("xa", "xattr.user.with\\040space", "c3A="),
        ("links/file", "nlink", "4"),
        ("links/sym", "nlink", "2"),
        ("odd/new\nline", "type", "file"),
        ("odd/ünïcödé/çok güzel/ağaç ışık ĞÜŞİÖÇ", "type", "file"),
        ("odd/漢字 かな", "type", "file"),
        ("chr", "type", "char"),
        ("blk", "type", "block"),
        ("fifo", "type", "fifo"),
        ("locked", "mode", "0"),
        ("locked/inner", "mode", "0"),
        ("locked/fifo", "type", "fifo"),
        ("locked/link", "type", "link"),
        ("zero-file", "mode", "0"),
    ] {
        if keyword.is_empty() {
            assert!(!has(&check, path), "{path:?} was deleted");
        } else {
            let found = keywords(&check, path);
            assert_eq!(found.get(keyword), Some(value), "{path:?} {keyword}");
        }
    }
    assert!(!keywords(&check, "xa/file").contains_key("xattr.user.remove"));

    // Hardlinks are one inode again; the hardlinked symlink is its own inode.
    let stat = |p: &str| fs::symlink_metadata(lab.path().join("check/rootfs").join(p)).unwrap();
    let file = stat("links/file");
    for link in [
        "links/one/hl1",
        "links/one/two/hl2",
        "links/three/four/five/hl3",
    ] {
        assert_eq!(stat(link).ino(), file.ino(), "{link}");
    }
    let (sym, hardsym) = (stat("links/sym"), stat("links/one/hardsym"));
    assert!(hardsym.file_type().is_symlink());
    assert_eq!(sym.ino(), hardsym.ino());
    assert_ne!(sym.ino(), file.ino());
    // Device numbers (which mtree does not record) survive too.
    for (path, major, minor) in [("chr", 128, 42), ("blk", 253, 97)] {
        let rdev = stat(path).rdev();
        let got = (rustix::fs::major(rdev), rustix::fs::minor(rdev));
        assert_eq!(got, (major, minor), "{path}");
    }

    // Overwriting the 0000 file in the unpacked bundle and repacking updates it.
    fs::write(lab.path().join("check/rootfs/zero-file"), "overwritten").unwrap();
    let out = lab.repack("check", "zero", &[]);
    assert_eq!(out["modified"], 1, "{out}");
    lab.unpack("zero", "zero");
    let zero = lab.path().join("zero/rootfs/zero-file");
    assert_eq!(fs::read_to_string(&zero).unwrap(), "overwritten");
    assert_eq!(
        fs::metadata(&zero).unwrap().permissions().mode() & 0o7777,
        0
    );
}

#[test]
fn layer_entries_match_umoci_repack() {
    if !ready(&[]) {
        return;
    }
    let lab = edited_lab();
    lab.sh("cp -a b b-umoci && umoci repack --image img:umoci b-umoci");
    lab.repack("b", "ours", &[]);
    let (ours, mut theirs) = (lab.entries("ours"), lab.entries("umoci"));

    // Documented difference: umoci also writes whiteouts below the directory that became
    // a file; we write none (the file replaces the whole tree when applied).
    let below_file: Vec<String> = theirs
        .iter()
        .filter(|e| e.name.starts_with("swap/dir/"))
        .map(|e| e.name.clone())
        .collect();
    assert_eq!(below_file, ["swap/dir/.wh.inner", "swap/dir/.wh.sub"]);
    theirs.retain(|e| !e.name.starts_with("swap/dir/"));
    assert!(ours.iter().all(|e| !e.name.starts_with("swap/dir/")));

    // Documented difference: umoci 0.4.7 rounds mtimes to the nearest second, we
    // truncate; everything else is the same, entry by entry and in the same order.
    assert_eq!(names(&ours), names(&theirs));
    for (a, b) in ours.iter().zip(&theirs) {
        assert!(
            a.mtime == b.mtime || a.mtime + 1 == b.mtime,
            "{}: mtime {} vs umoci's {}",
            a.name,
            a.mtime,
            b.mtime
        );
        let b = Entry {
            mtime: a.mtime,
            ..b.clone()
        };
        assert_eq!(a, &b);
    }

    // Our mtimes are the objects' whole seconds (truncated).
    assert!(ours.len() > 40, "{:?}", names(&ours));
    for entry in ours.iter().filter(|e| !e.is_whiteout()) {
        let path = lab.path().join("b/rootfs").join(&entry.name);
        let meta = fs::symlink_metadata(&path).unwrap();
        assert_eq!(entry.mtime, meta.mtime(), "{}", entry.name);
    }

    // A few entries checked against what they must be, not only against umoci.
    let hl = find(&ours, "links/one/hl1");
    assert_eq!((hl.kind, hl.link.as_str(), hl.size), ('1', "links/file", 0));
    assert_eq!(find(&ours, "links/file").kind, '0');
    // The symlink's first name in path order carries it; the other is a hardlink.
    let hardsym = find(&ours, "links/one/hardsym");
    assert_eq!((hardsym.kind, hardsym.link.as_str()), ('2', "file"));
    let sym = find(&ours, "links/sym");
    assert_eq!((sym.kind, sym.link.as_str()), ('1', "links/one/hardsym"));
    let chr = find(&ours, "chr");
    assert_eq!((chr.kind, chr.dev), ('3', (128, 42)));
    assert_eq!(find(&ours, "modes/both").mode, 0o6711);
    let owned = find(&ours, "owners/file");
    assert_eq!((owned.uid, owned.gid), (1234, 5678));
    assert_eq!(owned.owner_names, (String::new(), String::new()));
    let weird = find(&ours, "swap/file");
    assert_eq!(
        (weird.kind, weird.link.as_str()),
        ('2', "a \\really //weird _00..:=path ")
    );
    let xa = find(&ours, "xa/file");
    assert_eq!(xa.xattr("user.change"), Some("new"));
    assert_eq!(xa.xattr("user.added"), Some("a value"));
    assert_eq!(xa.xattr("user.remove"), None);
    assert_eq!(find(&ours, "xa/empty").xattr("user.empty"), None);
    let wh = find(&ours, ".wh.tree");
    assert_eq!(
        (wh.kind, wh.mode, wh.uid, wh.mtime, wh.size),
        ('0', 0, 0, 0, 0)
    );
}

#[test]
fn skopeo_and_oci_image_tool_accept_our_layout() {
    if !ready(&["skopeo", "oci-image-tool", "tar"]) {
        return;
    }
    // Only our images in this layout: the first layer and the edits are both ours.
    let lab = Lab(support::lab::Lab::scratch());
    lab.sh(
        "umoci init --layout img && umoci new --image img:img && umoci unpack --image img:img b0",
    );
    lab.edit("b0", BASE);
    lab.repack("b0", "img", &[]);
    lab.unpack("img", "b");
    lab.edit("b", EDIT);
    lab.repack("b", "img", &[]);
    assert_eq!(lab.layers("img").len(), 2);

    let validate = |kind: &str, path: &str| {
        run_ok(
            Command::new("oci-image-tool")
                .current_dir(lab.path())
                .args(["validate", "--type", kind, path]),
        )
    };
    // This build has no imageLayout type: `image` on a directory validates the layout
    // and every tagged image in it (and fails on an image without layers).
    let out = validate("image", "img");
    assert!(out.contains("Validation succeeded"), "{out}");
    validate("imageIndex", "img/index.json");
    let manifest = lab.digest("img");
    validate("manifest", &format!("img/blobs/sha256/{}", &manifest[7..]));
    let config = lab.manifest("img")["config"]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    validate("config", &format!("img/blobs/sha256/{}", &config[7..]));

    // skopeo verifies every digest it copies.
    lab.sh("skopeo copy oci:img:img oci:copy:img");
    assert!(lab.path().join("copy/index.json").exists());
    // GNU tar reads every layer.
    for layer in lab.layers("img") {
        let hex = &layer["digest"].as_str().unwrap()[7..];
        lab.sh(&format!("tar -tzf img/blobs/sha256/{hex} > /dev/null"));
    }
    // Documented difference: what we write is readable by everyone.
    let mode = |p: &str| fs::metadata(lab.path().join(p)).unwrap().mode() & 0o777;
    assert_eq!(mode("img/index.json"), 0o644);
    assert_eq!(mode(&format!("img/blobs/sha256/{}", &manifest[7..])), 0o644);
}

#[test]
fn no_change_adds_history_only() {
    if !ready(&[]) {
        return;
    }
    let lab = Lab::new(BASE);
    lab.unpack("base", "b");
    let base_history = lab.history("base");

    let text = run_ok(&mut lab.run(&["--image", "img:same", "b"]));
    assert!(text.contains("added 0, modified 0, deleted 0"), "{text}");
    assert!(text.starts_with(&lab.digest("same")), "{text}");
    assert_eq!(lab.layers("same"), lab.layers("base"));
    assert_eq!(
        lab.config("same")["rootfs"],
        lab.config("base")["rootfs"],
        "no diff_id added"
    );
    let history = lab.history("same");
    assert_eq!(history.len(), base_history.len() + 1);
    assert_eq!(history[..base_history.len()], base_history[..]);
    let last = history.last().unwrap();
    assert_eq!(last["empty_layer"], true, "{last}");
    assert_eq!(last["created_by"], "repack-host run", "{last}");

    // Nothing to add at all: the tag points at the base manifest itself.
    let out = lab.repack("b", "nohist", &["--no-history"]);
    assert_eq!(out["layer"], Value::Null, "{out}");
    assert_eq!(lab.digest("nohist"), lab.digest("base"));
    assert_eq!(out["manifest"].as_str().unwrap(), lab.digest("base"));
}

#[test]
fn a_bundle_our_stat_cache_knows_gives_the_layer_a_cacheless_one_gives() {
    if !ready(&[]) {
        return;
    }
    let lab = Lab::new(BASE);
    lab.unpack("base", "b");
    run_ok(
        repack_host()
            .current_dir(lab.path())
            .args(["unpack", "--image", "img:base", "c"]),
    );
    assert!(lab.path().join("c/repack.statcache").exists());
    assert!(!lab.path().join("b/repack.statcache").exists());

    // Unchanged: the cache vouches for every object, twice in a row.
    for tag in ["same", "same-again"] {
        let text = run_ok(&mut lab.run(&["--log", "debug", "--image", &format!("img:{tag}"), "c"]));
        assert!(text.contains("added 0, modified 0, deleted 0"), "{text}");
    }

    // Every kind of edit is found as without a cache: contents, modes, owners,
    // attributes, links, kinds, deletions, additions. Manifests keep whole seconds
    // (`tar_time`), and the layer's times are those of a tree made a moment ago
    // (rounded, possibly up): a directory whose only change is its mtime looks
    // unchanged while the clock is still in that second, to either tool. The two
    // bundles are edited a moment apart, so both edits must come after it.
    wait_past_tar_times(&lab.path().join("c"));
    lab.edit("b", EDIT);
    lab.edit("c", EDIT);
    lab.repack("b", "without", &[]);
    lab.repack("c", "with", &[]);
    let (with, without) = (lab.entries("with"), lab.entries("without"));
    assert_eq!(names(&with), names(&without));
    assert!(with.len() > 40, "{:?}", names(&with));
    for (a, b) in with.iter().zip(&without) {
        // The two trees were edited a moment apart: new objects' times may differ.
        let b = Entry {
            mtime: a.mtime,
            ..b.clone()
        };
        assert_eq!(a, &b);
    }

    // New contents of the same size with the old mtime put back: only the ctime
    // tells, and the cache, which vouched for the file before, must not now. A mode set
    // back to the manifest's agrees again.
    lab.edit(
        "c",
        r#"T="$R/../motd-times"; touch -r "$R/etc/motd" "$T"
printf 'HELLO\n' > "$R/etc/motd"; touch -r "$T" "$R/etc/motd"; rm "$T"
chmod 0644 "$R/modes/plain""#,
    );
    lab.repack("c", "later", &[]);
    let later = lab.entries("later");
    assert_eq!(
        find(&later, "etc/motd").sha256.as_deref(),
        Some(sha256_hex(b"HELLO\n").as_str())
    );
    assert!(
        !names(&later).contains(&"modes/plain"),
        "{:?}",
        names(&later)
    );
    assert!(names(&later).contains(&"modes/suid"));
}

/// Sleep until the clock is past every whole second a `tar_time` of the manifest in
/// `bundle` names.
fn wait_past_tar_times(bundle: &Path) {
    let mtree = fs::read_dir(bundle)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "mtree"))
        .expect("a manifest in the bundle");
    let text = fs::read_to_string(mtree).unwrap();
    let latest = text
        .split_ascii_whitespace()
        .filter_map(|word| word.strip_prefix("tar_time="))
        .filter_map(|t| t.split('.').next()?.parse::<u64>().ok())
        .max()
        .expect("times in the manifest");
    let past = std::time::UNIX_EPOCH + std::time::Duration::from_secs(latest + 1);
    if let Ok(wait) = past.duration_since(std::time::SystemTime::now()) {
        std::thread::sleep(wait);
    }
}

#[test]
fn history_flags() {
    if !ready(&[]) {
        return;
    }
    let lab = Lab::new(BASE);
    lab.sh("umoci config --image img:base --author 'Base Author <base@example.com>'");
    lab.unpack("base", "b");
    lab.sh("echo more >> b/rootfs/etc/motd");
    let base_history = lab.history("base");

    // --no-history: a layer, and the history exactly as it was.
    let out = lab.repack("b", "nohist", &["--no-history"]);
    assert_ne!(out["layer"], Value::Null);
    assert_eq!(lab.layers("nohist").len(), lab.layers("base").len() + 1);
    assert_eq!(lab.history("nohist"), base_history);
    let diff_ids = &lab.config("nohist")["rootfs"]["diff_ids"];
    assert_eq!(
        diff_ids.as_array().unwrap().last().unwrap(),
        &out["layer"]["diffID"]
    );

    // Defaults: our created_by, the config's author, no comment, not empty.
    lab.repack("b", "default", &[]);
    let history = lab.history("default");
    assert_eq!(history.len(), base_history.len() + 1);
    let last = history.last().unwrap();
    assert_eq!(last["created_by"], "repack-host run");
    assert_eq!(last["author"], "Base Author <base@example.com>");
    assert!(
        last.get("comment").is_none() && last.get("empty_layer").is_none(),
        "{last}"
    );
    assert!(chrono::DateTime::parse_from_rfc3339(last["created"].as_str().unwrap()).is_ok());

    // Every flag, verbatim; `created` keeps its offset.
    lab.repack(
        "b",
        "flags",
        &[
            "--history.author",
            "Jane <jane@example.com>",
            "--history.comment",
            "a comment & <more>",
            "--history.created_by",
            "make it so",
            "--history.created",
            "2020-01-02T03:04:05+01:00",
        ],
    );
    let history = lab.history("flags");
    assert_eq!(history.len(), base_history.len() + 1);
    let last = history.last().unwrap();
    assert_eq!(last["author"], "Jane <jane@example.com>");
    assert_eq!(last["comment"], "a comment & <more>");
    assert_eq!(last["created_by"], "make it so");
    assert_eq!(last["created"], "2020-01-02T03:04:05+01:00");
    assert!(last.get("empty_layer").is_none(), "{last}");
    // umoci reads the history back.
    let stat = run_ok(Command::new("umoci").current_dir(lab.path()).args([
        "stat",
        "--image",
        "img:flags",
        "--json",
    ]));
    assert!(stat.contains("make it so"), "{stat}");
}

#[test]
fn compression_choices() {
    if !ready(&[]) {
        return;
    }
    let lab = Lab::new(BASE);
    lab.unpack("base", "b");
    lab.sh("echo more >> b/rootfs/etc/motd");
    const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    let cases = [
        ("gzip", "+gzip", &[0x1f, 0x8b][..]),
        ("zstd", "+zstd", &[0x28, 0xb5, 0x2f, 0xfd][..]),
        ("none", "", &[][..]),
    ];
    for (flag, suffix, magic) in cases {
        let out = lab.repack("b", flag, &["--compress", flag]);
        let (desc, tar) = lab.last_layer(flag);
        assert_eq!(desc["mediaType"], format!("{TAR}{suffix}"), "{flag}");
        for key in ["mediaType", "digest", "size"] {
            assert_eq!(out["layer"][key], desc[key], "{flag}: {key}");
        }
        let blob = lab.blob(desc["digest"].as_str().unwrap());
        assert!(blob.starts_with(magic), "{flag}: {:02x?}", &blob[..8]);
        assert_eq!(&tar[257..262], b"ustar", "{flag}: an archive inside");
        if flag == "none" {
            assert_eq!(blob, tar);
        }
        let diff_id = format!("sha256:{}", sha256_hex(&tar));
        assert_eq!(out["layer"]["diffID"], diff_id, "{flag}");
        let ids = lab.config(flag)["rootfs"]["diff_ids"].clone();
        assert_eq!(ids.as_array().unwrap().last().unwrap(), &diff_id);
        let annotation = &desc["annotations"]["ci.umo.uncompressed_blob_size"];
        if flag == "none" {
            assert!(desc.get("annotations").is_none(), "{desc}");
        } else {
            assert_eq!(annotation, &tar.len().to_string(), "{flag}");
        }
        assert_eq!(out["layer"]["uncompressedSize"], tar.len());
        assert_eq!(names(&list_tar(lab.path(), &tar)), ["etc/motd"]);
    }
    // umoci 0.4.7 unpacks the gzip and plain layers (it has no zstd).
    for tag in ["gzip", "none"] {
        lab.unpack(tag, &format!("check-{tag}"));
        let motd = fs::read_to_string(lab.path().join(format!("check-{tag}/rootfs/etc/motd")));
        assert_eq!(motd.unwrap(), "hello\nmore\n");
    }

    // auto: the last compressed layer's algorithm; uncompressed layers are skipped.
    lab.repack("b", "z", &["--compress", "zstd", "--refresh-bundle"]);
    lab.sh("echo plain > b/rootfs/plain");
    lab.repack("b", "zn", &["--compress", "none", "--refresh-bundle"]);
    lab.sh("echo again > b/rootfs/again");
    for (tag, flags) in [("auto", &["--compress", "auto"][..]), ("default", &[])] {
        let out = lab.repack("b", tag, flags);
        assert_eq!(out["layer"]["mediaType"], format!("{TAR}+zstd"), "{tag}");
        let types: Vec<Value> = lab
            .layers(tag)
            .iter()
            .map(|l| l["mediaType"].clone())
            .collect();
        assert_eq!(
            types[types.len() - 3..],
            [format!("{TAR}+zstd"), TAR.to_owned(), format!("{TAR}+zstd")].map(Value::from)
        );
    }
    // ... and gzip over umoci's gzip layers.
    lab.unpack("base", "b2");
    lab.sh("echo x > b2/rootfs/x");
    let out = lab.repack("b2", "auto-gzip", &[]);
    assert_eq!(out["layer"]["mediaType"], format!("{TAR}+gzip"));
}

#[test]
fn volumes_and_mask_paths() {
    if !ready(&[]) {
        return;
    }
    let lab = Lab::new(BASE);
    lab.sh("umoci config --image img:base --config.volume /volume --config.volume '/some nutty/path name/ here'");
    lab.unpack("base", "b");
    lab.edit(
        "b",
        r#"
mkdir -p "$R/volume/sub" "$R/some nutty/path name/ here/deep" "$R/volumetest" \
    "$R/some/volume/test" "$R/some nutty/path "
printf 1 > "$R/volume/a"; printf 2 > "$R/volume/sub/b"
printf 3 > "$R/some nutty/path name/ here/f"; printf 4 > "$R/some nutty/path name/ here/deep/g"
printf 5 > "$R/some nutty/path name/sibling"
printf 6 > "$R/volumetest/x"; printf 7 > "$R/some/volume/test/y"; printf 8 > "$R/some nutty/path /z"
"#,
    );
    let masked = [
        "volume",
        "volume/a",
        "volume/sub",
        "volume/sub/b",
        "some nutty/path name/ here",
        "some nutty/path name/ here/f",
        "some nutty/path name/ here/deep",
        "some nutty/path name/ here/deep/g",
    ];
    let near = [
        "some nutty/path name/sibling",
        "volumetest/x",
        "some/volume/test/y",
        "some nutty/path /z",
    ];
    let present = |tag: &str| -> BTreeSet<String> {
        lab.entries(tag)
            .into_iter()
            .map(|e| e.name.trim_end_matches('/').to_owned())
            .collect()
    };

    lab.repack("b", "masked", &[]);
    let got = present("masked");
    for p in masked {
        assert!(!got.contains(p), "{p:?} is in a volume: {got:?}");
    }
    for p in near {
        assert!(got.contains(p), "{p:?} is not in a volume: {got:?}");
    }
    assert!(got.contains("some nutty/path name"), "{got:?}");
    // umoci agrees on what is masked.
    lab.sh("cp -a b b-umoci && umoci repack --image img:umoci b-umoci");
    assert_eq!(present("umoci"), got);

    lab.repack("b", "all", &["--no-mask-volumes"]);
    let got = present("all");
    for p in masked.iter().chain(&near) {
        assert!(got.contains(*p), "{p:?} with --no-mask-volumes: {got:?}");
    }

    lab.repack(
        "b",
        "more",
        &["--mask-path", "/volumetest", "--mask-path", "some/volume/"],
    );
    let got = present("more");
    for p in masked
        .iter()
        .chain(&["volumetest", "volumetest/x", "some/volume/test/y"])
    {
        assert!(!got.contains(*p), "{p:?} is masked: {got:?}");
    }
    for p in ["some nutty/path name/sibling", "some nutty/path /z", "some"] {
        assert!(got.contains(p), "{p:?} is not masked: {got:?}");
    }
}

#[test]
fn refresh_bundle_then_stack() {
    if !ready(&[]) {
        return;
    }
    let lab = Lab::new(BASE);
    lab.unpack("base", "b");
    let old_mtree = lab.mtree_file("b");
    lab.sh("echo first > b/rootfs/first");
    lab.repack("b", "r1", &["--refresh-bundle"]);

    // The bundle now describes r1: metadata, manifest file name and content.
    let r1 = lab.digest("r1");
    let walk = lab.umoci_json("b")["from_descriptor_path"]["descriptor_walk"].clone();
    assert_eq!(walk.as_array().unwrap().len(), 1);
    assert_eq!(walk[0]["digest"], r1.as_str());
    assert_eq!(
        walk[0]["annotations"]["org.opencontainers.image.ref.name"],
        "r1"
    );
    assert!(!old_mtree.exists(), "{old_mtree:?} is still there");
    let new_mtree = lab.mtree_file("b");
    assert_eq!(
        new_mtree.file_name().unwrap().to_str().unwrap(),
        format!("sha256_{}.mtree", &r1[7..])
    );
    let written = owned(&fs::read_to_string(&new_mtree).unwrap());
    assert_same_tree(&lab.tree("b"), &written, "the refreshed manifest");
    // A fresh unpack of r1 and the refreshed bundle describe the same tree.
    lab.unpack("r1", "fresh");
    let fresh = owned(&fs::read_to_string(lab.mtree_file("fresh")).unwrap());
    assert_same_tree(&written, &fresh, "umoci unpack of r1");

    // More changes stack on r1: the next layer holds only them.
    lab.sh("echo second > b/rootfs/second && echo changed >> b/rootfs/etc/motd");
    lab.repack("b", "r2", &[]);
    assert_eq!(
        lab.layers("r2")[..lab.layers("r1").len()],
        lab.layers("r1")[..]
    );
    assert_eq!(lab.layers("r2").len(), lab.layers("r1").len() + 1);
    assert_eq!(lab.history("r2").len(), lab.history("base").len() + 2);
    let ours = lab.entries("r2");
    let mut got = names(&ours);
    got.retain(|n| *n != ".");
    assert_eq!(got, ["etc/motd", "second"]);
    lab.unpack("r2", "check");
    assert_same_tree(&lab.tree("b"), &lab.tree("check"), "umoci unpack of r2");

    // umoci repacks the refreshed bundle too, finding the same changes.
    lab.sh("cp -a b b-umoci && umoci repack --image img:u b-umoci");
    assert_eq!(names(&lab.entries("u")), names(&ours));
    assert_eq!(
        lab.layers("u")[..lab.layers("r1").len()],
        lab.layers("r1")[..]
    );
}

#[test]
fn layout_owner_is_kept() {
    if !ready(&[]) {
        return;
    }
    let lab = Lab::new(BASE);
    lab.unpack("base", "b");
    lab.sh("chown -R 1234:5678 img && echo x > b/rootfs/x");
    lab.repack("b", "owned", &["--refresh-bundle"]);
    lab.sh(r#"bad=$(find img \( ! -uid 1234 -o ! -gid 5678 \) -print)
           test -z "$bad" || { echo "not owned by 1234:5678: $bad"; exit 1; }"#);
}

/// An invocation that must fail without touching `index.json`; returns stderr.
fn refused(lab: &Lab, args: &[&str]) -> String {
    let before = lab.index_bytes();
    let out = run_fail(&mut lab.run(args));
    assert_eq!(lab.index_bytes(), before, "{args:?} changed index.json");
    assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
    out.stderr
}

#[test]
fn invalid_invocations_fail_cleanly() {
    if !ready(&[]) {
        return;
    }
    let lab = Lab::new(BASE);
    lab.unpack("base", "b");
    lab.sh("echo change > b/rootfs/change");

    // Usage errors: one line too, naming the problem.
    for (args, cause) in [
        (&[][..], "required arguments were not provided"),
        (&["b"][..], "--image"),
        (&["--image", "img:x"][..], "<BUNDLE>"),
        (&["--image", "img:x", "--bogus", "b"][..], "'--bogus'"),
        (&["--image", "img:x", "b", "extra"][..], "'extra'"),
        (
            &[
                "--image",
                "img:x",
                "--no-history",
                "--history.author",
                "x",
                "b",
            ][..],
            "cannot be used with",
        ),
        (
            &["--image", "img:x", "--compress=invalid", "b"][..],
            "'invalid'",
        ),
    ] {
        let stderr = refused(&lab, args);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("repack-host: "), "{args:?}: {stderr}");
        assert!(stderr.contains(cause), "{args:?}: {stderr}");
    }

    // Everything else: one line naming the cause.
    let one_line = |args: &[&str], cause: &str| {
        let stderr = refused(&lab, args);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("repack-host: "), "{args:?}: {stderr}");
        assert!(stderr.contains(cause), "{args:?}: {stderr}");
    };
    one_line(&["--image", ":tag", "b"], "layout path is empty");
    one_line(
        &["--image", "nolayout:x", "b"],
        "nolayout: not an OCI image layout",
    );
    one_line(&["--image", "img:", "b"], "tag is empty");
    one_line(
        &["--image", "img:.AZ94n18s", "b"],
        "\".AZ94n18s\" is not valid",
    );
    one_line(&["--image", "img:x", "nobundle"], "nobundle: No such file");
    one_line(
        &["--image", "img:x", "--history.created", "invalid date", "b"],
        "\"invalid date\" is not an RFC 3339 time",
    );

    // Broken bundles, each a copy of the good one with one thing wrong.
    let broken = |name: &str, script: &str, cause: &str| {
        lab.sh(&format!("cp -a b {name}\n{script}"));
        one_line(&["--image", "img:x", name], cause);
    };
    broken(
        "norootfs",
        "rm -r norootfs/rootfs",
        "norootfs/rootfs: No such file",
    );
    broken(
        "garbage",
        "echo 'garbage line = %%' >> garbage/*.mtree",
        "mtree manifest: line",
    );
    broken(
        "backslash",
        r"printf 'x \\' >> backslash/*.mtree",
        "continuation backslash",
    );
    broken(
        "badmeta",
        "echo '{\"umoci_version\":' > badmeta/umoci.json",
        "badmeta/umoci.json: malformed",
    );
    broken(
        "linked",
        "mv linked/rootfs linked-real && ln -s ../linked-real linked/rootfs",
        "linked/rootfs: is a symlink",
    );
    broken(
        "wh",
        "touch wh/rootfs/.wh.foo",
        "wh/rootfs/.wh.foo: names starting with .wh.",
    );
    broken(
        "whdir",
        "mkdir whdir/rootfs/.wh.another_whiteout",
        "whdir/rootfs/.wh.another_whiteout: names starting with .wh.",
    );
    broken(
        "whnested",
        "mkdir whnested/rootfs/new && touch 'whnested/rootfs/new/.wh. THIS IS A TEST '",
        "names starting with .wh.",
    );

    // A base config blob with one byte flipped: the digest mismatch is named.
    let config = lab.manifest("base")["config"]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = lab.path().join("img/blobs/sha256").join(&config[7..]);
    let mut bytes = fs::read(&path).unwrap();
    bytes[10] ^= 0x01;
    fs::write(&path, bytes).unwrap();
    one_line(
        &["--image", "img:x", "b"],
        &format!("{config}: verified reader digest mismatch"),
    );

    // Nothing got tagged by any of these.
    let index = String::from_utf8(lab.index_bytes()).unwrap();
    assert!(!index.contains("\"x\""), "{index}");
}

#[test]
fn sockets_are_skipped_with_a_warning() {
    if !ready(&[]) {
        return;
    }
    let lab = Lab::new(BASE);
    lab.unpack("base", "b");
    lab.sh(
        "echo x > b/rootfs/etc/x && python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"b/rootfs/etc/sock\")'",
    );
    let out = lab.run(&["--image", "img:sock", "b"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("etc/sock: sockets cannot be stored"),
        "{stderr}"
    );
    let entries = lab.entries("sock");
    assert!(entries.iter().any(|e| e.name == "etc/x"));
    assert!(
        entries.iter().all(|e| !e.name.contains("sock")),
        "{entries:?}"
    );
    // umoci refuses the same bundle.
    let out = run_fail(Command::new("umoci").current_dir(lab.path()).args([
        "repack",
        "--image",
        "img:umoci",
        "b",
    ]));
    assert!(out.stderr.contains("socket"), "{}", out.stderr);
}

#[test]
fn owners_map_through_the_bundle_mappings() {
    if !ready(&[]) {
        return;
    }
    let lab = Lab::new(BASE);
    lab.sh("umoci unpack --uid-map 0:1337:65535 --gid-map 0:7331:65535 --image img:base b");
    let stat = fs::metadata(lab.path().join("b/rootfs/etc/motd")).unwrap();
    assert_eq!((stat.uid(), stat.gid()), (1337, 7331));
    lab.sh("mkdir b/rootfs/mine && chown 1337:7331 b/rootfs/mine
         echo x > b/rootfs/mine/owned && chown 2000:8000 b/rootfs/mine/owned");
    lab.repack("b", "mapped", &[]);
    let entries = lab.entries("mapped");
    let owned = find(&entries, "mine/owned");
    assert_eq!((owned.uid, owned.gid), (663, 669));
    let mine = find(&entries, "mine");
    assert_eq!((mine.uid, mine.gid), (0, 0));

    // An owner outside the mapping cannot be written.
    lab.sh("chown 5:5 b/rootfs/mine/owned");
    let stderr = refused(&lab, &["--image", "img:unmapped", "b"]);
    assert!(stderr.contains("uid 5 has no mapping"), "{stderr}");
}
