//! `gc --layout LAYOUT`: delete what no tag reaches.

use anyhow::{Context, Result};
use repack_host::layout::Layout;

use crate::cli::LayoutArgs;

/// Run the collection; what went is logged at info level.
pub fn run(args: &LayoutArgs) -> Result<()> {
    let layout = Layout::open(super::layout::layout_path(args)?)?;
    let report = layout.gc().context("gc")?;
    tracing::info!(
        "gc: kept {} blobs, removed {} blobs and {} temp directories ({} in use), left {} other files",
        report.kept,
        report.removed_blobs.len(),
        report.removed_temps.len(),
        report.busy_temps.len(),
        report.kept_strays.len()
    );
    Ok(())
}
