//! `raw add-layer`: append an uncompressed tar archive as a layer.

use anyhow::{Context, Result};
use repack_host::layout::ImageRef;
use repack_host::repack::add_layer::{AddLayerRequest, add_layer};

use crate::cli::AddLayerArgs;

/// Run `repack-host raw add-layer`.
pub fn run(args: &AddLayerArgs) -> Result<()> {
    let compression = args.compress.into();
    let request = AddLayerRequest {
        image: ImageRef::parse(&args.image.image)?,
        tag: args.tag.clone(),
        layer: args.layer.clone(),
        compression,
        history: args.history.request("repack-host raw add-layer"),
        source_date_epoch: std::env::var("SOURCE_DATE_EPOCH").ok(),
    };
    let (manifest, layer) =
        add_layer(&request).with_context(|| format!("raw add-layer {}", args.layer.display()))?;
    println!(
        "{} layer {} ({} bytes, diff_id {})",
        manifest.digest, layer.descriptor.digest, layer.descriptor.size, layer.diff_id
    );
    Ok(())
}
