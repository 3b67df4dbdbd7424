//! `batch`: many jobs, one engine. Jobs come one JSON object per line ([`spec`]), run
//! up to N at a time on threads sharing one [`Repacker`], and each ends in one JSON
//! line ([`result`]) written as it finishes, with what the job used.
//!
//! A line that does not parse becomes a result naming its line number; the other jobs
//! go on. Once `stop` is set (a signal), no new job starts; running ones finish, and
//! since every layout write is atomic, every layout stays valid.

pub mod result;
pub mod spec;

use std::io::{self, BufRead, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError, sync_channel};
use std::time::Duration;

use crate::Repacker;
use crate::sandbox::Limits;

/// How a batch runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The jobs file as errors name it (`-` for standard input).
    pub source: String,
    /// Most jobs at once (at least one).
    pub jobs: usize,
    /// The budgets of a job whose line names none.
    pub limits: Limits,
}

/// What a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Jobs that ran (malformed lines not counted).
    pub ran: u64,
    /// Of those, the ones that failed.
    pub failed: u64,
    /// Lines that were not a job.
    pub malformed: u64,
    /// Whether `stop` kept lines from starting.
    pub stopped: bool,
}

/// The jobs file as the workers share it: lines in order, numbered from 1.
struct Input<R> {
    lines: R,
    number: u64,
    done: bool,
}

impl<R: BufRead> Input<R> {
    /// The next line that is not blank, with its number.
    fn next(&mut self) -> Option<io::Result<(u64, String)>> {
        while !self.done {
            let mut line = String::new();
            self.number += 1;
            match self.lines.read_line(&mut line) {
                Ok(0) => self.done = true,
                Ok(_) if line.trim().is_empty() => {}
                Ok(_) => return Some(Ok((self.number, line))),
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

/// How often a worker waiting for a line looks at `stop`.
const POLL: Duration = Duration::from_millis(50);

/// What a worker got from the input.
enum Next {
    Line(u64, String),
    Failed(io::Error),
    End,
    Stopped,
}

/// The next line for a worker, unless `stop` is set first.
fn next(lines: &Mutex<Receiver<io::Result<(u64, String)>>>, stop: &AtomicBool) -> Next {
    let lines = lines.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if stop.load(Ordering::SeqCst) {
            return match lines.try_recv() {
                Err(TryRecvError::Disconnected) => Next::End,
                _ => Next::Stopped,
            };
        }
        match lines.recv_timeout(POLL) {
            Ok(Ok((number, line))) => return Next::Line(number, line),
            Ok(Err(e)) => return Next::Failed(e),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Next::End,
        }
    }
}

/// Run every job of `input` on `repacker`, writing one result line per job to
/// `output`. Fails only when the input cannot be read or the output written.
///
/// The input is read on a thread of its own, so that `stop` ends the batch even while
/// the input (a pipe from a service) has nothing to give; that thread ends with the
/// input, or at its next line once the batch is over.
pub fn run(
    repacker: &Repacker,
    input: impl BufRead + Send + 'static,
    output: impl Write + Send,
    options: &Options,
    stop: &AtomicBool,
) -> io::Result<Summary> {
    let (send, lines) = sync_channel(0);
    std::thread::Builder::new()
        .name("repack-batch-input".into())
        .spawn(move || {
            let mut input = Input {
                lines: input,
                number: 0,
                done: false,
            };
            while let Some(line) = input.next() {
                if send.send(line).is_err() {
                    return;
                }
            }
        })?;
    let lines = Mutex::new(lines);
    let output = Mutex::new(output);
    let summary = Mutex::new(Summary::default());
    let failure: Mutex<Option<io::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for i in 0..options.jobs.max(1) {
            let worker = || {
                let fail = |e: io::Error| {
                    stop.store(true, Ordering::SeqCst);
                    failure
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(e);
                };
                loop {
                    let (number, line) = match next(&lines, stop) {
                        Next::Line(number, line) => (number, line),
                        Next::Failed(e) => return fail(e),
                        Next::End => return,
                        Next::Stopped => {
                            summary.lock().unwrap_or_else(|p| p.into_inner()).stopped = true;
                            return;
                        }
                    };
                    let outcome = result::run_line(repacker, &line, number, options);
                    {
                        let mut s = summary.lock().unwrap_or_else(|p| p.into_inner());
                        match outcome.kind {
                            result::Kind::Malformed => s.malformed += 1,
                            result::Kind::Failed => {
                                s.ran += 1;
                                s.failed += 1;
                            }
                            result::Kind::Done => s.ran += 1,
                        }
                    }
                    let mut out = output.lock().unwrap_or_else(|p| p.into_inner());
                    let written = writeln!(out, "{}", outcome.json).and_then(|()| out.flush());
                    if let Err(e) = written {
                        return fail(e);
                    }
                }
            };
            std::thread::Builder::new()
                .name(format!("repack-batch-{i}"))
                .spawn_scoped(scope, worker)?;
        }
        Ok::<(), io::Error>(())
    })?;
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(summary.into_inner().unwrap_or_else(|p| p.into_inner()))
}
