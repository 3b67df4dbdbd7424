//! The guest half of repack.
//!
//! Everything here works on a [`tree::Tree`]: an abstract, read-only view of a directory
//! tree with POSIX metadata. Inside the component the tree is the host's capability
//! handle (see `component`); in native unit tests it is a plain directory.
//!
//! Modules:
//! - [`tree`]: the filesystem view the guest reads through.
//! - [`bytes`]: fast bytewise comparison of paths.
//! - [`mtree`]: umoci's mtree manifests (vis encoding, keywords, walk, writer, parser).
//! - [`repack`]: diff, filters and layer generation.
//! - [`ids`]: owner mapping and rootless owners, for repack and unpack.
//! - [`display`]: paths in messages.
//! - [`unpack`]: applying layer archives to a rootfs.
//! - [`statcache`]: digests of unchanged files, kept between runs.
//! - [`tar`]: tar archives as Go's `archive/tar` writes (USTAR, PAX) and reads them.
//! - [`stopwatch`]: time per phase, for the host's `--stats`.

pub mod bytes;
pub mod display;
pub mod ids;
pub mod mtree;
pub mod repack;
pub mod statcache;
pub mod stopwatch;
pub mod tar;
pub mod tree;
pub mod unpack;

// The generated bindings are the one place that needs `unsafe` (the canonical ABI).
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod component;
