//! End-to-end tests of repack-host: the CLI, the sandbox limits, and interop with umoci.
//!
//! One test binary for these (linking wasmtime once); each module is one concern. The
//! helpers in `support` are shared with `tests/durability`.

mod as_user;
mod cli;
mod component_export;
mod conformance;
mod fuzz_regressions;
mod generated_docs;
mod layout_commands;
mod legal_layers;
mod multi_platform;
mod no_wasi;
mod peer_hosts;
mod registry;
mod rootless_user;
mod sandbox;
#[path = "../support/mod.rs"]
mod support;
mod trust;
mod umoci_commands;
mod umoci_mtree;
mod umoci_repack;
mod umoci_unpack;
