//! `insert`: a host file or directory into an image as a new layer.

use anyhow::{Context, Result, bail};
use repack_host::layout::ImageRef;
use repack_host::repack::insert::InsertRequest;
use repack_host::unpack::parse_map;

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
    let maps = |list: &[String]| -> Result<Vec<_>> {
        list.iter()
            .map(|m| parse_map(m).map_err(anyhow::Error::msg))
            .collect()
    };
    let request = InsertRequest {
        image: ImageRef::parse(&args.image.image)?,
        tag: args.tag.clone(),
        source,
        target,
        opaque: args.opaque,
        compression,
        history: args.history.request("repack-host insert"),
        source_date_epoch: std::env::var("SOURCE_DATE_EPOCH").ok(),
        uid_maps: maps(&args.uid_map)?,
        gid_maps: maps(&args.gid_map)?,
        rootless: args.rootless,
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
