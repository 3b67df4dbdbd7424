//! `insert`: a host file or directory into an image as a new layer.

use anyhow::{Context, Result, bail};
use repack_host::layout::ImageRef;
use repack_host::repack::insert::InsertRequest;

use super::unpack::maps;
use super::{limits, repacker};
use crate::cli::{GlobalArgs, InsertArgs};

/// Run `repack-host insert`.
pub fn run(global: &GlobalArgs, args: &InsertArgs) -> Result<()> {
    let (source, target) = match (args.whiteout, args.paths.as_slice()) {
        (true, [target]) => (None, target.clone()),
        (false, [source, target]) => (Some(source.into()), target.clone()),
        (true, _) => bail!("insert --whiteout takes one argument, the TARGET to delete"),
        (false, _) => bail!("insert takes two arguments, SOURCE and TARGET"),
    };
    let compression = args.compress.into();
    let (uid_maps, gid_maps) = maps(&args.maps)?;
    let request = InsertRequest {
        image: ImageRef::parse(&args.image.image)?,
        platform: super::unpack::platform(&args.platform)?,
        tag: args.tag.clone(),
        source,
        target,
        opaque: args.opaque,
        compression,
        history: args.history.request("repack-host insert"),
        source_date_epoch: std::env::var("SOURCE_DATE_EPOCH").ok(),
        uid_maps,
        gid_maps,
        rootless: args.maps.rootless,
    };
    let (manifest, layer) = repacker(global)?
        .insert(&request, &limits(global))
        .context("insert")?;
    println!(
        "{} layer {} ({} bytes)",
        manifest.digest, layer.descriptor.digest, layer.descriptor.size
    );
    Ok(())
}
