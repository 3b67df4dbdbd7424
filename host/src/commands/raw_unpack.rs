//! `raw unpack`: an image into a root filesystem alone.

use anyhow::{Context, Result};
use repack_host::layout::ImageRef;

use super::unpack::{options, rootless_hint};
use super::{limits, repacker};
use crate::cli::{GlobalArgs, RawUnpackArgs};

/// Run `repack-host raw unpack`.
pub fn run(global: &GlobalArgs, args: &RawUnpackArgs) -> Result<()> {
    let image = ImageRef::parse(&args.image.image)?;
    let options = options(&args.unpack)?;
    let outcome = repacker(global)?
        .unpack_rootfs(&image, &args.rootfs, &options, &limits(global))
        .with_context(|| format!("raw unpack {}", args.rootfs.display()))
        .map_err(|e| rootless_hint(e, options.rootless))?;
    for warning in &outcome.warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(
        "unpacked {} ({} layers) into {}",
        outcome.manifest,
        outcome.layers,
        args.rootfs.display()
    );
    Ok(())
}
