//! repack-host: the native half of repack.
//!
//! The host grants a sandboxed WebAssembly guest capability handles on the directories
//! a job may touch and runs the guest under a memory cap and a deadline. The guest does
//! the walking, diffing and archive work; the host commits results to OCI layouts.
//!
//! Embedding: build one [`Repacker`] per process and call its job methods from as many
//! threads as you like; each job gets a fresh, isolated instance.
//!
//! ```no_run
//! use repack_host::{Repacker, ComponentSource, Limits, MtreeRequest};
//!
//! let repacker = Repacker::new(&ComponentSource::Embedded)?;
//! let manifest = repacker.mtree(&MtreeRequest::new("bundle/rootfs"), &Limits::default())?;
//! print!("{manifest}");
//! # Ok::<(), repack_host::JobError>(())
//! ```

pub mod batch;
pub mod bindings;
pub mod bundle;
pub mod capability;
pub mod cpu;
pub mod go_json;
pub mod handle;
pub mod header;
pub mod image;
pub mod layout;
pub mod registry;
pub mod repack;
pub mod repacker;
pub mod runtime_config;
pub mod sandbox;
pub mod stats;
pub mod unpack;

pub use repacker::{JobError, MtreeRequest, Repacker};
pub use sandbox::{Budget, ComponentSource, Limits, SandboxError, Usage, metered};

/// The guest component built by `build.rs` for wasm32-wasip2.
pub const GUEST_COMPONENT: &[u8] = include_bytes!(env!("REPACK_GUEST_WASM"));

/// The SHA-256 of [`GUEST_COMPONENT`], hex, taken by `build.rs`.
pub const GUEST_COMPONENT_SHA256: &str = env!("REPACK_GUEST_SHA256");

/// The WIT contract [`GUEST_COMPONENT`] was built from (`repack:bundle`).
pub const GUEST_WIT: &str = include_str!("../../wit/repack.wit");
