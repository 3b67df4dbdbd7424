//! Durability tests of repack-host: what a layout looks like after a process is killed,
//! races other writers and garbage collection, runs out of space or permission, reads
//! corrupt input, or sees its rootfs change under it.
//!
//! Several tests need root (mounts, another user); under `CI=true` a missing tool or
//! root fails them instead of skipping.

mod bounds;
mod concurrent;
mod corrupt;
mod invariants;
mod kill;
mod lab;
mod no_space;
mod read_only;
#[path = "../support/mod.rs"]
mod support;
mod swap;
