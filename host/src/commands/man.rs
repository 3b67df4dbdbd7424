//! `man`: manual pages in roff, generated from the clap definitions: the program's page
//! on stdout, or with `--output-dir` one page per command (`repack-host-raw-unpack.1`).

use std::io::Write;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};

/// Print or write the pages.
pub fn run(args: &ManArgs) -> Result<()> {
    let command = Cli::command();
    match &args.output_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
            clap_mangen::generate_to(command, dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(command).render(&mut out)?;
            std::io::stdout().lock().write_all(&out)?;
        }
    }
    Ok(())
}
