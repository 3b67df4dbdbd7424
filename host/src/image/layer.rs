//! A new layer: its blob stored in the layout, and an image committed that adds it.

use chrono::{DateTime, FixedOffset};

use super::base::{self, Addition, BaseImage};
use super::history::{self, HistoryRequest};
use crate::layout::descriptor::{self, Descriptor};
use crate::layout::{BlobWriter, Compression, Digest, Layout, LayoutError};

/// A layer written to the layout.
#[derive(Debug, Clone)]
pub struct LayerInfo {
    /// The layer descriptor.
    pub descriptor: Descriptor,
    /// sha256 of the uncompressed archive.
    pub diff_id: Digest,
    /// Uncompressed size.
    pub uncompressed_size: u64,
    /// Time spent compressing it (see [`crate::layout::WrittenBlob::compress_time`]).
    pub compress_time: std::time::Duration,
}

/// Finish a layer blob, move it into the layout and describe it (with umoci's
/// `ci.umo.uncompressed_blob_size` annotation when it is compressed).
pub fn store_layer(
    layout: &Layout,
    writer: BlobWriter,
    compression: Compression,
) -> Result<LayerInfo, LayoutError> {
    let blob = writer.finish()?;
    layout.commit_layer(&blob)?;
    let mut descriptor = Descriptor::new(compression.media_type(), blob.digest.clone(), blob.size);
    if blob.size != blob.uncompressed_size {
        descriptor.set_annotation(
            descriptor::UNCOMPRESSED_SIZE,
            &blob.uncompressed_size.to_string(),
        );
    }
    Ok(LayerInfo {
        descriptor,
        diff_id: blob.diff_id,
        uncompressed_size: blob.uncompressed_size,
        compress_time: blob.compress_time,
    })
}

/// Commit an image that adds `layer` to `base`, with the entry `history` asks for
/// (author and comment empty unless given), and point `tag` at it: `insert` and
/// `raw add-layer`. Returns the new image manifest.
pub fn commit_added_layer(
    layout: &Layout,
    base: &BaseImage,
    layer: &LayerInfo,
    history: Option<&HistoryRequest>,
    (epoch, created): (Option<i64>, Option<DateTime<FixedOffset>>),
    tag: &str,
) -> Result<Descriptor, LayoutError> {
    let history = history.map(|h| {
        history::entry(
            &history::created(created.as_ref(), epoch),
            &h.created_by,
            h.author.as_deref().unwrap_or(""),
            h.comment.as_deref().unwrap_or(""),
            false,
        )
    });
    let addition = Addition {
        layer: Some((layer.descriptor.clone(), layer.diff_id.to_string())),
        history,
    };
    let walk = base::commit(layout, base, &addition)?;
    layout.set_tag(tag, &walk[0])?;
    Ok(walk.last().expect("walks are never empty").clone())
}
