//! One file per command; `dispatch` only routes.

mod add_layer;
mod batch;
mod completions;
mod component;
mod config;
mod demo;
mod gc;
mod help;
mod insert;
mod layout;
mod man;
mod raw_mtree;
mod raw_unpack;
mod registry;
mod run;
mod runtime_config;
mod stat;
mod tag;
mod unpack;

pub use component::ComponentArgs;

use anyhow::{Context, Result};
use repack_host::{ComponentSource, Limits, Repacker};

use crate::cli::{Cli, Command, GlobalArgs, RawCommand};

/// Run the command `cli` names.
pub fn dispatch(cli: Cli) -> Result<()> {
    let global = &cli.global;
    match &cli.command {
        Command::Raw(RawCommand::Mtree(args)) => raw_mtree::run(global, args),
        Command::Raw(RawCommand::AddLayer(args)) => add_layer::run(args),
        Command::Raw(RawCommand::Unpack(args)) => raw_unpack::run(global, args),
        Command::Raw(RawCommand::RuntimeConfig(args)) => runtime_config::run(args),
        Command::Demo(args) => demo::run(global, args),
        Command::Batch(args) => batch::run(global, args),
        Command::Run(args) => run::run(global, args),
        Command::Unpack(args) => unpack::run(global, args),
        Command::Init(args) => layout::init(args),
        Command::New(args) => layout::new(args),
        Command::Tag(args) => tag::tag(args),
        Command::Rm(args) => tag::rm(args),
        Command::Ls(args) => tag::ls(args),
        Command::Gc(args) => gc::run(args),
        Command::Stat(args) => stat::run(args),
        Command::Config(args) => config::run(args),
        Command::Insert(args) => insert::run(global, args),
        Command::Pull(args) => registry::pull(args),
        Command::Push(args) => registry::push(args),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
        Command::Help(args) => help::run(args),
        Command::Component(args) => component::run(args),
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
        ..Limits::default()
    }
}
