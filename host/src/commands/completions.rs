//! `completions SHELL`: a completion script generated from the clap definitions.

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};

/// Print the script for `args.shell` to stdout.
pub fn run(args: &CompletionsArgs) -> Result<()> {
    let mut command = Cli::command();
    let name = command.get_name().to_owned();
    clap_complete::generate(
        args.shell,
        &mut command,
        name,
        &mut std::io::stdout().lock(),
    );
    Ok(())
}
