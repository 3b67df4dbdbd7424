//! `repack` (umoci's `repack`, the CLI's `run`): the changes made to a bundle's rootfs
//! since it was unpacked become one new layer on the bundle's base image, and a tag
//! points at it. The request, outcome and error types are [`crate::repack`]'s.

use std::time::Instant;

use super::{RACY_WINDOW, Repacker};
use crate::bindings::{MapOptions, MtreeHeader, RepackOptions};
use crate::bundle::{self, Bundle, BundleError};
use crate::capability::CapDir;
use crate::header;
use crate::image::history;
use crate::image::{self, Addition, BaseImage, auto_compression, store_layer};
use crate::layout::Layout;
use crate::repack::{Outcome, RepackError, Request, refresh};
use crate::sandbox::{Limits, TextSink, wit_mappings};
use crate::stats::Stats;

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
        // The cache only saves time; a bundle we cannot write to just goes without.
        let stat_cache = match bundle.staged_file() {
            Ok(file) => TextSink::staged(file),
            Err(e) => {
                tracing::debug!("stat cache not saved: {e}");
                TextSink::discard()
            }
        };
        let (summary, stat_cache, writer) = self.repack_layer_in(
            CapDir::from_dir(rootfs_dir),
            &rootfs,
            &options,
            (writer, stat_cache),
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
        if let Err(e) = stat_cache.commit(std::ffi::OsStr::new(bundle::STAT_CACHE)) {
            tracing::debug!("stat cache not saved: {e}");
        }
        tracing::debug!("stat cache: {} objects known", summary.cache_hits);
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
