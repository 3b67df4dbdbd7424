//! `raw runtime-config`: the `config.json` an unpack of the image would write, alone.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use repack_host::layout::ImageRef;
use repack_host::runtime_config::encode;
use repack_host::unpack::{Image, effective_maps, runtime};

use super::unpack::maps;
use crate::cli::RuntimeConfigArgs;

/// Run `repack-host raw runtime-config`.
pub fn run(args: &RuntimeConfigArgs) -> Result<()> {
    let image = Image::load(&ImageRef::parse(&args.image.image)?, None)?;
    let (uid_maps, gid_maps) = maps(&args.maps)?;
    let (uid_maps, gid_maps) = effective_maps(&uid_maps, &gid_maps, args.maps.rootless);
    let rootfs = args
        .rootfs
        .as_deref()
        .map(|r| {
            repack_host::capability::CapDir::open_ambient(r)
                .map(|cap| (r, cap))
                .with_context(|| format!("raw runtime-config: {}", r.display()))
        })
        .transpose()?;
    let (config, warning) = runtime::generate(
        &image,
        rootfs.as_ref().map(|(path, cap)| (*path, cap)),
        (&uid_maps, &gid_maps),
        args.maps.rootless,
    )
    .with_context(|| format!("raw runtime-config {}", args.config.display()))?;
    if let Some(warning) = warning {
        tracing::warn!("{warning}");
    }
    write(&args.config, &encode(&config))
        .with_context(|| format!("raw runtime-config {}", args.config.display()))
}

/// Write `bytes` to `path` atomically: a temp file beside it, fsynced, renamed over it;
/// mode 0644, as umoci's `os.Create` leaves it.
fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        bail!("{}: is a directory", path.display());
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let at = |e: std::io::Error| anyhow::anyhow!("{}: {e}", path.display());
    let mut tmp = tempfile::Builder::new()
        .prefix(".repack-")
        .tempfile_in(dir)
        .map_err(at)?;
    tmp.write_all(bytes).map_err(at)?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o644))
        .map_err(at)?;
    tmp.as_file().sync_all().map_err(at)?;
    tmp.persist(path).map_err(|e| at(e.error))?;
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(at)
}
