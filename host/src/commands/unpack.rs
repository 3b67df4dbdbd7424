//! `unpack`: an image into a runtime bundle.

use anyhow::{Context, Result, bail};
use repack_host::layout::ImageRef;
use repack_host::unpack::{Request, parse_map};

use super::{limits, repacker};
use crate::cli::{GlobalArgs, UnpackArgs};

/// Run `repack-host unpack`.
pub fn run(global: &GlobalArgs, args: &UnpackArgs) -> Result<()> {
    if args.bundle.as_os_str().is_empty() {
        bail!("the bundle path is empty");
    }
    let image = ImageRef::parse(&args.image.image)?;
    let maps = |list: &[String]| -> Result<Vec<_>> {
        list.iter()
            .map(|m| parse_map(m).map_err(anyhow::Error::msg))
            .collect()
    };
    let request = Request {
        image,
        bundle: args.bundle.clone(),
        uid_maps: maps(&args.uid_map)?,
        gid_maps: maps(&args.gid_map)?,
        rootless: args.rootless,
        keep_dirlinks: args.keep_dirlinks,
        max_layer_size: args.max_layer_size,
    };
    let outcome = repacker(global)?
        .unpack(&request, &limits(global))
        .with_context(|| format!("unpack {}", args.bundle.display()))?;
    for warning in &outcome.warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(
        "unpacked {} ({} layers) into {}",
        outcome.manifest,
        outcome.layers,
        args.bundle.display()
    );
    Ok(())
}
