//! `insert`: a file or directory tree from the host placed at a path of an image as a
//! new layer, or a layer deleting a path. The request type and the staging helpers are
//! [`crate::repack::insert`]'s.

use std::fs;

use crate::bindings::{MapOptions, RepackOptions};
use crate::bundle::BundleError;
use crate::image::history;
use crate::image::{BaseImage, LayerInfo, auto_compression, commit_added_layer, store_layer};
use crate::layout::{Descriptor, Layout, check_tag};
use crate::repack::RepackError;
use crate::repack::insert::{InsertRequest, clean_target, stage};
use crate::sandbox::{Limits, wit_mappings};
use crate::stats::Stats;

use super::Repacker;

impl Repacker {
    /// Insert (see the module documentation); returns the new manifest and the layer.
    pub fn insert(
        &self,
        request: &InsertRequest,
        limits: &Limits,
    ) -> Result<(Descriptor, LayerInfo), RepackError> {
        let (epoch, created) = history::times(
            request.source_date_epoch.as_deref(),
            request.history.as_ref(),
        )
        .map_err(RepackError::Invalid)?;
        let target = clean_target(&request.target).map_err(RepackError::Invalid)?;
        let tag = request
            .tag
            .clone()
            .unwrap_or_else(|| request.image.tag.clone());
        check_tag(&tag)?;
        let source_meta = match &request.source {
            Some(src) => Some(fs::symlink_metadata(src).map_err(|e| {
                RepackError::Bundle(BundleError {
                    path: src.clone(),
                    why: e.to_string(),
                })
            })?),
            None => None,
        };
        let layout = Layout::open(&request.image.layout)?;
        layout.start_writing()?;
        let walk = layout.resolve_platform(&request.image.tag, request.platform.as_ref())?;
        let base = BaseImage::load(&layout, walk)?;
        let compression = auto_compression(request.compression, &base);
        let writer = layout.layer_writer(compression, None)?;

        let writer = match (&request.source, &source_meta) {
            (Some(src), Some(meta)) => {
                let staging;
                let (root, prefix, skip_root) = if meta.is_dir() {
                    (src.clone(), target.clone(), false)
                } else {
                    // Staged outside the layout: a directory in a layout another user
                    // can write could be swapped for a symlink under us.
                    let temp = std::env::temp_dir();
                    staging = tempfile::tempdir_in(&temp)
                        .map_err(crate::layout::LayoutError::io(&temp))?;
                    let (parent, base) = match target.iter().rposition(|&b| b == b'/') {
                        Some(i) => (target[..i].to_vec(), &target[i + 1..]),
                        None => (Vec::new(), &target[..]),
                    };
                    let name = String::from_utf8_lossy(base).into_owned();
                    stage(src, staging.path(), &name).map_err(|e| {
                        RepackError::Bundle(BundleError {
                            path: src.clone(),
                            why: e.to_string(),
                        })
                    })?;
                    (staging.path().to_owned(), parent, true)
                };
                let options = RepackOptions {
                    manifest: String::new(),
                    masks: Vec::new(),
                    map_options: MapOptions {
                        uid_mappings: wit_mappings(&request.uid_maps),
                        gid_mappings: wit_mappings(&request.gid_maps),
                        rootless: request.rootless,
                    },
                    clamp_mtime: epoch,
                    refresh: None,
                    stat_cache: None,
                    prefix,
                    skip_root,
                    opaque: request.opaque && meta.is_dir(),
                    // umoci's layer for a file: `TARGET/.wh..wh..opq`, then the file.
                    opaque_first: if request.opaque && !meta.is_dir() {
                        vec![target.clone()]
                    } else {
                        Vec::new()
                    },
                    now: 0,
                    racy_window: 0,
                };
                let (_, writer) =
                    self.repack_layer(&root, &options, writer, limits, &mut Stats::default())?;
                writer
            }
            _ => self.whiteout_layer(&[target], writer, limits)?,
        };
        let layer = store_layer(&layout, writer, compression)?;
        let manifest = commit_added_layer(
            &layout,
            &base,
            &layer,
            request.history.as_ref(),
            (epoch, created),
            &tag,
        )?;
        Ok((manifest, layer))
    }
}
