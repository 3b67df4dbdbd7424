//! `init` and `new`: create a layout, and an empty image in one.

use anyhow::{Context, Result};
use repack_host::layout::{ImageRef, Layout, empty};
use repack_host::repack::history;

use crate::cli::{ImageArgs, LayoutArgs};

/// `init --layout PATH`.
pub fn init(args: &LayoutArgs) -> Result<()> {
    Layout::init(&args.layout).context("init")?;
    Ok(())
}

/// `new --image LAYOUT[:TAG]`.
pub fn new(args: &ImageArgs) -> Result<()> {
    let image = ImageRef::parse(&args.image)?;
    let epoch = history::source_date_epoch(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref())
        .map_err(anyhow::Error::msg)?;
    let layout = Layout::open(&image.layout)?;
    empty::new_image(&layout, &image.tag, &history::created(None, epoch)).context("new")?;
    Ok(())
}
