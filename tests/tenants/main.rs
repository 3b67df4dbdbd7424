//! Many tenants in one process: jobs of several tenants at once on one engine, hostile
//! ones among them, the batch command's interruption, and the cost of starting a job.
//! The tests run one at a time so that each measures only itself.

mod fixture;
mod interrupt;
mod isolation;
mod start;

use std::sync::{Mutex, MutexGuard};

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
