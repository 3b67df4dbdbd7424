//! Logs go to stderr through `tracing`; results go to stdout.

use std::io::IsTerminal;

use tracing::Level;

use crate::cli::{GlobalArgs, LogLevel};

/// The level `--log`/`--verbose` ask for (warn by default, as umoci).
pub fn level(args: &GlobalArgs) -> Level {
    match (args.log, args.verbose) {
        (Some(LogLevel::Debug), _) => Level::DEBUG,
        (Some(LogLevel::Info), _) | (None, true) => Level::INFO,
        (Some(LogLevel::Warn), _) | (None, false) => Level::WARN,
        (Some(LogLevel::Error | LogLevel::Fatal), _) => Level::ERROR,
    }
}

/// Install the stderr subscriber.
pub fn init(args: &GlobalArgs) {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_max_level(level(args))
        .with_target(false)
        .without_time()
        .init();
}
