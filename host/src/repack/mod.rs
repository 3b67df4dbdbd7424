//! `run` (umoci's `repack`): the changes made to a bundle's rootfs since it was
//! unpacked become one new layer on the bundle's base image, and a tag points at it.
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
use std::time::Instant;

use indicatif::ProgressBar;

use thiserror::Error;

use crate::bindings::{MapOptions, MtreeHeader, RepackOptions};
use crate::bundle::{self, Bundle, BundleError, BundleMeta};
use crate::capability::CapDir;
use crate::header;
use crate::image::history::{self, HistoryRequest};
use crate::image::{
    self, Addition, BaseImage, CompressionChoice, LayerInfo, auto_compression, store_layer,
};
use crate::layout::descriptor::{self, Descriptor};
use crate::layout::{ImageRef, Layout, LayoutError};
use crate::repacker::RACY_WINDOW;
use crate::repacker::{JobError, Repacker};
use crate::sandbox::{Limits, wit_mappings};
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

impl Repacker {
    /// Repack a bundle (see the module documentation).
    pub fn repack(&self, request: &Request, limits: &Limits) -> Result<Outcome, RepackError> {
        let start = Instant::now();
        let mut stats = Stats::default();
        // Everything that can be checked is checked before anything is written.
        let (epoch, created_flag) = history::times(
            request.source_date_epoch.as_deref(),
            request.history.as_ref(),
        )
        .map_err(RepackError::Invalid)?;
        let bundle = Bundle::open(&request.bundle)?;
        let rootfs_dir = bundle.rootfs()?;
        let rootfs = bundle.rootfs_path();
        let layout = Layout::open(&request.image.layout)?;
        // Hold the writers' lock from before the base is read until the tag is set, so
        // a concurrent gc cannot remove the base's blobs in between.
        layout.start_writing()?;
        // The tag is set last, in index.json: refuse a malformed one now, before a
        // layer is written for an update that could never be made.
        layout.index_entries()?;
        let walk = bundle.meta.walk().map_err(|why| BundleError {
            path: request.bundle.join(bundle::meta::FILE),
            why,
        })?;
        let base = BaseImage::load(&layout, walk)?;
        let manifest_text = bundle.read_mtree()?;

        let mut masks = request.masks.clone();
        if request.mask_volumes {
            masks.extend(base.volumes());
        }
        let compression = auto_compression(request.compression, &base);
        let map = &bundle.meta.map_options;
        let options = RepackOptions {
            manifest: manifest_text,
            masks,
            map_options: MapOptions {
                uid_mappings: wit_mappings(map.uid_mappings.as_deref().unwrap_or_default()),
                gid_mappings: wit_mappings(map.gid_mappings.as_deref().unwrap_or_default()),
                rootless: map.rootless,
            },
            clamp_mtime: epoch,
            stat_cache: bundle.read_stat_cache(),
            prefix: Vec::new(),
            skip_root: false,
            opaque: false,
            opaque_first: Vec::new(),
            now: chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
            racy_window: RACY_WINDOW.as_nanos() as u64,
            refresh: request.refresh_bundle.then(|| MtreeHeader {
                user: header::user_name(),
                machine: header::machine_name(),
                tree: rootfs.display().to_string(),
                date: header::date_now(),
            }),
        };

        let writer = layout.layer_writer(compression, request.progress.clone())?;
        stats.lap("open", start);
        let (summary, writer) = self.repack_layer_in(
            CapDir::from_dir(rootfs_dir),
            &rootfs,
            &options,
            writer,
            limits,
            &mut stats,
        )?;
        let start = Instant::now();
        let layer = if summary.entries > 0 {
            Some(store_layer(&layout, writer, compression)?)
        } else {
            drop(writer);
            None
        };
        let start = stats.lap("layer blob", start);
        stats.compress = layer.as_ref().map(|l| l.compress_time).unwrap_or_default();

        let history = request.history.as_ref().map(|h| {
            history::entry(
                &history::created(created_flag.as_ref(), epoch),
                &h.created_by,
                h.author.as_deref().unwrap_or(base.author()),
                h.comment.as_deref().unwrap_or(""),
                layer.is_none(),
            )
        });
        if request.history.is_none() && layer.is_some() {
            tracing::warn!("--no-history: the new layer has no history entry");
        }
        let addition = Addition {
            layer: layer
                .as_ref()
                .map(|l| (l.descriptor.clone(), l.diff_id.to_string())),
            history,
        };
        let walk = image::commit(&layout, &base, &addition)?;
        let root = walk[0].clone();
        layout.set_tag(&request.image.tag, &root)?;
        let start = stats.lap("commit", start);

        if let Some(text) = &summary.manifest {
            refresh(&bundle, &walk, &request.image.tag, text).map_err(RepackError::Refresh)?;
        }
        // The cache only saves time; a bundle we cannot write to just goes without.
        if let Err(e) = bundle.write_file(bundle::STAT_CACHE, summary.stat_cache.as_bytes(), 0o644)
        {
            tracing::debug!("stat cache not saved: {e}");
        }
        tracing::debug!("stat cache: {} digests reused", summary.cache_hits);
        stats.lap("bundle", start);
        Ok(Outcome {
            root,
            manifest: walk.last().expect("walks are never empty").clone(),
            added: summary.added,
            modified: summary.modified,
            deleted: summary.deleted,
            layer,
            warnings: summary.warnings,
            stats,
        })
    }
}

/// Make the bundle describe the new image: its manifest under the new name, the old
/// one removed, `umoci.json` pointing at the new walk.
fn refresh(bundle: &Bundle, walk: &[Descriptor], tag: &str, text: &str) -> Result<(), BundleError> {
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
