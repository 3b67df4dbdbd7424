//! Layouts and bundles for many tenants, built once with the CLI and copied whole, so
//! that a job run alone and the same job run among others start from the same bytes.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

/// The time every file and directory of a tenant's change gets.
const MTIME: u64 = 1_700_000_000;

pub fn repack_host() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_repack-host"));
    cmd.env("REPACK_CACHE_DIR", cache_dir());
    cmd
}

pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache")
}

/// Run `args` in `dir`; panic with its stderr if it fails.
pub fn host(dir: &Path, args: &[&str]) -> String {
    let out = repack_host().current_dir(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "repack-host {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Set the modification time of `path` (a file or a directory) to `MTIME`.
pub fn pin(path: &Path) {
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(MTIME);
    File::open(path).unwrap().set_modified(time).unwrap();
}

/// Bytes from a small xorshift generator: incompressible, the same for one seed.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Give `rootfs` a tenant's change: `files` files over a few directories, one holding
/// `big` bytes of noise, every time pinned.
pub fn change(rootfs: &Path, seed: u64, files: usize, big: usize) {
    for i in 0..files {
        let dir = rootfs.join(format!("srv/d{}", i % 8));
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("file-{seed}-{i}"));
        fs::write(&file, format!("tenant {seed} file {i}\n").repeat(1 + i % 5)).unwrap();
        pin(&file);
    }
    if big > 0 {
        let file = rootfs.join("big");
        fs::write(&file, noise(big, seed)).unwrap();
        pin(&file);
    }
    for i in 0..8 {
        let dir = rootfs.join(format!("srv/d{i}"));
        if dir.exists() {
            pin(&dir);
        }
    }
    if rootfs.join("srv").exists() {
        pin(&rootfs.join("srv"));
    }
    pin(rootfs);
}

/// A layout `name` with an empty image `base`.
pub fn layout(dir: &Path, name: &str) {
    host(dir, &["init", "--layout", name]);
    host(dir, &["new", "--image", &format!("{name}:base")]);
}

/// Unpack `image` into `bundle` and give its rootfs a change.
pub fn bundle(dir: &Path, image: &str, bundle: &str, seed: u64, files: usize, big: usize) {
    host(dir, &["unpack", "--image", image, bundle]);
    change(&dir.join(bundle).join("rootfs"), seed, files, big);
}

/// Add a layer holding one file `name` of `size` zero bytes to `image` as `tag`
/// (gzip: a zero file compresses about a thousandfold).
pub fn zero_layer(dir: &Path, image: &str, tag: &str, name: &str, size: u64) {
    let tar = dir.join(format!("{tag}.tar"));
    {
        let mut builder = tar::Builder::new(File::create(&tar).unwrap());
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_mtime(MTIME);
        header.set_cksum();
        builder
            .append_data(
                &mut header,
                name,
                std::io::Read::take(std::io::repeat(0), size),
            )
            .unwrap();
        builder.finish().unwrap();
    }
    host(
        dir,
        &[
            "raw",
            "add-layer",
            "--image",
            image,
            "--tag",
            tag,
            "--compress",
            "gzip",
            "--history.created",
            "2024-01-01T00:00:00Z",
            tar.to_str().unwrap(),
        ],
    );
    fs::remove_file(tar).unwrap();
}
