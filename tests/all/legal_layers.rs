//! Legal layers that are out of the ordinary, read as umoci 0.4.7 (Go's archive/tar)
//! reads them: PAX values holding newlines (binary file capabilities), sparse files
//! from GNU tar in each of its formats, and a directory replaced later in its own layer.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::support::{have, repack_host, run_ok};
use crate::umoci_unpack::{Lab, one_line_failure, output, ready, xattr};

/// `security.capability` of `setcap cap_dac_override,cap_fowner+ep`: permitted bits
/// 0x0a, the newline.
const CAPS: &str = "cap_dac_override,cap_fowner+ep";

#[test]
fn xattr_values_holding_newlines_round_trip() {
    if !ready() || !have("setcap") {
        return;
    }
    let lab = Lab::new();
    lab.umoci_layer(
        "empty",
        "caps",
        &format!(
            r#"printf 'ping' > "$R/ping"
setcap {CAPS} "$R/ping"
setfattr -n user.bin -v 0x0a000a0b0a "$R/ping"
mkdir "$R/dir" && setfattr -n user.nl -v 0x0a "$R/dir""#
        ),
    );
    let cap = xattr(&lab.at("work-caps/rootfs/ping"), "security.capability").unwrap();
    assert!(
        cap.contains(&b'\n'),
        "the capability holds a newline: {cap:02x?}"
    );

    // umoci's layer, unpacked by both.
    lab.unpack("caps", "ours", &[]);
    lab.umoci_unpack("caps", "theirs", &[]);
    lab.assert_same_bundle("ours", "theirs");
    let ping = lab.at("ours/rootfs/ping");
    assert_eq!(xattr(&ping, "security.capability").unwrap(), cap);
    assert_eq!(xattr(&ping, "user.bin").unwrap(), b"\n\0\n\x0b\n");
    assert_eq!(xattr(&lab.at("ours/rootfs/dir"), "user.nl").unwrap(), b"\n");

    // Our layer of the same objects (changed, so they are in it), unpacked by both.
    lab.sh("touch -d @1700000000 ours/rootfs/ping ours/rootfs/dir\n\
         printf new > ours/rootfs/new && setfattr -n user.two -v 0x0a0a ours/rootfs/new");
    run_ok(
        repack_host()
            .current_dir(lab.path())
            .args(["run", "--image", "img:again", "ours"]),
    );
    lab.unpack("again", "ours-again", &[]);
    lab.umoci_unpack("again", "theirs-again", &[]);
    lab.assert_same_bundle("ours-again", "theirs-again");
    let again = lab.at("ours-again/rootfs");
    assert_eq!(
        xattr(&again.join("ping"), "security.capability").unwrap(),
        cap
    );
    assert_eq!(
        xattr(&again.join("ping"), "user.bin").unwrap(),
        b"\n\0\n\x0b\n"
    );
    assert_eq!(xattr(&again.join("new"), "user.two").unwrap(), b"\n\n");
}

/// The files GNU tar archives: sparse ones with holes at the start, in the middle and
/// at the end (64 MiB in all, 12 bytes of data), one that is all hole, one with a
/// long name, and plain ones.
const SPARSE_SOURCE: &str = r#"
import os, sys
os.makedirs("src/deep/" + "d" * 120)
def sparse(path, size, regions):
    with open(path, "wb") as f:
        for offset, data in regions:
            f.seek(offset)
            f.write(data)
        f.truncate(size)
sparse("src/holes", 64 << 20, [(0, b"head"), (16 << 20, b"middle"), (40 << 20, b"xy")])
sparse("src/lead", 8 << 20, [((8 << 20) - 4, b"tail")])
sparse("src/nothing", 4 << 20, [])
sparse("src/deep/" + "d" * 120 + "/long-named-sparse", 2 << 20, [(1 << 20, b"x")])
with open("src/dense", "wb") as f:
    f.write(os.urandom(100000))
with open("src/small", "wb") as f:
    f.write(b"small")
for root, dirs, files in os.walk("src"):
    for name in dirs + files:
        os.utime(os.path.join(root, name), (1234567890, 1234567890))
os.utime("src", (1234567890, 1234567890))
"#;

/// Each regular file below `root` with its contents' digest, by relative path.
fn contents(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                out.push((rel, fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Bytes `path` takes on disk.
fn allocated(path: &Path) -> u64 {
    fs::metadata(path).unwrap().blocks() * 512
}

#[test]
fn sparse_files_from_gnu_tar() {
    if !ready() || !have("tar") {
        return;
    }
    let lab = Lab::new();
    run_ok(
        std::process::Command::new("python3")
            .current_dir(lab.path())
            .args(["-c", SPARSE_SOURCE]),
    );
    let source = contents(&lab.at("src"));
    assert_eq!(source.len(), 6);
    assert!(
        allocated(&lab.at("src/holes")) < 1 << 20,
        "the scratch filesystem keeps holes"
    );
    let formats: [(&str, &str); 4] = [
        ("gnu", "--format=gnu"),
        ("pax00", "--format=posix --sparse-version=0.0"),
        ("pax01", "--format=posix --sparse-version=0.1"),
        ("pax10", "--format=posix --sparse-version=1.0"),
    ];
    for (tag, flags) in formats {
        lab.sh(&format!(
            "tar --sparse {flags} -C src -cf {tag}.tar . && \
             umoci raw add-layer --image img:empty --tag {tag} {tag}.tar"
        ));
        let ours = format!("ours-{tag}");
        lab.unpack(tag, &ours, &[]);
        let rootfs = lab.at(&format!("{ours}/rootfs"));
        assert_eq!(contents(&rootfs), source, "{tag}: contents");
        for (file, size) in [
            ("holes", 64u64 << 20),
            ("lead", 8 << 20),
            ("nothing", 4 << 20),
        ] {
            let meta = fs::metadata(rootfs.join(file)).unwrap();
            assert_eq!(meta.len(), size, "{tag}: {file}");
            assert!(
                allocated(&rootfs.join(file)) < 1 << 20,
                "{tag}: {file} takes {} bytes on disk: its holes were written",
                allocated(&rootfs.join(file))
            );
        }
        let theirs = format!("theirs-{tag}");
        if tag == "gnu" {
            // umoci 0.4.7 refuses the old-GNU sparse type that Go's reader hands it.
            let out = output(
                std::process::Command::new("umoci")
                    .current_dir(lab.path())
                    .args(["unpack", "--image", &format!("img:{tag}"), &theirs]),
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success() && stderr.contains("unknown typeflag '\\x53'"),
                "umoci on old-GNU sparse files: {stderr}"
            );
        } else {
            lab.umoci_unpack(tag, &theirs, &[]);
            lab.assert_same_bundle(&ours, &theirs);
        }
    }

    // The holes count against --max-layer-size, though the archive is small.
    let layer = fs::metadata(lab.at("pax10.tar")).unwrap().len();
    assert!(layer < 1 << 20, "{layer}");
    let out = output(&mut lab.ours("pax10", "limited", &["--max-layer-size", "32M"]));
    let message = one_line_failure(&out, "a sparse file over the limit");
    assert!(message.contains("--max-layer-size"), "{message}");
    assert!(
        !lab.at("limited/rootfs").exists(),
        "no rootfs is left behind"
    );
}

/// Entries that replace, later in the same layer, a directory the layer filled
/// earlier: by a file, a symlink and a hard link; and one filled by a lower layer.
/// (Every directory has its entry: umoci leaves the parent of a directory it creates
/// unasked with the time of extraction.)
const REPLACED: &str = r#"
dir("a/"); dir("a/a/"); reg("a/a/f", b"x"); reg("a", b"file a")
dir("b/"); dir("b/b/"); reg("b/b/f", b"y"); sym("b", "target")
dir("c/"); dir("c/c/"); dir("c/c/c/"); reg("c/c/c/f", b"z"); hard("c", "a")
reg("lower/new/f", b"new"); reg("lower", b"now a file")
"#;

#[test]
fn a_directory_replaced_later_in_its_layer() {
    if !ready() {
        return;
    }
    let lab = Lab::new();
    lab.add_layer(
        "empty",
        "base",
        "none",
        r#"dir("lower/"); dir("lower/new/"); reg("lower/new/old", b"old")"#,
    );
    lab.add_layer("base", "replaced", "none", REPLACED);
    lab.unpack("replaced", "ours", &[]);
    lab.umoci_unpack("replaced", "theirs", &[]);
    lab.assert_same_bundle("ours", "theirs");
    let rootfs = lab.at("ours/rootfs");
    assert_eq!(fs::read(rootfs.join("a")).unwrap(), b"file a");
    assert_eq!(fs::read(rootfs.join("lower")).unwrap(), b"now a file");
    assert_eq!(
        fs::read_link(rootfs.join("b")).unwrap(),
        Path::new("target")
    );
    assert_eq!(fs::metadata(rootfs.join("c")).unwrap().nlink(), 2);
}
