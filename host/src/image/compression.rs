//! Which compression a new layer gets.

use super::BaseImage;
use crate::layout::Compression;

/// How to choose the layer compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompressionChoice {
    /// The base image's last compressed layer's, else gzip.
    #[default]
    Auto,
    /// The one asked for.
    Fixed(Compression),
}

/// The compression `choice` means for an image on `base`: `auto` takes the last
/// compressed layer's algorithm, else gzip.
pub fn auto_compression(choice: CompressionChoice, base: &BaseImage) -> Compression {
    match choice {
        CompressionChoice::Fixed(c) => c,
        CompressionChoice::Auto => base
            .layers()
            .iter()
            .rev()
            .find_map(|l| {
                l.media_type
                    .split_once('+')
                    .and_then(|(_, s)| Compression::from_suffix(s))
            })
            .unwrap_or(Compression::Gzip),
    }
}
