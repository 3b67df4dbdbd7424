//! `demo`: show the sandboxed walk on a rootfs built on the spot.
//!
//! Needs no image and no privileges: it creates a small rootfs (files, a hardlink, a
//! symlink with an absolute target, odd names, a setuid file, a 0000 directory, an xattr
//! where the filesystem allows) and prints its mtree manifest, produced by the guest.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use anyhow::{Context, Result};
use repack_host::MtreeRequest;

use crate::cli::{DemoArgs, GlobalArgs};

/// Build the demo rootfs under `dir/rootfs`.
fn build_rootfs(dir: &Path) -> Result<std::path::PathBuf> {
    let rootfs = dir.join("rootfs");
    let path = |p: &str| rootfs.join(p);
    fs::create_dir_all(path("etc"))?;
    fs::create_dir_all(path("bin"))?;
    fs::create_dir_all(path("home/user"))?;
    fs::create_dir_all(path("locked"))?;
    fs::write(path("etc/motd"), "welcome to repack\n")?;
    fs::write(path("etc/hostname"), "demo\n")?;
    fs::write(path("bin/busybox"), "#!/bin/sh\necho busybox\n")?;
    fs::set_permissions(path("bin/busybox"), fs::Permissions::from_mode(0o4755))?;
    fs::hard_link(path("bin/busybox"), path("bin/sh"))?;
    symlink("/etc/motd", path("motd"))?;
    fs::write(path("home/user/notes with spaces & = signs.txt"), "hi\n")?;
    fs::write(path("home/user/caf\u{e9}.txt"), "\u{2615}\n")?;
    // Not every filesystem takes user xattrs; the demo works without.
    let _ = rustix::fs::setxattr(
        path("etc/motd").as_path(),
        "user.demo",
        b"hello",
        rustix::fs::XattrFlags::empty(),
    );
    fs::set_permissions(path("locked"), fs::Permissions::from_mode(0o000))?;
    Ok(rootfs)
}

/// Build the rootfs, walk it in the sandbox and print the manifest.
pub fn run(global: &GlobalArgs, args: &DemoArgs) -> Result<()> {
    let scratch;
    let dir = match &args.workdir {
        Some(dir) => {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            dir.clone()
        }
        None => {
            scratch = tempfile::tempdir().context("creating a scratch directory")?;
            scratch.path().to_path_buf()
        }
    };
    let rootfs = build_rootfs(&dir).context("building the demo rootfs")?;
    let repacker = super::repacker(global)?;
    let manifest = repacker.mtree(&MtreeRequest::new(&rootfs), &super::limits(global))?;
    println!(
        "# demo rootfs at {}; its mtree manifest, walked by the sandboxed guest:",
        rootfs.display()
    );
    print!("{manifest}");
    // Let a scratch directory be removed despite the 0000 directory.
    fs::set_permissions(rootfs.join("locked"), fs::Permissions::from_mode(0o755))?;
    Ok(())
}
