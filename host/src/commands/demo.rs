//! `demo`: a whole repack round on data built into the binary, no image needed.
//!
//! In a scratch directory (or `--workdir`): create an OCI layout with an empty image,
//! unpack it into a bundle, fill the rootfs (files, a hardlink, an absolute
//! symlink, odd names, a setuid file, a 0000 directory, an xattr where the filesystem
//! allows), repack it as tag `base` with `--refresh-bundle`, edit the rootfs, repack
//! again as tag `edited`, print what each layer holds, and unpack `edited` again to
//! show that its tree equals the edited rootfs.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use repack_host::image::{CompressionChoice, HistoryRequest};
use repack_host::layout::{Compression, ImageRef, Layout, empty};
use repack_host::repack::{Outcome, Request};
use repack_host::unpack::{Options as UnpackOptions, Request as UnpackRequest};
use repack_host::{Limits, MtreeRequest, Repacker};

use crate::cli::{DemoArgs, GlobalArgs};

/// Fill the demo rootfs.
fn populate(rootfs: &Path) -> Result<()> {
    let path = |p: &str| rootfs.join(p);
    for dir in ["etc", "bin", "home/user", "locked"] {
        fs::create_dir_all(path(dir))?;
    }
    fs::write(path("etc/motd"), "welcome to repack\n")?;
    fs::write(path("etc/hostname"), "demo\n")?;
    fs::write(path("bin/busybox"), "#!/bin/sh\necho busybox\n")?;
    fs::set_permissions(path("bin/busybox"), fs::Permissions::from_mode(0o4755))?;
    fs::hard_link(path("bin/busybox"), path("bin/sh"))?;
    symlink("/etc/motd", path("motd"))?;
    fs::write(path("home/user/notes with spaces & = signs.txt"), "hi\n")?;
    fs::write(path("home/user/caf\u{e9}.txt"), "\u{2615}\n")?;
    fs::write(path("locked/secret"), "s3cret\n")?;
    // Not every filesystem takes user xattrs; the demo works without.
    let _ = rustix::fs::setxattr(
        path("etc/motd").as_path(),
        "user.demo",
        b"hello",
        rustix::fs::XattrFlags::empty(),
    );
    fs::set_permissions(path("locked"), fs::Permissions::from_mode(0o000))?;
    Ok(())
}

/// The edits between the two repacks.
fn edit(rootfs: &Path) -> Result<()> {
    let path = |p: &str| rootfs.join(p);
    fs::write(path("etc/motd"), "welcome to repack, edited\n")?;
    fs::write(path("etc/added"), "new file\n")?;
    fs::remove_dir_all(path("home"))?;
    fs::set_permissions(path("etc/hostname"), fs::Permissions::from_mode(0o600))?;
    Ok(())
}

/// The demo's unpack request.
fn unpack_request(layout: &Path, tag: &str, bundle: &Path, rootless: bool) -> UnpackRequest {
    UnpackRequest {
        image: ImageRef {
            layout: layout.to_owned(),
            tag: tag.to_owned(),
        },
        bundle: bundle.to_owned(),
        options: UnpackOptions {
            uid_maps: Vec::new(),
            gid_maps: Vec::new(),
            rootless,
            keep_dirlinks: false,
            max_layer_size: 1 << 30,
            platform: None,
        },
    }
}

/// The demo's repack request.
fn request(bundle: &Path, layout: &Path, tag: &str, refresh: bool) -> Request {
    Request {
        bundle: bundle.to_owned(),
        image: ImageRef {
            layout: layout.to_owned(),
            tag: tag.to_owned(),
        },
        masks: Vec::new(),
        mask_volumes: true,
        refresh_bundle: refresh,
        compression: CompressionChoice::Fixed(Compression::Gzip),
        history: Some(HistoryRequest {
            created_by: "repack-host demo".into(),
            ..HistoryRequest::default()
        }),
        source_date_epoch: None,
        progress: None,
    }
}

/// The letter `ls -l` shows for an entry's type (`h` for a hardlink, which `ls` cannot
/// tell apart from a file; `?` for what a layer should not hold).
fn type_letter(kind: tar::EntryType) -> char {
    match kind {
        tar::EntryType::Directory => 'd',
        tar::EntryType::Regular | tar::EntryType::Continuous => '-',
        tar::EntryType::Symlink => 'l',
        tar::EntryType::Link => 'h',
        tar::EntryType::Char => 'c',
        tar::EntryType::Block => 'b',
        tar::EntryType::Fifo => 'p',
        _ => '?',
    }
}

/// Print one repack's result and its layer's entries.
fn report(layout: &Layout, tag: &str, outcome: &Outcome) -> Result<()> {
    println!(
        "{tag}: manifest {}: added {}, modified {}, deleted {}",
        outcome.manifest.digest, outcome.added, outcome.modified, outcome.deleted
    );
    let Some(layer) = &outcome.layer else {
        println!("  no layer");
        return Ok(());
    };
    println!(
        "  layer {} ({} bytes gzip, {} bytes tar), entries:",
        layer.descriptor.digest, layer.descriptor.size, layer.uncompressed_size
    );
    let file = fs::File::open(layout.blob_path(&layer.descriptor.digest))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in archive.entries()? {
        let mut entry = entry?;
        let kind = type_letter(entry.header().entry_type());
        let mode = entry.header().mode()?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let link = entry
            .link_name_bytes()
            .map(|l| format!(" -> {}", String::from_utf8_lossy(&l)))
            .unwrap_or_default();
        let xattrs = entry
            .pax_extensions()?
            .map(|exts| {
                exts.filter_map(|e| e.ok()?.key().ok().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_iter()
            .filter_map(|k| k.strip_prefix("SCHILY.xattr.").map(str::to_owned))
            .collect::<Vec<_>>();
        let xattrs = if xattrs.is_empty() {
            String::new()
        } else {
            format!("  xattrs: {}", xattrs.join(", "))
        };
        println!("    {kind} {mode:04o} {name}{link}{xattrs}");
        std::io::copy(&mut entry.by_ref(), &mut std::io::sink())?;
    }
    Ok(())
}

/// Run the demo in `dir`.
fn demo(engine: &Repacker, limits: &Limits, dir: &Path) -> Result<()> {
    // Without root, files cannot be given to root: unpack as umoci --rootless does.
    let rootless = !rustix::process::geteuid().is_root();
    if rootless {
        println!(
            "not running as root: unpacking with --rootless (owners recorded in user.rootlesscontainers)"
        );
    }
    let layout_path = dir.join("layout");
    let bundle = dir.join("bundle");
    let rootfs = bundle.join("rootfs");
    let layout = Layout::init(&layout_path)?;
    let created = repack_host::image::history::created(None, None);
    empty::new_image(&layout, "empty", &created)?;
    engine.unpack(
        &unpack_request(&layout_path, "empty", &bundle, rootless),
        limits,
    )?;
    println!(
        "layout {} with an empty image, tag \"empty\"",
        layout_path.display()
    );
    println!(
        "bundle {} unpacked from it (rootfs, config.json, .mtree, umoci.json, as umoci makes them)\n",
        bundle.display()
    );

    populate(&rootfs).context("filling the rootfs")?;
    let base = engine.repack(&request(&bundle, &layout_path, "base", true), limits)?;
    report(&layout, "base", &base)?;

    edit(&rootfs).context("editing the rootfs")?;
    println!("\nedited: etc/motd changed, etc/added added, home/ deleted, etc/hostname chmod 0600");
    let edited = engine.repack(&request(&bundle, &layout_path, "edited", false), limits)?;
    report(&layout, "edited", &edited)?;
    let check = dir.join("check");
    engine.unpack(
        &unpack_request(&layout_path, "edited", &check, rootless),
        limits,
    )?;
    let fresh = engine.mtree(&MtreeRequest::new(check.join("rootfs")), limits)?;
    let ours = engine.mtree(&MtreeRequest::new(&rootfs), limits)?;
    let entries = |m: &str| {
        m.lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    println!(
        "\nunpacked \"edited\" into {}: its tree {} the edited rootfs ({} manifest lines)",
        check.display(),
        if entries(&fresh) == entries(&ours) {
            "equals"
        } else {
            "DIFFERS FROM"
        },
        entries(&fresh).len()
    );
    println!(
        "the layout is umoci's format too: umoci unpack --image {}:edited DIR (keep it with --workdir DIR)",
        layout_path.display()
    );
    Ok(())
}

/// Run `repack-host demo`.
pub fn run(global: &GlobalArgs, args: &DemoArgs) -> Result<()> {
    let scratch;
    let dir: PathBuf = match &args.workdir {
        Some(dir) => {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            dir.clone()
        }
        None => {
            scratch = tempfile::tempdir().context("creating a scratch directory")?;
            scratch.path().to_path_buf()
        }
    };
    let engine = super::repacker(global)?;
    let result = demo(&engine, &super::limits(global), &dir);
    // Let a scratch directory be removed despite the 0000 directory.
    for locked in ["bundle/rootfs/locked", "check/rootfs/locked"] {
        let locked = dir.join(locked);
        if locked.exists() {
            fs::set_permissions(&locked, fs::Permissions::from_mode(0o755))?;
        }
    }
    result
}
