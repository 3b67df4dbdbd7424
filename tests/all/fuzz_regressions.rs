//! Every fuzz regression input (`fuzz/regressions/unpack_layer/`) replayed through the
//! real command line: the layer is added to an image, unpacked with the options its
//! flags byte picks, and the result must be consistent. Either the unpack succeeds, the
//! bundle's manifest describes the rootfs exactly and a repack finds no change, or it
//! fails in one line and leaves no rootfs.

use std::fs;
use std::path::Path;

use crate::support::{mtree_file, repack_host, root, run_ok};

/// The inputs, sorted: (file name, flags byte, uncompressed layer).
fn inputs() -> Vec<(String, u8, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/unpack_layer");
    let mut out: Vec<(String, u8, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let e = e.unwrap();
            let bytes = fs::read(e.path()).unwrap();
            let (&flags, layer) = bytes.split_first().expect("a flags byte");
            (e.file_name().into_string().unwrap(), flags, layer.to_vec())
        })
        .collect();
    out.sort();
    out
}

/// The fuzz target's lower tree (flags bit 0) as an uncompressed layer: directories,
/// files, a hard link, symlinks pointing in, out and up, a fifo and a device.
fn lower_layer() -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, mode: u32, data: &[u8], link: &str| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_mtime(1_234_567_890);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(data.len() as u64);
        if kind == tar::EntryType::Char {
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
        }
        if !link.is_empty() {
            h.set_link_name(link).unwrap();
        }
        tar.append_data(&mut h, path, data).unwrap();
    };
    use tar::EntryType::{Char, Directory, Fifo, Link, Regular, Symlink};
    add("etc", Directory, 0o755, b"", "");
    add(
        "etc/passwd",
        Regular,
        0o644,
        b"root:x:0:0::/root:/bin/sh\n",
        "",
    );
    add("etc/group", Regular, 0o644, b"root:x:0:\n", "");
    add("usr", Directory, 0o755, b"", "");
    add("usr/bin", Directory, 0o755, b"", "");
    add("usr/bin/sh", Regular, 0o755, b"#!sh\n", "");
    add("usr/bin/ash", Link, 0o755, b"", "usr/bin/sh");
    add("bin", Symlink, 0o777, b"", "usr/bin");
    add("abs", Symlink, 0o777, b"", "/etc");
    add("up", Symlink, 0o777, b"", "../../..");
    add("fifo", Fifo, 0o644, b"", "");
    add("null", Char, 0o666, b"", "");
    tar.into_inner().unwrap()
}

/// The entry lines of a manifest.
fn body(manifest: &str) -> Vec<&str> {
    manifest
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn fuzz_regressions_replay_through_the_command_line() {
    // Devices and owners need root.
    if !root() {
        return;
    }
    let inputs = inputs();
    assert!(inputs.len() >= 6, "{} inputs", inputs.len());
    for (name, flags, layer) in inputs {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let host = |args: &[&str]| {
            let mut cmd = repack_host();
            cmd.current_dir(dir).args(args);
            cmd
        };
        run_ok(&mut host(&["init", "--layout", "img"]));
        run_ok(&mut host(&["new", "--image", "img:t"]));
        let mut layers = Vec::new();
        if flags & 1 != 0 {
            layers.push(("lower.tar", lower_layer()));
        }
        layers.push(("input.tar", layer));
        for (file, bytes) in &layers {
            fs::write(dir.join(file), bytes).unwrap();
            run_ok(&mut host(&[
                "raw",
                "add-layer",
                "--compress",
                "none",
                "--image",
                "img:t",
                file,
            ]));
        }
        let mut args = vec!["unpack", "--image", "img:t"];
        if flags & 2 != 0 {
            args.push("--keep-dirlinks");
        }
        if flags & 4 != 0 {
            args.push("--rootless");
        }
        if flags & 8 != 0 {
            args.extend(["--uid-map", "0:100000:65536", "--gid-map", "0:100000:65536"]);
        }
        args.push("bundle");
        let out = host(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprintln!("{name}: {}", stderr.trim_end());
        let bundle = dir.join("bundle");
        if !out.status.success() {
            assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
            assert!(!bundle.join("rootfs").exists(), "{name}: rootfs remains");
            continue;
        }
        let manifest = fs::read_to_string(mtree_file(&bundle)).unwrap();
        let walked = run_ok(&mut host(&["raw", "mtree", "bundle/rootfs"]));
        assert_eq!(
            body(&walked),
            body(&manifest),
            "{name}: manifest and rootfs"
        );
        let repacked = run_ok(&mut host(&["run", "--image", "img:again", "bundle"]));
        assert!(
            repacked.contains("added 0, modified 0, deleted 0"),
            "{name}: {repacked}"
        );
    }
}
