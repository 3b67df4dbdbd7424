//! The `repack-host` command.

mod cli;
mod commands;
mod logging;

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

/// A usage error as one line: clap's message with its lists folded in, no usage block.
fn usage_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut parts = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if !line.is_empty() && !line.starts_with("tip:") {
            parts.push(line.trim_start_matches("error: "));
        }
    }
    if parts.is_empty() {
        "a command is required".to_owned()
    } else {
        parts.join(" ")
    }
}

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.exit()
        }
        Err(e) => {
            eprintln!("repack-host: {} (see --help)", usage_line(&e));
            return ExitCode::from(2);
        }
    };
    logging::init(&cli.global);
    match commands::dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("repack-host: {e:#}");
            ExitCode::FAILURE
        }
    }
}
