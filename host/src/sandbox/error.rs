//! Errors of the sandbox and of jobs run in it.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;
use wasmtime::Store;

use super::handles::HandleLimit;
use super::stderr::Captured;
use super::text::{excerpt_lines, sanitize};
use super::{Budget, HandleKind, JobState, Limits};

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
    #[error("guest exceeded its time limit of {0:?} (timeout)")]
    Timeout(Duration),
    /// The job went past one of the byte budgets the host counts.
    #[error("guest stopped: {} (limit {budget})", over_text(*.budget, *.limit))]
    OverBudget {
        /// Which budget.
        budget: Budget,
        /// Its value.
        limit: u64,
    },
    /// The guest tried to use more memory than allowed (all its linear memories and
    /// tables together).
    #[error("guest exceeded its memory limit of {0} bytes (all its memories together)")]
    OutOfMemory(u64),
    /// The guest held more live handles of one kind than a job may.
    #[error("guest stopped: {0}")]
    TooManyHandles(HandleLimit),
    /// The guest held more component-model handles of any kind than a job may.
    #[error("guest stopped: too many open handles: a job may hold {0}")]
    TooManyComponentHandles(usize),
    /// One call moved more data between guest and host than a job may (wasmtime's
    /// hostcall fuel).
    #[error(
        "guest stopped: one call passed more than {0} bytes to the host; the limit follows \
         the memory limit (at least 128 MiB), so a larger memory limit raises it"
    )]
    CallTooLarge(usize),
    /// The guest overflowed its stack: the native one, or the shadow stack in its
    /// linear memory.
    #[error("guest overflowed its stack ({0})")]
    StackOverflow(String),
    /// The guest trapped (a bug or a hostile input it could not handle).
    #[error("guest trapped: {message}{}", Excerpt(stderr))]
    Trap {
        /// The trap's description.
        message: String,
        /// The beginning and end of what the guest printed to stderr, as sanitized
        /// lines (`[... N bytes left out ...]` between them when it was long).
        stderr: Vec<String>,
    },
    /// The host failed while serving the guest.
    #[error("host error: {0}")]
    Host(String),
}

/// What a job that went past `budget` did, in words.
fn over_text(budget: Budget, limit: u64) -> String {
    match budget {
        Budget::Read => format!("it read more than {limit} bytes"),
        Budget::LayerWritten => format!("its layer grew past {limit} bytes uncompressed"),
        Budget::LayerCompressed => format!("its layer grew past {limit} bytes compressed"),
        Budget::LayerSize => format!("a layer expands to more than {limit} bytes"),
        other => format!("it went past {limit} ({other})"),
    }
}

/// The stderr excerpt after the error line, one indented line each.
struct Excerpt<'a>(&'a [String]);

impl fmt::Display for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        f.write_str("; its stderr:")?;
        for line in self.0 {
            write!(f, "\n    {line}")?;
        }
        Ok(())
    }
}

/// Lines of stderr shown from its beginning and from its end.
const HEAD_LINES: usize = 3;
const TAIL_LINES: usize = 8;

/// The lines of `captured` to show: all when they are few, else the first
/// [`HEAD_LINES`], a note of what is left out, and the last [`TAIL_LINES`].
fn excerpt(captured: &Captured) -> Vec<String> {
    if captured.dropped == 0 {
        // Head and tail are contiguous: one text.
        let lines = excerpt_lines(&format!("{}{}", captured.head, captured.tail));
        if lines.len() <= HEAD_LINES + TAIL_LINES {
            return lines;
        }
        let left = lines.len() - HEAD_LINES - TAIL_LINES;
        let note = format!("[... {left} lines left out ...]");
        return [
            &lines[..HEAD_LINES],
            &[note],
            &lines[lines.len() - TAIL_LINES..],
        ]
        .concat();
    }
    let mut lines: Vec<String> = excerpt_lines(&captured.head)
        .into_iter()
        .take(HEAD_LINES)
        .collect();
    lines.push(format!("[... {} bytes not kept ...]", captured.dropped));
    let mut tail = excerpt_lines(&captured.tail);
    if !captured.tail.starts_with('\n') && !tail.is_empty() {
        // The first kept line begins mid-line.
        tail.remove(0);
    }
    lines.extend(tail.drain(tail.len().saturating_sub(TAIL_LINES)..));
    lines
}

impl SandboxError {
    pub(crate) fn engine(e: wasmtime::Error) -> Self {
        SandboxError::Engine(format!("{e:#}"))
    }

    pub(crate) fn link(e: wasmtime::Error) -> Self {
        SandboxError::Link(format!("{e:#}"))
    }

    /// The budget of [`Limits`] the job went past, if that is why it failed.
    pub fn budget(&self) -> Option<Budget> {
        match self {
            SandboxError::Timeout(_) => Some(Budget::Timeout),
            SandboxError::OutOfMemory(_) => Some(Budget::Memory),
            SandboxError::OverBudget { budget, .. } => Some(*budget),
            SandboxError::TooManyHandles(hit) if hit.kind != HandleKind::Hasher => {
                Some(Budget::OpenFiles)
            }
            SandboxError::TooManyComponentHandles(_) => Some(Budget::Handles),
            _ => None,
        }
    }

    /// Classify an error from a guest call: which limit it hit, or which trap.
    pub(crate) fn from_trap(e: wasmtime::Error, limits: &Limits, store: &Store<JobState>) -> Self {
        let trap = e.downcast_ref::<wasmtime::Trap>();
        if trap == Some(&wasmtime::Trap::Interrupt) {
            return SandboxError::Timeout(limits.timeout);
        }
        let state = store.data();
        if state.memory_cap_hit() {
            return SandboxError::OutOfMemory(limits.max_memory);
        }
        if let Some(hit) = state.handles.hit() {
            return SandboxError::TooManyHandles(hit);
        }
        if state.over_budget() == Some(Budget::Timeout) {
            return SandboxError::Timeout(limits.timeout);
        }
        if let Some(budget) = state.over_budget() {
            let limit = match budget {
                Budget::Read => limits.max_read,
                Budget::LayerWritten => limits.max_layer_written,
                Budget::LayerCompressed => limits.max_layer_compressed,
                _ => limits.max_layer_size,
            };
            return SandboxError::OverBudget { budget, limit };
        }
        let chain = format!("{e:#}");
        if chain.contains("fuel allocated for hostcalls has been exhausted") {
            return SandboxError::CallTooLarge(limits.hostcall_fuel());
        }
        if chain.contains("store handle limit exceeded") {
            return SandboxError::TooManyComponentHandles(limits.max_handles);
        }
        if trap == Some(&wasmtime::Trap::StackOverflow) {
            return SandboxError::StackOverflow("its call stack is exhausted".into());
        }
        if trap == Some(&wasmtime::Trap::MemoryOutOfBounds)
            && let Some(recursion) = recursion(&e)
        {
            return SandboxError::StackOverflow(recursion);
        }
        let message = match trap {
            Some(trap) => {
                let text = trap.to_string();
                text.strip_prefix("wasm trap: ").unwrap_or(&text).to_owned()
            }
            None => chain.lines().next().unwrap_or_default().to_owned(),
        };
        SandboxError::Trap {
            message: sanitize(&message),
            stderr: excerpt(&state.stderr.captured()),
        }
    }
}

/// Frames of one function at the top of the backtrace that make an out-of-bounds
/// access a stack overflow: the guest's shadow stack lives at the bottom of its linear
/// memory, and a recursion that runs past it accesses addresses below zero, which wrap
/// to the top of the address space.
const RECURSION_FRAMES: usize = 8;

/// "out-of-bounds access in `f`, N frames deep" when the backtrace of `e` opens with a
/// recursion.
fn recursion(e: &wasmtime::Error) -> Option<String> {
    let frames = e.downcast_ref::<wasmtime::WasmBacktrace>()?.frames();
    let top = frames.first()?;
    let depth = frames
        .iter()
        .take_while(|f| f.func_index() == top.func_index())
        .count();
    (depth >= RECURSION_FRAMES).then(|| {
        let name = top.func_name().map_or_else(
            || format!("function {}", top.func_index()),
            |n| sanitize(&demangle(n)),
        );
        format!(
            "its shadow stack: out-of-bounds access in a recursion of `{name}` {depth} frames deep"
        )
    })
}

/// A Rust symbol in the legacy mangling (`_ZN` length-prefixed parts `E`) as a path,
/// without its hash; any other name as it is.
fn demangle(name: &str) -> String {
    let parts = (|| {
        let mut rest = name.strip_prefix("_ZN")?.strip_suffix('E')?;
        let mut parts = Vec::new();
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit())?;
            let len: usize = rest[..digits].parse().ok()?;
            let part = rest.get(digits..digits + len)?;
            parts.push(part);
            rest = &rest[digits + len..];
        }
        let hash = |p: &&str| p.len() == 17 && p.starts_with('h');
        if parts.last().is_some_and(hash) {
            parts.pop();
        }
        Some(parts.join("::"))
    })();
    parts.unwrap_or_else(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_symbols_are_demangled() {
        assert_eq!(
            demangle("_ZN14repack_hostile5guest4deep17hd643ce7affadc259E"),
            "repack_hostile::guest::deep"
        );
        assert_eq!(demangle("plain"), "plain");
        assert_eq!(demangle("_ZN99xE"), "_ZN99xE");
    }

    fn captured(head: &str, dropped: u64, tail: &str) -> Captured {
        Captured {
            head: head.into(),
            dropped,
            tail: tail.into(),
        }
    }

    #[test]
    fn short_stderr_is_shown_whole() {
        let lines = excerpt(&captured("thread panicked at x.rs:1:1:\nboom\n", 0, ""));
        assert_eq!(lines, ["thread panicked at x.rs:1:1:", "boom"]);
    }

    #[test]
    fn long_stderr_keeps_its_beginning_and_its_end() {
        let head = "h1\nh2\nh3\nh4\n";
        let tail = "ut line\nt1\nt2\nt3\nt4\nt5\nt6\nt7\nboom after noise\n";
        let lines = excerpt(&captured(head, 1000, tail));
        assert_eq!(lines.len(), HEAD_LINES + 1 + TAIL_LINES, "{lines:?}");
        assert_eq!(lines[..3], ["h1", "h2", "h3"]);
        assert_eq!(lines[3], "[... 1000 bytes not kept ...]");
        assert_eq!(lines.last().unwrap(), "boom after noise");
        assert!(!lines.iter().any(|l| l.contains("ut line")));
    }

    #[test]
    fn many_short_lines_are_cut_in_the_middle() {
        let text: String = (0..20).map(|i| format!("l{i}\n")).collect();
        let lines = excerpt(&captured(&text, 0, ""));
        assert_eq!(lines.len(), HEAD_LINES + 1 + TAIL_LINES);
        assert_eq!(lines[3], "[... 9 lines left out ...]");
        assert_eq!(lines.last().unwrap(), "l19");
    }

    #[test]
    fn the_error_is_one_line_plus_an_indented_excerpt() {
        let err = SandboxError::Trap {
            message: "wasm `unreachable` instruction executed".into(),
            stderr: vec!["\\033[2Jnoise".into(), "boom".into()],
        };
        assert_eq!(
            err.to_string(),
            "guest trapped: wasm `unreachable` instruction executed; its stderr:\n    \\033[2Jnoise\n    boom"
        );
    }
}
