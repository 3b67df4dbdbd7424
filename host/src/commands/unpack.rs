//! `unpack`: an image into a runtime bundle; also the flag handling `raw unpack`,
//! `raw runtime-config` and `insert` share.

use anyhow::{Context, Result, anyhow};
use repack_host::bundle::IdMap;
use repack_host::layout::{ImageRef, Platform};
use repack_host::registry::RemoteRef;
use repack_host::unpack::{Options, Request, parse_map};

use super::{limits, registry, repacker};
use crate::cli::{GlobalArgs, MapArgs, UnpackArgs, UnpackFlags};

/// Run `repack-host unpack`.
pub fn run(global: &GlobalArgs, args: &UnpackArgs) -> Result<()> {
    if args.bundle.as_os_str().is_empty() {
        anyhow::bail!("the bundle path is empty");
    }
    let remote = RemoteRef::is_remote(&args.image.image);
    let reference = remote
        .then(|| RemoteRef::parse(&args.image.image))
        .transpose()?;
    let image = match (&reference, &args.remote.layout) {
        (Some(r), Some(layout)) => registry::local_image(layout, r)?,
        (Some(_), None) => {
            anyhow::bail!(
                "unpack --image docker://… needs --layout LAYOUT[:TAG] to keep the image in"
            )
        }
        (None, Some(_)) => anyhow::bail!("--layout is only for --image docker://…"),
        (None, None) => ImageRef::parse(&args.image.image)?,
    };
    let request = Request {
        image,
        bundle: args.bundle.clone(),
        options: options(&args.unpack)?,
    };
    let engine = repacker(global)?;
    let outcome = match &reference {
        Some(reference) => repack_host::registry::unpack::unpack(
            &engine,
            reference,
            &registry::options(&args.remote.registry)?,
            &registry::platform(&args.remote.registry)?,
            &request,
            &limits(global),
        )
        .map(|(outcome, _)| outcome)
        .map_err(anyhow::Error::from),
        None => engine
            .unpack(&request, &limits(global))
            .map_err(anyhow::Error::from),
    }
    .with_context(|| format!("unpack {}", args.bundle.display()))
    .map_err(|e| rootless_hint(e, args.unpack.maps.rootless))?;
    for warning in &outcome.warnings {
        tracing::warn!("{warning}");
    }
    if args.stats {
        eprintln!("{}", outcome.stats);
    }
    tracing::info!(
        "unpacked {} ({} layers) into {}",
        outcome.manifest,
        outcome.layers,
        args.bundle.display()
    );
    Ok(())
}

/// The `--uid-map` and `--gid-map` lists, parsed.
pub fn maps(args: &MapArgs) -> Result<(Vec<IdMap>, Vec<IdMap>)> {
    let parse = |list: &[String]| -> Result<Vec<_>> {
        list.iter()
            .map(|m| parse_map(m).map_err(anyhow::Error::msg))
            .collect()
    };
    Ok((parse(&args.uid_map)?, parse(&args.gid_map)?))
}

/// The layer options the flags describe.
pub fn options(flags: &UnpackFlags) -> Result<Options> {
    let (uid_maps, gid_maps) = maps(&flags.maps)?;
    Ok(Options {
        uid_maps,
        gid_maps,
        rootless: flags.maps.rootless,
        keep_dirlinks: flags.keep_dirlinks,
        max_layer_size: flags.max_layer_size,
        platform: platform(&flags.platform)?,
    })
}

/// The platform `--platform` names, if given.
pub fn platform(args: &crate::cli::PlatformArgs) -> Result<Option<Platform>> {
    Ok(args.platform.as_deref().map(Platform::parse).transpose()?)
}

/// A permission error of a user other than root who did not ask for `--rootless`
/// gets umoci's hint appended.
pub fn rootless_hint(error: anyhow::Error, rootless: bool) -> anyhow::Error {
    if rootless || rustix::process::geteuid().is_root() {
        return error;
    }
    let text = format!("{error:#}");
    let lower = text.to_ascii_lowercase();
    if lower.contains("operation not permitted") || lower.contains("permission denied") {
        anyhow!("{text} (running as a user other than root: maybe --rootless will help?)")
    } else {
        error
    }
}
