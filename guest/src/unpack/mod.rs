//! Unpack: applying layer archives to a rootfs through the host's write handle.
//!
//! Everything about the archive is decided here, inside the sandbox: decompression,
//! tar parsing, whiteouts, clobbering, hardlinks, devices, owners. The host only
//! carries out single, confined filesystem operations.
//!
//! - [`stream`]: decompression, size limit, diff_id.
//! - [`resolve`]: archive paths to real paths inside the rootfs.
//! - [`owner`]: image owners to host owners, rootless attributes.
//! - [`apply`]: one archive entry onto the tree.
//! - [`contents`]: a file's data and holes onto the disk.

pub mod apply;
pub mod contents;
pub mod owner;
pub mod pending;
pub mod resolve;
pub mod stream;

use std::io::Read;

use thiserror::Error;

use crate::display::display;
use crate::ids::MapOptions;
use crate::tar::read::{ReadError, Reader};
use crate::tree::TreeMut;

/// How to apply a layer.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Owner mapping (and rootless mode).
    pub map: MapOptions,
    /// Keep symlinks to directories where the layer has a directory.
    pub keep_dirlinks: bool,
    /// Most bytes the layer may expand to.
    pub max_layer_size: u64,
    /// Where the diff_id is computed (`None`: here, with `sha2`).
    pub digester: Option<stream::DigesterFactory>,
    /// The host hands over the archive decompressed and checks its size limit and
    /// diff_id itself (the contract's `layer-info.decompressed`).
    pub host_decompressed: bool,
}

/// Why a layer could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UnpackError {
    /// The layer as a whole is bad (media type, compression, diff_id, size).
    #[error("{0}")]
    Layer(String),
    /// One entry is bad or could not be applied.
    #[error("{}: {message}", display(path))]
    Entry {
        /// The entry's name in the archive.
        path: Vec<u8>,
        message: String,
    },
}

impl UnpackError {
    /// The entry the error is about (empty for the layer).
    pub fn path(&self) -> &[u8] {
        match self {
            UnpackError::Entry { path, .. } => path,
            UnpackError::Layer(_) => b"",
        }
    }
}

/// Apply the layer read from `raw` (media type `media_type`, uncompressed digest
/// `diff_id`) to `tree`. Returns warnings.
pub fn unpack_layer(
    tree: &mut dyn TreeMut,
    raw: &mut dyn Read,
    media_type: &str,
    diff_id: &str,
    options: &Options,
) -> Result<Vec<String>, UnpackError> {
    let mut compression = stream::compression(media_type).map_err(UnpackError::Layer)?;
    let mut digester = options.digester;
    if options.host_decompressed {
        compression = stream::Compression::None;
        digester = Some(stream::no_digest);
    }
    let layer_err = |e: std::io::Error| UnpackError::Layer(format!("reading the layer: {e}"));
    let read_err = |e: ReadError| match e {
        ReadError::Io(e) => layer_err(e),
        ReadError::Entry { name, message } => UnpackError::Entry {
            path: name,
            message,
        },
        header @ ReadError::Header { .. } => {
            UnpackError::Layer(format!("reading the layer: {header}"))
        }
    };
    let mut warnings = Vec::new();
    let digest = {
        let decompressed = stream::decompress(&mut *raw, compression).map_err(layer_err)?;
        let mut tee = stream::Tee::new(decompressed, options.max_layer_size, digester);
        {
            let mut archive = Reader::new(&mut tee);
            let mut state = apply::Layer::new(options);
            state.begin(tree)?;
            // Holes take no room in the archive but count as expanded bytes.
            let mut holes: u64 = 0;
            while let Some(entry) = archive.next_entry().map_err(read_err)? {
                holes = holes.saturating_add(entry.holes());
                if archive.get_ref().passed().saturating_add(holes) > options.max_layer_size {
                    return Err(UnpackError::Entry {
                        path: entry.name,
                        message: stream::too_large(options.max_layer_size),
                    });
                }
                state.apply(tree, &entry, &mut archive, &mut warnings)?;
            }
            state.finish(tree, &mut warnings)?;
        }
        // Whatever follows the end blocks still belongs to the diff_id.
        tee.drain().map_err(layer_err)?;
        tee.digest()
    };
    // Read the blob itself to its end, so the host verifies its digest and size.
    std::io::copy(raw, &mut std::io::sink()).map_err(layer_err)?;
    if !options.host_decompressed && digest != diff_id {
        return Err(UnpackError::Layer(format!(
            "layer diff_id mismatch: the config says {diff_id}, the archive hashes to {digest}"
        )));
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests;
