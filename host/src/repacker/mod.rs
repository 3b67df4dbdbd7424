//! The embedding API: one [`Repacker`] per process, one call per job. This module
//! holds the engine, its errors and the plumbing its jobs share; each job is a file:
//!
//! - [`mtree`]: a rootfs's manifest.
//! - [`repack`]: a bundle's changes as a new layer (`repack`).
//! - [`unpack`] and [`raw_unpack`]: an image into a bundle, or into a rootfs alone.
//! - [`insert`]: a host tree, or a deletion, as a new layer.
//! - [`repack_layer`], [`whiteout`] and [`unpack_layers`]: the guest calls the jobs
//!   above are built on.

mod insert;
mod mtree;
mod raw_unpack;
mod repack;
mod repack_layer;
mod unpack;
mod unpack_layers;
mod whiteout;

pub use unpack_layers::BundleTexts;

use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use crate::bindings::Failure;
use crate::capability::CapError;
use crate::header;
use crate::sandbox::{Budget, ComponentSource, Sandbox, SandboxError, default_cache_dir, sanitize};

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
    /// The budget of [`Limits`](crate::Limits) the job went past, if that is why it failed.
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
}
