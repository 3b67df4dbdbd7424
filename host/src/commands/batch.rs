//! `batch JOBS.jsonl [--jobs N]`: the worker's face for services in any language.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};
use repack_host::batch::{self, Options};
use signal_hook::consts::{SIGINT, SIGTERM};

use super::{limits, repacker};
use crate::cli::{BatchArgs, GlobalArgs};

/// Run `repack-host batch`.
pub fn run(global: &GlobalArgs, args: &BatchArgs) -> Result<()> {
    let source = args.jobs_file.display().to_string();
    let input: Box<dyn BufRead + Send + 'static> = if source == "-" {
        Box::new(BufReader::new(io::stdin()))
    } else {
        let file = File::open(&args.jobs_file).with_context(|| source.clone())?;
        Box::new(BufReader::new(file))
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        // A second signal ends the process at once; every layout write is atomic, so
        // that too leaves each layout valid.
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&stop))
            .context("installing a signal handler")?;
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing a signal handler")?;
    }
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        usize::from,
    );
    let options = Options {
        source: source.clone(),
        jobs,
        limits: limits(global),
    };
    let engine = repacker(global)?;
    let summary = batch::run(&engine, input, io::stdout(), &options, &stop)
        .with_context(|| format!("batch {source}"))?;
    if summary.stopped {
        bail!(
            "interrupted: {} jobs ran, the rest of {source} was not started",
            summary.ran
        );
    }
    let mut problems = Vec::new();
    if summary.failed > 0 {
        problems.push(format!("{} of {} jobs failed", summary.failed, summary.ran));
    }
    if summary.malformed > 0 {
        problems.push(format!("{} lines were not jobs", summary.malformed));
    }
    if !problems.is_empty() {
        bail!("{source}: {}", problems.join(", "));
    }
    Ok(())
}
