//! `completions SHELL`: a completion script generated from the clap definitions.

use std::io::Write;

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, CompletionsArgs};

/// Print the script for `args.shell` to stdout.
pub fn run(args: &CompletionsArgs) -> Result<()> {
    let mut command = Cli::command();
    let name = command.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, &name, &mut script);
    let mut script = String::from_utf8(script)?;
    if args.shell == Shell::Bash {
        script = fix_bash_states(&script, &name);
    }
    std::io::stdout().lock().write_all(script.as_bytes())?;
    Ok(())
}

/// clap_complete's bash script tracks the command being completed in a state that its
/// loop spells `repack__host__subcmd__raw` but its case arms `repack__subcmd__host__
/// subcmd__raw` when the program's name holds a hyphen (clap-rs/clap#6421), so nothing
/// after a subcommand would complete. Spell the arms as the loop does.
fn fix_bash_states(script: &str, name: &str) -> String {
    if !name.contains('-') {
        return script.to_owned();
    }
    script.replace(&name.replace('-', "__subcmd__"), &name.replace('-', "__"))
}
