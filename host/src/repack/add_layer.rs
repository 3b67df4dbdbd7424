//! `raw add-layer`: an uncompressed layer archive from a file, appended to an image as
//! it is (the archive is not read, only hashed, compressed and stored).

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use super::RepackError;
use crate::bundle::BundleError;
use crate::image::history::{self, HistoryRequest};
use crate::image::{
    BaseImage, CompressionChoice, LayerInfo, auto_compression, commit_added_layer, store_layer,
};
use crate::layout::descriptor::Descriptor;
use crate::layout::{ImageRef, Layout, check_tag};

/// One `raw add-layer`.
#[derive(Debug, Clone)]
pub struct AddLayerRequest {
    /// The image to extend.
    pub image: ImageRef,
    /// Tag for the result (default: the image's tag, moved).
    pub tag: Option<String>,
    /// The uncompressed tar file.
    pub layer: PathBuf,
    /// Compression of the stored blob.
    pub compression: CompressionChoice,
    /// History entry, or none.
    pub history: Option<HistoryRequest>,
    /// `SOURCE_DATE_EPOCH` as found in the environment.
    pub source_date_epoch: Option<String>,
}

/// Append the layer; returns the new manifest descriptor and the layer.
pub fn add_layer(request: &AddLayerRequest) -> Result<(Descriptor, LayerInfo), RepackError> {
    let times = history::times(
        request.source_date_epoch.as_deref(),
        request.history.as_ref(),
    )
    .map_err(RepackError::Invalid)?;
    let tag = request
        .tag
        .clone()
        .unwrap_or_else(|| request.image.tag.clone());
    check_tag(&tag)?;
    let bad = |why: String| {
        RepackError::Bundle(BundleError {
            path: request.layer.clone(),
            why,
        })
    };
    let mut file = File::open(&request.layer).map_err(|e| bad(e.to_string()))?;
    if !file.metadata().map_err(|e| bad(e.to_string()))?.is_file() {
        return Err(bad(
            "not a regular file (an uncompressed tar archive)".into()
        ));
    }
    let layout = Layout::open(&request.image.layout)?;
    layout.start_writing()?;
    let walk = layout.resolve_one(&request.image.tag)?;
    let base = BaseImage::load(&layout, walk)?;
    let compression = auto_compression(request.compression, &base);
    let mut writer = layout.layer_writer(compression, None)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| bad(e.to_string()))?;
        if n == 0 {
            break;
        }
        writer.write(buf[..n].to_vec()).map_err(bad)?;
    }
    let layer = store_layer(&layout, writer, compression)?;
    let manifest = commit_added_layer(
        &layout,
        &base,
        &layer,
        request.history.as_ref(),
        times,
        &tag,
    )?;
    Ok((manifest, layer))
}
