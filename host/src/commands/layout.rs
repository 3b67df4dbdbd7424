//! `init` and `new`: create a layout, and an empty image in one.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use repack_host::image::history;
use repack_host::layout::{ImageRef, Layout, empty};

use crate::cli::{ImageArgs, LayoutArgs};

/// `init --layout PATH`.
pub fn init(args: &LayoutArgs) -> Result<()> {
    Layout::init(layout_path(args)?).context("init")?;
    Ok(())
}

/// The `--layout` path of `init`, `ls` and `gc`. One holding `:` is refused, as umoci
/// refuses it: `--image` splits at the first `:`, so no image in it could be named.
pub fn layout_path(args: &LayoutArgs) -> Result<&Path> {
    let path = args.layout.as_path();
    if path.as_os_str().as_bytes().contains(&b':') {
        bail!(
            "invalid --layout: path contains ':' character: '{}'",
            path.display()
        );
    }
    Ok(path)
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
