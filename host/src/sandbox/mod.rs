//! The sandbox the guest runs in: one [`Engine`] per process, the component compiled
//! once (and cached on disk), and per-job stores bounded in time, memory, handles,
//! data per call and kept output.

mod cache;
mod clock;
mod error;
mod handles;
mod hasher;
mod host_fs;
mod id_map;
mod limits;
mod stderr;
mod text;
mod text_sink;
mod usage;
#[cfg(test)]
mod write_file_tests;

pub use cache::default_dir as default_cache_dir;
pub use error::SandboxError;
pub use handles::{HandleKind, HandleLimit, MAX_HASHERS, process_fd_budget};
pub use hasher::{Hasher, hash_threads};
pub use id_map::wit_mappings;
pub use limits::{Budget, Limits, MemoryCap, parse_duration, parse_size};
pub use text::sanitize;
pub use text_sink::TextSink;
pub use usage::{Usage, metered};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::thread;
use std::time::Duration;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use handles::Handles;
use stderr::GuestStderr;

use crate::bindings::{RepackerWorld, RepackerWorldPre};
use crate::layout::writer::LayerMeter;
use crate::stats::HostCalls;

/// How often the epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Where the component comes from.
#[derive(Debug, Clone)]
pub enum ComponentSource {
    /// The component built into this binary.
    Embedded,
    /// A component file (`--component PATH`).
    File(PathBuf),
}

/// How the guest's WASI imports are linked. A job calls none of them unless the guest
/// panics (its standard library then writes the message to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wasi {
    /// An empty WASI context (no preopens, no environment, no network); the guest's
    /// stderr is kept for trap reports.
    #[default]
    Empty,
    /// Every WASI import traps when called, as in a host that has no WASI at all.
    Trap,
}

/// Per-job store data: the resource table holding granted handles, an empty WASI
/// context (no preopens, no environment, no network), the store limits and what the
/// job has used of its budgets.
pub struct JobState {
    table: ResourceTable,
    wasi: WasiCtx,
    memory: MemoryCap,
    handles: Handles,
    stderr: GuestStderr,
    calls: HostCalls,
    limits: Limits,
    /// The budget the guest went past, if it did.
    over: Option<Budget>,
    /// Bytes read for the guest (see [`Limits::max_read`]).
    read: u64,
    /// CPU nanoseconds of the job's hashing threads.
    hashing_cpu: Arc<AtomicU64>,
    /// The compressors of the layers the guest wrote.
    layers: Vec<Arc<LayerMeter>>,
    /// When the job's time is up: the epoch deadline stops guest code, this stops a
    /// job whose time goes into host calls (a large file copied into a layer).
    deadline: Option<std::time::Instant>,
}

impl std::fmt::Debug for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobState").finish_non_exhaustive()
    }
}

impl WasiView for JobState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A compiled, linked component ready to instantiate per job. Cheap to share between
/// threads; each job gets its own store.
#[derive(Clone)]
pub struct Sandbox {
    engine: Engine,
    pre: Arc<RepackerWorldPre<JobState>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").finish_non_exhaustive()
    }
}

/// A job's store and its instance.
pub struct Job {
    /// The store; its data holds the job's resources.
    pub store: Store<JobState>,
    /// The instantiated world.
    pub world: RepackerWorld,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Build the engine, load the component (compiled copies cached in `cache`, if
    /// given) and link it.
    pub fn new(source: &ComponentSource, cache: Option<&Path>) -> Result<Self, SandboxError> {
        Self::with_wasi(source, cache, Wasi::Empty)
    }

    /// Like [`Sandbox::new`], linking the guest's WASI imports as `wasi` says.
    pub fn with_wasi(
        source: &ComponentSource,
        cache: Option<&Path>,
        wasi: Wasi,
    ) -> Result<Self, SandboxError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let engine = Engine::new(&config).map_err(SandboxError::engine)?;
        let component: Component = match source {
            ComponentSource::Embedded => cache::load(
                &engine,
                crate::GUEST_COMPONENT,
                crate::GUEST_COMPONENT_SHA256,
                cache,
            )?,
            ComponentSource::File(path) => {
                let bytes = std::fs::read(path).map_err(|e| SandboxError::Component {
                    path: path.clone(),
                    cause: e.to_string(),
                })?;
                cache::load(&engine, &bytes, &cache::sha256_hex(&bytes), cache)?
            }
        };
        let mut linker = Linker::new(&engine);
        if wasi == Wasi::Empty {
            wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(SandboxError::link)?;
        }
        RepackerWorld::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)
            .map_err(SandboxError::link)?;
        if wasi == Wasi::Trap {
            // `blobs` names `fs.dir` (`write-file` takes one); the generated linking
            // does not list that type under `blobs`, and the trap stubs would give it
            // a type of their own. It is the same resource as `fs.dir`.
            linker
                .instance(BLOBS_INSTANCE)
                .and_then(|mut blobs| {
                    blobs.resource(
                        "dir",
                        wasmtime::component::ResourceType::host::<crate::capability::CapDir>(),
                        |_, _| Ok(()),
                    )
                })
                .map_err(SandboxError::link)?;
            linker
                .define_unknown_imports_as_traps(&component)
                .map_err(SandboxError::link)?;
        }
        let pre = linker
            .instantiate_pre(&component)
            .map_err(SandboxError::link)?;
        let pre = RepackerWorldPre::new(pre).map_err(SandboxError::link)?;
        spawn_ticker(&engine);
        // The guest's first stderr write starts wasmtime-wasi's runtime; starting it now
        // means a job that has used up file descriptors cannot make that fail later.
        wasmtime_wasi::runtime::with_ambient_tokio_runtime(|| ());
        Ok(Sandbox {
            engine,
            pre: Arc::new(pre),
        })
    }

    /// A fresh store and instance bounded by `limits`.
    pub fn job(&self, limits: &Limits) -> Result<Job, SandboxError> {
        let state = JobState::new(limits);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        store.set_hostcall_fuel(limits.hostcall_fuel());
        store.set_max_component_handles(limits.max_handles);
        store.set_epoch_deadline(limits.deadline_ticks());
        store.epoch_deadline_trap();
        let world = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| SandboxError::from_trap(e, limits, &store))?;
        Ok(Job { store, world })
    }
}

impl Job {
    /// Grant a layer blob writer to the guest, bounded by the job's layer budgets and
    /// counted in its usage.
    pub fn grant_layer(
        &mut self,
        writer: crate::layout::BlobWriter,
    ) -> Result<wasmtime::component::Resource<crate::layout::BlobWriter>, SandboxError> {
        let state = self.store.data_mut();
        writer.limit_compressed(state.limits.max_layer_compressed);
        state.layers.push(writer.meter());
        self.grant(writer)
    }

    /// The counter of CPU time that threads working for this job add to (its usage
    /// includes it).
    pub fn helper_cpu(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.store.data().hashing_cpu)
    }

    /// Grant `item` to the guest: put it in the job's resource table.
    pub fn grant<T: Send + 'static>(
        &mut self,
        item: T,
    ) -> Result<wasmtime::component::Resource<T>, SandboxError> {
        self.store
            .data_mut()
            .table
            .push(item)
            .map_err(|e| SandboxError::Host(e.to_string()))
    }

    /// Take a granted item back out of the job's table.
    pub fn take<T: 'static>(
        &mut self,
        item: wasmtime::component::Resource<T>,
    ) -> Result<T, SandboxError> {
        self.store
            .data_mut()
            .table
            .delete(item)
            .map_err(|e| SandboxError::Host(e.to_string()))
    }

    /// Turn the outcome of a guest call into a job result.
    pub fn finish<T>(
        &self,
        outcome: wasmtime::Result<T>,
        limits: &Limits,
    ) -> Result<T, SandboxError> {
        outcome.map_err(|e| SandboxError::from_trap(e, limits, &self.store))
    }
}

/// The `blobs` interface as the component imports it.
const BLOBS_INSTANCE: &str = "repack:bundle/blobs@0.3.0";

/// Advance the engine's epoch every [`EPOCH_TICK`] for as long as the engine lives.
fn spawn_ticker(engine: &Engine) {
    let weak = engine.weak();
    thread::Builder::new()
        .name("repack-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch thread");
}

impl JobState {
    /// Whether the guest hit its memory cap.
    pub fn memory_cap_hit(&self) -> bool {
        self.memory.hit()
    }

    /// The budget (of those the host counts in calls) the guest went past, if any.
    pub fn over_budget(&self) -> Option<Budget> {
        self.over
    }

    /// A new job's state: nothing granted, nothing counted, its time starting now.
    fn new(limits: &Limits) -> Self {
        let stderr = GuestStderr::default();
        JobState {
            table: ResourceTable::new(),
            wasi: WasiCtx::builder().stderr(stderr.clone()).build(),
            memory: MemoryCap::new(limits.max_memory_bytes()),
            handles: Handles::new(limits.max_open_files),
            stderr,
            calls: HostCalls::default(),
            limits: *limits,
            over: None,
            read: 0,
            hashing_cpu: Arc::default(),
            layers: Vec::new(),
            deadline: std::time::Instant::now().checked_add(limits.timeout),
        }
    }

    /// Stop the guest if its time is up (checked on the way into host calls).
    pub(crate) fn check_deadline(&mut self) -> wasmtime::Result<()> {
        match self.deadline {
            Some(deadline) if std::time::Instant::now() > deadline => {
                Err(self.stop(Budget::Timeout))
            }
            _ => Ok(()),
        }
    }

    /// Stop the guest: it went past `budget`.
    pub(crate) fn stop(&mut self, budget: Budget) -> wasmtime::Error {
        self.over = Some(budget);
        wasmtime::Error::msg(format!("over its {budget} budget"))
    }

    /// The host calls the guest has made so far.
    pub fn calls(&self) -> HostCalls {
        self.calls
    }

    /// The guest's memories and tables at their largest so far, in bytes.
    pub fn memory_peak(&self) -> u64 {
        self.memory.peak() as u64
    }
}

impl Drop for JobState {
    fn drop(&mut self) {
        let calls = self.calls.total();
        usage::record(usage::JobCounts {
            memory_peak: self.memory_peak(),
            bytes_read: self.read,
            bytes_written: self.calls.layer.bytes + self.calls.write.bytes,
            host_calls: calls.calls,
            cpu_elsewhere: vec![Arc::clone(&self.hashing_cpu)],
            layers: std::mem::take(&mut self.layers),
        });
    }
}
