//! Errors of the sandbox and of jobs run in it.

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;
use wasmtime::Store;

use super::{JobState, Limits};

/// Why a sandboxed job could not run or did not finish.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The wasm engine could not be configured.
    #[error("cannot configure the wasm engine: {0}")]
    Engine(String),
    /// The component file could not be read.
    #[error("{}: cannot read component: {cause}", path.display())]
    Component {
        /// The component file.
        path: PathBuf,
        /// Why.
        cause: String,
    },
    /// The component is not valid or does not compile.
    #[error("cannot compile the guest component: {0}")]
    Compile(String),
    /// The component does not fit the host's imports.
    #[error("cannot link the guest component: {0}")]
    Link(String),
    /// The guest ran past its deadline.
    #[error("guest exceeded its time limit of {0:?}")]
    Timeout(Duration),
    /// The guest tried to use more memory than allowed.
    #[error("guest exceeded its memory limit of {0} bytes")]
    OutOfMemory(u64),
    /// The guest trapped (a bug or a hostile input it could not handle).
    #[error("guest trapped: {message}{}", if stderr.is_empty() { String::new() } else { format!(" (guest said: {})", stderr.trim()) })]
    Trap {
        /// The trap's description.
        message: String,
        /// What the guest printed to stderr before trapping.
        stderr: String,
    },
    /// The host failed while serving the guest.
    #[error("host error: {0}")]
    Host(String),
}

impl SandboxError {
    pub(crate) fn engine(e: wasmtime::Error) -> Self {
        SandboxError::Engine(format!("{e:#}"))
    }

    pub(crate) fn link(e: wasmtime::Error) -> Self {
        SandboxError::Link(format!("{e:#}"))
    }

    /// Classify an error from a guest call: deadline, memory cap, or another trap.
    pub(crate) fn from_trap(e: wasmtime::Error, limits: &Limits, store: &Store<JobState>) -> Self {
        if e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
            return SandboxError::Timeout(limits.timeout);
        }
        if store.data().memory_cap_hit() {
            return SandboxError::OutOfMemory(limits.max_memory);
        }
        let message = match e.downcast_ref::<wasmtime::Trap>() {
            Some(trap) => trap.to_string(),
            None => format!("{e:#}"),
        };
        let stderr = store.data().stderr();
        // One line: a panic message without the backtrace hint.
        let stderr = stderr
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with("note:"))
            .collect::<Vec<_>>()
            .join(" ");
        SandboxError::Trap { message, stderr }
    }
}
