//! One file per command; `dispatch` only routes.

mod demo;
mod layout;
mod raw_mtree;
mod run;

use anyhow::{Context, Result, bail};
use repack_host::{ComponentSource, Limits, Repacker};

use crate::cli::{Cli, Command, GlobalArgs, RawCommand};

/// Run the command `cli` names.
pub fn dispatch(cli: Cli) -> Result<()> {
    let global = &cli.global;
    match &cli.command {
        Command::Raw(RawCommand::Mtree(args)) => raw_mtree::run(global, args),
        Command::Demo(args) => demo::run(global, args),
        Command::Run(args) => run::run(global, args),
        Command::Init(args) => layout::init(args),
        Command::New(args) => layout::new(args),
        other => bail!("{}: not implemented yet", name(other)),
    }
}

/// The command's name as the user typed it.
fn name(command: &Command) -> &'static str {
    match command {
        Command::Run(_) => "run",
        Command::Unpack(_) => "unpack",
        Command::Init(_) => "init",
        Command::New(_) => "new",
        Command::Tag(_) => "tag",
        Command::Ls(_) => "ls",
        Command::Rm(_) => "rm",
        Command::Gc(_) => "gc",
        Command::Stat(_) => "stat",
        Command::Raw(_) => "raw",
        Command::Demo(_) => "demo",
    }
}

/// The engine the global flags describe.
fn repacker(global: &GlobalArgs) -> Result<Repacker> {
    let source = match &global.component {
        Some(path) => ComponentSource::File(path.clone()),
        None => ComponentSource::Embedded,
    };
    Repacker::new(&source).context("loading the guest component")
}

/// The per-job limits the global flags describe.
fn limits(global: &GlobalArgs) -> Limits {
    Limits {
        max_memory: global.max_memory,
        timeout: global.timeout,
    }
}
