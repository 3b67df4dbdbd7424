//! The guest's `repack` call: a rootfs compared with a manifest, its changes streamed
//! as one uncompressed layer. `run` and `insert` build their layers with it.

use std::path::Path;
use std::time::{Duration, Instant};

use wasmtime::component::Resource;

use super::{JobError, Repacker, sanitized};
use crate::bindings::{RepackOptions, RepackSummary};
use crate::capability::CapDir;
use crate::layout::BlobWriter;
use crate::sandbox::{Limits, TextSink, sanitize};
use crate::stats::Stats;

impl Repacker {
    /// Compare `rootfs` with the manifest in `options`, streaming the changes as an
    /// uncompressed layer into `writer`. Returns the guest's summary and the writer
    /// (finish it when `entries > 0`); the job's phases, host calls and memory are
    /// added to `stats`.
    pub fn repack_layer(
        &self,
        rootfs: &Path,
        options: &RepackOptions,
        writer: BlobWriter,
        limits: &Limits,
        stats: &mut Stats,
    ) -> Result<(RepackSummary, BlobWriter), JobError> {
        let dir = CapDir::open_ambient(rootfs).map_err(|source| JobError::Grant {
            path: rootfs.to_owned(),
            source,
        })?;
        let (summary, _, writer) = self.repack_layer_in(
            dir,
            rootfs,
            options,
            (writer, TextSink::discard()),
            limits,
            stats,
        )?;
        Ok((summary, writer))
    }

    /// [`Repacker::repack_layer`] on an already opened rootfs (`rootfs` names it in
    /// messages), also writing the tree's new stat cache to `stat_cache` and returning
    /// it (to be committed).
    pub fn repack_layer_in(
        &self,
        dir: CapDir,
        rootfs: &Path,
        options: &RepackOptions,
        (writer, stat_cache): (BlobWriter, TextSink),
        limits: &Limits,
        stats: &mut Stats,
    ) -> Result<(RepackSummary, TextSink, BlobWriter), JobError> {
        let start = Instant::now();
        let mut job = self.sandbox.job(limits)?;
        let start = stats.lap("instantiate", start);
        let root = job.grant(dir)?;
        let sink = job.grant_layer(writer)?;
        let sink_rep = sink.rep();
        let cache_rep = job.grant(stat_cache)?.rep();
        let outcome = job.world.repack_bundle_layer().call_repack(
            &mut job.store,
            root,
            Resource::new_borrow(sink_rep),
            options,
            Resource::new_borrow(cache_rep),
        );
        let outcome = job.finish(outcome, limits);
        let elapsed = start.elapsed();
        let writer = job.take(Resource::<BlobWriter>::new_own(sink_rep))?;
        let cache = job.take(Resource::<TextSink>::new_own(cache_rep))?;
        let mut summary = outcome?.map_err(|f| JobError::guest(rootfs, f))?;
        summary.warnings = sanitized(std::mem::take(&mut summary.warnings));
        let mut guest = Duration::ZERO;
        for phase in &summary.phases {
            let time = Duration::from_nanos(phase.nanoseconds);
            stats.phase(&format!("guest: {}", sanitize(&phase.name)), time);
            guest += time;
        }
        // Entering and leaving the guest, and copying the summary out.
        stats.phase("guest: call", elapsed.saturating_sub(guest));
        let data = job.store.data();
        stats.calls = data.calls();
        stats.guest_memory = data.memory_peak();
        Ok((summary, cache, writer))
    }
}
