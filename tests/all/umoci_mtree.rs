//! `raw mtree` against umoci 0.4.7's own manifests, and umoci reading ours.

use std::fs;
use std::path::Path;

use repack_guest::mtree::parse;

use crate::support::{have, mtree_file, repack_host, root, run_ok, sh};

/// Every kind of object and name the manifest format has to get right.
const POPULATE: &str = r#"
R=b1/rootfs
mkdir -p "$R/etc" "$R/bin" "$R/home/user/sub" "$R/dir with space" "$R/sticky" "$R/nl
dir" "$R/=eq" "$R/ünï/çødé"
printf 'hello\n' > "$R/etc/motd"
printf x > "$R/a b"; printf y > "$R/eq=sign"; printf z > "$R/back\\slash"
printf w > "$R/nl
line"; printf u > "$R/ütf8-ç"; printf g > "$R/glob*?[#"; printf t > "$R/tab	c"
printf 'Merhaba dünya' > "$R/ünï/çødé/şğı.txt"; printf 'árvíztűrő' > "$R/ünï/tükörfúrógép"
printf '漢字' > "$R/ünï/漢字 かな"; : > "$R/empty"; printf n > "$R/nl
dir/inside"
echo bin > "$R/bin/busybox"; ln "$R/bin/busybox" "$R/bin/ash"; ln "$R/bin/busybox" "$R/etc/third link"
setfattr -n user.note -v hello "$R/bin/busybox"
setfattr -n "user.with space" -v v "$R/etc/motd"
setfattr -n user.dirattr -v d "$R/etc"
setfattr -n user.empty "$R/etc/motd" || true
setcap cap_net_raw+eip "$R/bin/busybox"
setcap cap_sys_admin,cap_setfcap+eip "$R/etc/motd"
ln -s /bin/ash "$R/sh"; ln -s '../x y' "$R/etc/rel"
ln -s 'a \really //weird _00..:=path ' "$R/weird"
ln -s "/../././././/../../../../etc/shadow" "$R/escape"
mkfifo "$R/fifo"; mknod "$R/chr" c 128 42; mknod "$R/blk" b 253 97
chown -R 1000:100 "$R/home"; chmod 0700 "$R/home"
chmod 4755 "$R/bin/ash"; chmod 2755 "$R/bin"; chmod 6755 "$R/empty"; chmod 1777 "$R/sticky"
chown 5:6 "$R/dir with space"; touch "$R/dir with space/f"; chown 7:8 "$R/dir with space/f"
mkdir -p "$R/locked/inner"; mkfifo "$R/locked/fifo"; printf s > "$R/locked/file"
ln -s ../../etc/shadow "$R/locked/link"
chmod 0000 "$R/locked/inner" "$R/locked"
printf q > "$R/zero-file"; chmod 0000 "$R/zero-file"
touch -h -d @1000000 "$R/etc/motd" "$R/sh"
"#;

/// Build an image with umoci, unpack it with umoci, and return the bundle (umoci's
/// `.mtree` describes its rootfs).
fn umoci_bundle(dir: &Path) -> std::path::PathBuf {
    sh(
        dir,
        "umoci init --layout img && umoci new --image img:base && umoci unpack --image img:base b1",
    );
    sh(dir, POPULATE);
    sh(
        dir,
        "umoci repack --image img:v1 b1 && umoci unpack --image img:v1 b2",
    );
    dir.join("b2")
}

/// Lines that are neither comments nor blank: the structure and every entry.
fn body(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn raw_mtree_equals_umocis_manifest() {
    if !have("umoci") || !have("setcap") || !have("setfattr") || !root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let bundle = umoci_bundle(tmp.path());
    let theirs = fs::read_to_string(mtree_file(&bundle)).unwrap();
    let ours = run_ok(
        repack_host()
            .arg("raw")
            .arg("mtree")
            .arg(bundle.join("rootfs")),
    );

    // umoci writes a directory's `# path` comment raw, which breaks it for names with
    // a newline; everything that is not a comment must be byte-identical.
    let (ours_body, theirs_body) = (body(&ours), body(&theirs));
    let theirs_body: Vec<&str> = theirs_body.into_iter().filter(|l| *l != "dir").collect();
    assert_eq!(ours_body, theirs_body);

    // Parsed, the entries agree in order, path and every keyword value.
    let (ours, theirs) = (parse(&ours).unwrap(), parse(&theirs).unwrap());
    assert_eq!(ours, theirs);
    let paths: Vec<String> = ours
        .iter()
        .map(|e| String::from_utf8_lossy(&e.path).into_owned())
        .collect();
    for expected in [
        "nl\ndir",
        "nl\ndir/inside",
        "ünï/çødé/şğı.txt",
        "locked/inner",
        "locked/link",
        "etc/third link",
        "glob*?[#",
        "back\\slash",
    ] {
        assert!(paths.iter().any(|p| p == expected), "{expected:?} missing");
    }
    let by_path = |p: &str| ours[paths.iter().position(|q| q == p).unwrap()].keywords();
    assert_eq!(by_path("chr").get("type"), Some("char"));
    assert_eq!(by_path("bin/ash").get("nlink"), Some("3"));
    assert_eq!(by_path("empty").get("mode"), Some("06755"));
    assert_eq!(by_path("locked").get("mode"), Some("0"));
    assert!(by_path("bin/busybox").contains_key("xattr.security.capability"));
}

#[test]
fn umoci_repacks_against_our_manifest() {
    if !have("umoci") || !root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let bundle = umoci_bundle(tmp.path());
    let mtree = mtree_file(&bundle);
    let ours = run_ok(
        repack_host()
            .arg("raw")
            .arg("mtree")
            .arg(bundle.join("rootfs")),
    );
    fs::write(&mtree, ours).unwrap();

    // Nothing changed: umoci sees no difference, so the new image adds no layer.
    sh(tmp.path(), "umoci repack --image img:same b2");
    let layers = |tag: &str| {
        run_ok(
            std::process::Command::new("sh")
                .current_dir(tmp.path())
                .args([
                    "-c",
                    &format!("umoci stat --image img:{tag} --json | grep -o empty_layer | wc -l"),
                ]),
        )
        .trim()
        .to_owned()
    };
    assert_eq!(
        layers("same"),
        "1",
        "only the no-change history entry is empty"
    );

    // One change: umoci's layer holds exactly that file.
    sh(
        tmp.path(),
        r#"echo changed >> b2/rootfs/etc/motd
           umoci repack --image img:changed b2
           m=$(grep -o '"digest":"sha256:[0-9a-f]*"' img/index.json | tail -1 | cut -d: -f3 | tr -d '"')
           l=$(grep -o '"digest":"sha256:[0-9a-f]*"' img/blobs/sha256/$m | tail -1 | cut -d: -f3 | tr -d '"')
           test "$(tar -tzf img/blobs/sha256/$l)" = "etc/motd""#,
    );
}
