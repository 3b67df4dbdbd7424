//! The guest's `unpack-layer` and `mtree-cached` calls: an image's layers applied to a
//! new rootfs in one job, then its manifest and stat cache (for a bundle: `raw unpack`
//! makes neither). `unpack` and `raw unpack` fill their rootfs with it.

use std::path::Path;
use std::time::Instant;

use wasmtime::component::Resource;

use super::{JobError, RACY_WINDOW, Repacker, sanitized};
use crate::bindings::{Failure, LayerInfo, MtreeHeader, UnpackOptions};
use crate::capability::CapDir;
use crate::layout::inflate::{Expected, layer_compression};
use crate::layout::{BlobReader, Digest};
use crate::sandbox::{Limits, TextSink};
use crate::stats::Stats;

/// Where a bundle's texts about its new rootfs go, as the walk makes them.
#[derive(Debug)]
pub struct BundleTexts {
    /// The mtree manifest (with `header`).
    pub manifest: TextSink,
    /// The stat cache.
    pub stat_cache: TextSink,
    /// The manifest's comment lines.
    pub header: MtreeHeader,
}

impl Repacker {
    /// Apply `layers` in order to the (new, empty) directory `dir`, granted for writing
    /// (`rootfs` names it in messages), then, when `texts` are asked for, walk the
    /// result for its mtree manifest and stat cache and write them there. Returns the
    /// texts (to be committed) and the guest's warnings. One job runs all layers, so
    /// the budgets cover the whole unpack; a layer may expand to the smaller of
    /// `options.max_layer_size` and [`Limits::max_layer_size`]. Where the time went is
    /// added to `stats`.
    #[allow(clippy::too_many_arguments)]
    pub fn unpack_layers(
        &self,
        dir: CapDir,
        rootfs: &Path,
        layers: Vec<(BlobReader, LayerInfo)>,
        options: &UnpackOptions,
        texts: Option<BundleTexts>,
        limits: &Limits,
        stats: &mut Stats,
    ) -> Result<(Option<BundleTexts>, Vec<String>), JobError> {
        let start = Instant::now();
        let options = &UnpackOptions {
            max_layer_size: options.max_layer_size.min(limits.max_layer_size),
            ..options.clone()
        };
        let mut job = self.sandbox.job(limits)?;
        let mut start = stats.lap("instantiate", start);
        let root = job.grant(dir)?;
        let root_rep = root.rep();
        let guest = |f: Failure| JobError::guest(rootfs, f);
        let mut warnings = Vec::new();
        let layer_count = layers.len();
        for (index, (reader, mut info)) in layers.into_iter().enumerate() {
            // Decompression runs on a thread of its own beside the guest's extraction;
            // the thread checks the size limit and the diff_id.
            let reader = match (
                layer_compression(&info.media_type),
                Digest::parse(&info.diff_id),
            ) {
                (Some(compression), Ok(diff_id)) => {
                    info.decompressed = true;
                    let expected = Expected {
                        compression,
                        diff_id,
                        max_size: options.max_layer_size,
                    };
                    reader.inflating(expected, job.helper_cpu())
                }
                _ => reader,
            };
            let reader = job.grant(reader)?;
            let rep = reader.rep();
            let outcome = job.world.repack_bundle_layer().call_unpack_layer(
                &mut job.store,
                Resource::new_borrow(root_rep),
                Resource::new_borrow(rep),
                &info,
                options,
            );
            let outcome = job.finish(outcome, limits);
            job.take(Resource::<BlobReader>::new_own(rep))?;
            start = stats.lap(&format!("guest: layer {}", index + 1), start);
            warnings.extend(sanitized(outcome?.map_err(guest)?));
        }
        let texts = match texts {
            None => None,
            Some(BundleTexts {
                manifest,
                stat_cache,
                header,
            }) => {
                // The stat cache leaves out files whose ctime is within RACY_WINDOW of
                // the time it is taken at (a later change in the same clock tick would
                // not show). Every file here was just written: waiting that long once
                // lets the cache keep them all.
                if layer_count > 0 {
                    std::thread::sleep(RACY_WINDOW);
                    start = stats.lap("racy window", start);
                }
                let sink_rep = job.grant(manifest)?.rep();
                let cache_rep = job.grant(stat_cache)?.rep();
                let outcome = job.world.repack_bundle_layer().call_mtree_cached(
                    &mut job.store,
                    Resource::new_borrow(root_rep),
                    &header,
                    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
                    RACY_WINDOW.as_nanos() as u64,
                    Resource::new_borrow(sink_rep),
                    Resource::new_borrow(cache_rep),
                );
                stats.lap("guest: mtree", start);
                job.finish(outcome, limits)?.map_err(guest)?;
                Some(BundleTexts {
                    manifest: job.take(Resource::<TextSink>::new_own(sink_rep))?,
                    stat_cache: job.take(Resource::<TextSink>::new_own(cache_rep))?,
                    header,
                })
            }
        };
        let data = job.store.data();
        stats.calls = data.calls();
        stats.guest_memory = data.memory_peak();
        Ok((texts, warnings))
    }
}
