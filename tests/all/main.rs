//! End-to-end tests of repack-host: the CLI, the sandbox limits, and interop with umoci.
//!
//! One test binary (linking wasmtime once); each module is one concern.

mod cli;
mod layout_commands;
mod sandbox;
mod support;
mod trust;
mod umoci_mtree;
mod umoci_repack;
mod umoci_unpack;
