//! The embedding API: one [`Repacker`] per process, one call per job.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use thiserror::Error;

use wasmtime::component::Resource;

use crate::bindings::{
    Failure, LayerInfo, MtreeHeader, RepackOptions, RepackSummary, UnpackOptions,
};
use crate::capability::{CapDir, CapError};
use crate::header;
use crate::layout::{BlobReader, BlobWriter};
use crate::sandbox::{
    Budget, ComponentSource, Limits, Sandbox, SandboxError, default_cache_dir, sanitize,
};
use crate::stats::Stats;

/// The stat cache's racy window: a file whose ctime is this close to the time taken
/// before a walk is left out of the cache, since a write in the same timestamp tick
/// would not change it. Twice the kernel's coarsest tick (10 ms, at HZ=100).
pub const RACY_WINDOW: Duration = Duration::from_millis(20);

/// Why a job failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum JobError {
    /// A directory to grant could not be opened.
    #[error("{}: {source}", path.display())]
    Grant { path: PathBuf, source: CapError },
    /// The guest reported a failure on one object.
    #[error("{}: {message}", display_path(root, path))]
    Guest {
        /// The directory the object is in.
        root: PathBuf,
        /// The object's path relative to `root` (empty for the job as a whole).
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The sandbox failed or the guest trapped.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
}

impl JobError {
    /// The budget of [`Limits`] the job went past, if that is why it failed.
    pub fn budget(&self) -> Option<Budget> {
        match self {
            JobError::Sandbox(e) => e.budget(),
            // The guest counts expanded bytes; its failure names the flag.
            JobError::Guest { message, .. } if message.ends_with(EXPANSION_FAILURE) => {
                Some(Budget::LayerSize)
            }
            _ => None,
        }
    }

    /// The guest's report of a failure under `root`. The guest chose every byte of it,
    /// so control characters are escaped before it can reach a terminal or a log.
    fn guest(root: &Path, failure: Failure) -> Self {
        JobError::Guest {
            root: root.to_owned(),
            path: sanitize(&failure.path),
            message: sanitize(&failure.message),
        }
    }
}

/// How the guest's failure for a layer that expands past its budget ends.
const EXPANSION_FAILURE: &str = "bytes (--max-layer-size)";

/// The guest's warnings, sanitized like its failures.
fn sanitized(warnings: Vec<String>) -> Vec<String> {
    warnings.iter().map(|w| sanitize(w)).collect()
}

fn display_path(root: &Path, path: &str) -> String {
    if path.is_empty() {
        root.display().to_string()
    } else {
        root.join(path).display().to_string()
    }
}

/// An mtree job: which rootfs, and the header facts to record.
#[derive(Debug, Clone)]
pub struct MtreeRequest {
    /// The rootfs directory.
    pub rootfs: PathBuf,
    /// The header's `tree` line (the rootfs path as the user named it).
    pub tree: String,
    /// The header's `user` line.
    pub user: Option<String>,
    /// The header's `machine` line.
    pub machine: Option<String>,
    /// The header's `date` line.
    pub date: String,
}

impl MtreeRequest {
    /// A request for `rootfs` with this host's user, machine and time.
    pub fn new(rootfs: impl Into<PathBuf>) -> Self {
        let rootfs = rootfs.into();
        MtreeRequest {
            tree: rootfs.display().to_string(),
            rootfs,
            user: header::user_name(),
            machine: header::machine_name(),
            date: header::date_now(),
        }
    }
}

/// The repack engine: a compiled, linked guest ready to run jobs.
#[derive(Debug, Clone)]
pub struct Repacker {
    sandbox: Sandbox,
}

impl Repacker {
    /// Load the guest component from `source`; compiled copies are cached in the user's
    /// cache directory (see [`default_cache_dir`]).
    pub fn new(source: &ComponentSource) -> Result<Self, JobError> {
        Self::with_cache(source, default_cache_dir().as_deref())
    }

    /// Like [`Repacker::new`], caching compiled copies in `cache` (`None`: no cache).
    pub fn with_cache(source: &ComponentSource, cache: Option<&Path>) -> Result<Self, JobError> {
        Ok(Repacker {
            sandbox: Sandbox::new(source, cache)?,
        })
    }

    /// A repacker on a sandbox built by the caller (say, with
    /// [`Sandbox::with_wasi`]).
    pub fn with_sandbox(sandbox: Sandbox) -> Self {
        Repacker { sandbox }
    }

    /// The mtree manifest of a rootfs, in umoci's format.
    pub fn mtree(&self, request: &MtreeRequest, limits: &Limits) -> Result<String, JobError> {
        let rootfs = CapDir::open_ambient(&request.rootfs).map_err(|source| JobError::Grant {
            path: request.rootfs.clone(),
            source,
        })?;
        let mut job = self.sandbox.job(limits)?;
        let root = job.grant(rootfs)?;
        let header = MtreeHeader {
            user: request.user.clone(),
            machine: request.machine.clone(),
            tree: request.tree.clone(),
            date: request.date.clone(),
        };
        let outcome = job
            .world
            .repack_bundle_layer()
            .call_mtree(&mut job.store, root, &header);
        job.finish(outcome, limits)?
            .map_err(|f| JobError::guest(&request.rootfs, f))
    }

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
        self.repack_layer_in(dir, rootfs, options, writer, limits, stats)
    }

    /// [`Repacker::repack_layer`] on an already opened rootfs (`rootfs` names it in
    /// messages).
    pub fn repack_layer_in(
        &self,
        dir: CapDir,
        rootfs: &Path,
        options: &RepackOptions,
        writer: BlobWriter,
        limits: &Limits,
        stats: &mut Stats,
    ) -> Result<(RepackSummary, BlobWriter), JobError> {
        let start = Instant::now();
        let mut job = self.sandbox.job(limits)?;
        let start = stats.lap("instantiate", start);
        let root = job.grant(dir)?;
        let sink = job.grant_layer(writer)?;
        let sink_rep = sink.rep();
        let outcome = job.world.repack_bundle_layer().call_repack(
            &mut job.store,
            root,
            Resource::new_borrow(sink_rep),
            options,
        );
        let outcome = job.finish(outcome, limits);
        let elapsed = start.elapsed();
        let writer = job.take(Resource::<BlobWriter>::new_own(sink_rep))?;
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
        Ok((summary, writer))
    }

    /// Write a layer that deletes `paths` (relative to the image root) into `writer`:
    /// one whiteout entry each, then the end of the archive. Returns the writer.
    pub fn whiteout_layer(
        &self,
        paths: &[Vec<u8>],
        writer: BlobWriter,
        limits: &Limits,
    ) -> Result<BlobWriter, JobError> {
        let mut job = self.sandbox.job(limits)?;
        let sink = job.grant(writer)?;
        let sink_rep = sink.rep();
        let outcome = job.world.repack_bundle_layer().call_whiteout(
            &mut job.store,
            Resource::new_borrow(sink_rep),
            paths,
        );
        let outcome = job.finish(outcome, limits);
        let writer = job.take(Resource::<BlobWriter>::new_own(sink_rep))?;
        outcome?.map_err(|f| JobError::guest(Path::new(""), f))?;
        Ok(writer)
    }

    /// Apply `layers` in order to the (new, empty) directory `dir`, granted for writing
    /// (`rootfs` names it in messages), then return its mtree manifest, its stat cache
    /// and the guest's warnings. One job runs all layers, so the budgets cover the whole
    /// unpack; a layer may expand to the smaller of `options.max_layer_size` and
    /// [`Limits::max_layer_size`].
    pub fn unpack_layers(
        &self,
        dir: CapDir,
        rootfs: &Path,
        layers: Vec<(BlobReader, LayerInfo)>,
        options: &UnpackOptions,
        header: &MtreeHeader,
        limits: &Limits,
    ) -> Result<(String, String, Vec<String>), JobError> {
        let options = &UnpackOptions {
            max_layer_size: options.max_layer_size.min(limits.max_layer_size),
            ..options.clone()
        };
        let mut job = self.sandbox.job(limits)?;
        let root = job.grant(dir)?;
        let root_rep = root.rep();
        let guest = |f: Failure| JobError::guest(rootfs, f);
        let mut warnings = Vec::new();
        let layer_count = layers.len();
        for (reader, info) in layers {
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
            warnings.extend(sanitized(outcome?.map_err(guest)?));
        }
        // The stat cache leaves out files whose ctime is within RACY_WINDOW of the time
        // it is taken at (a later change in the same clock tick would not show). Every
        // file here was just written: waiting that long once lets the cache keep them all.
        if layer_count > 0 {
            std::thread::sleep(RACY_WINDOW);
        }
        let outcome = job.world.repack_bundle_layer().call_mtree_cached(
            &mut job.store,
            Resource::new_borrow(root_rep),
            header,
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
            RACY_WINDOW.as_nanos() as u64,
        );
        let (manifest, cache) = job.finish(outcome, limits)?.map_err(guest)?;
        Ok((manifest, cache, warnings))
    }
}
