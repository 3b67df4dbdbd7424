//! End-to-end tests of repack-host: the CLI, the sandbox limits, and interop with umoci.
//!
//! One test binary (linking wasmtime once); each module is one concern.

mod as_user;
mod cli;
mod fuzz_regressions;
mod generated_docs;
mod layout_commands;
mod legal_layers;
mod registry;
mod rootless_user;
mod sandbox;
mod support;
mod umoci_commands;
mod umoci_mtree;
mod umoci_repack;
mod umoci_unpack;
