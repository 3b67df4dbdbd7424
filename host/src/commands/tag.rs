//! `tag`, `rm` (alias `remove`) and `ls` (alias `list`): a layout's tags.

use std::io::{self, Write};

use anyhow::{Context, Result};
use repack_host::layout::descriptor::REF_NAME;
use repack_host::layout::{ImageRef, Layout, check_tag};

use crate::cli::{ImageArgs, LayoutArgs, TagArgs};

/// `tag --image LAYOUT[:TAG] NEW`: point `NEW` at the manifest `TAG` resolves to.
pub fn tag(args: &TagArgs) -> Result<()> {
    let image = ImageRef::parse(&args.image.image)?;
    check_tag(&args.tag).context("the new tag")?;
    let layout = Layout::open(&image.layout)?;
    // A writer from the start: no garbage collection between resolving and tagging.
    layout.start_writing()?;
    let path = layout.resolve_one(&image.tag)?;
    let manifest = path.last().expect("descriptor paths are never empty");
    layout.set_tag(&args.tag, manifest)?;
    tracing::info!("created new tag: {:?} -> {:?}", args.tag, image.tag);
    Ok(())
}

/// `rm --image LAYOUT[:TAG]`: remove the tag (a missing one is fine).
pub fn rm(args: &ImageArgs) -> Result<()> {
    let image = ImageRef::parse(&args.image)?;
    let layout = Layout::open(&image.layout)?;
    let removed = layout.remove_tag(&image.tag)?;
    tracing::info!("removed tag {:?} ({removed} entries)", image.tag);
    Ok(())
}

/// `ls --layout LAYOUT`: the tags, in index order, one a line.
pub fn ls(args: &LayoutArgs) -> Result<()> {
    let layout = Layout::open(super::layout::layout_path(args)?)?;
    let entries = layout.index_entries()?;
    let mut out = io::stdout().lock();
    let written = entries
        .iter()
        .filter_map(|d| d.annotation(REF_NAME))
        .try_for_each(|name| writeln!(out, "{name}"))
        .and_then(|()| out.flush());
    match written {
        // A closed pipe (`ls | head`) is the reader's choice, not a failure.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}
