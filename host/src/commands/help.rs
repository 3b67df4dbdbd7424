//! `help [COMMAND...]` (also `h`, umoci's spelling): the help of the program or of a
//! (sub)command, as `--help` prints it.

use anyhow::{Result, bail};
use clap::CommandFactory;

use crate::cli::{Cli, HelpArgs};

/// Print the help the arguments name.
pub fn run(args: &HelpArgs) -> Result<()> {
    let mut command = Cli::command();
    command.build();
    let mut current = &mut command;
    for name in &args.command {
        if current.find_subcommand(name).is_none() {
            bail!(
                "help: {} has no command {name:?}",
                current.get_bin_name().unwrap_or(current.get_name())
            );
        }
        current = current
            .find_subcommand_mut(name)
            .expect("the subcommand was just found");
    }
    current.print_long_help()?;
    Ok(())
}
