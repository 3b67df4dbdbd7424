//! `run` (umoci's `repack`): the changes made to a bundle's rootfs since it was
//! unpacked become one new layer on the bundle's base image, and a tag points at it.
//! This module holds its request, outcome and error; the job is
//! [`Repacker::repack`](crate::Repacker::repack).
//!
//! The image it builds on, its history and the new layer's blob are
//! [`crate::image`]'s.
//!
//! - [`config_edit`]: `config`'s edits of an image configuration.
//! - [`insert`] and [`add_layer`]: a new layer from a file tree or from a tar archive.

pub mod add_layer;
pub mod config_edit;
pub mod insert;

use std::path::PathBuf;

use indicatif::ProgressBar;

use thiserror::Error;

use crate::bundle::{self, Bundle, BundleError, BundleMeta};
use crate::image::history::HistoryRequest;
use crate::image::{CompressionChoice, LayerInfo};
use crate::layout::descriptor::{self, Descriptor};
use crate::layout::{ImageRef, LayoutError};
use crate::repacker::JobError;
use crate::stats::Stats;

/// One repack.
#[derive(Debug, Clone)]
pub struct Request {
    /// The bundle directory.
    pub bundle: PathBuf,
    /// Destination layout and tag.
    pub image: ImageRef,
    /// `--mask-path` values.
    pub masks: Vec<String>,
    /// Mask the base config's volumes.
    pub mask_volumes: bool,
    /// Rewrite the bundle's manifest and metadata to describe the new image.
    pub refresh_bundle: bool,
    /// Layer compression.
    pub compression: CompressionChoice,
    /// History entry, or none.
    pub history: Option<HistoryRequest>,
    /// `SOURCE_DATE_EPOCH`, as found in the environment.
    pub source_date_epoch: Option<String>,
    /// Show layer progress on this bar.
    pub progress: Option<ProgressBar>,
}

/// What a repack did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The descriptor the tag now points at.
    pub root: Descriptor,
    /// The new image manifest.
    pub manifest: Descriptor,
    /// Objects added, modified, deleted.
    pub added: u64,
    /// See `added`.
    pub modified: u64,
    /// See `added`.
    pub deleted: u64,
    /// The new layer, if anything changed.
    pub layer: Option<LayerInfo>,
    /// Things skipped on purpose.
    pub warnings: Vec<String>,
    /// Where the time went.
    pub stats: Stats,
}

/// Why a repack failed. Nothing in the layout's `index.json` has changed when one is
/// returned, unless it is [`RepackError::Refresh`].
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RepackError {
    /// An option is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The bundle is missing or broken.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The layout is missing or broken.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The guest job failed.
    #[error(transparent)]
    Job(#[from] JobError),
    /// The image was committed and tagged, but refreshing the bundle failed.
    #[error("the image was tagged, but refreshing the bundle failed: {0}")]
    Refresh(BundleError),
}

/// Make the bundle describe the new image: its manifest under the new name, the old
/// one removed, `umoci.json` pointing at the new walk.
pub(crate) fn refresh(
    bundle: &Bundle,
    walk: &[Descriptor],
    tag: &str,
    text: &str,
) -> Result<(), BundleError> {
    let old = bundle.mtree_name()?;
    let mut walk = walk.to_vec();
    walk[0].set_annotation(descriptor::REF_NAME, tag);
    let new_name = bundle::mtree_name(&walk.last().expect("walks are never empty").digest);
    bundle.write_file(&new_name, text.as_bytes(), 0o644)?;
    if old != new_name {
        bundle.remove_file(&old)?;
    }
    let meta = BundleMeta::new(&walk, bundle.meta.map_options.clone());
    bundle.write_file(bundle::meta::FILE, &meta.encode(), 0o644)
}
