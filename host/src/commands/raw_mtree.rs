//! `raw mtree ROOTFS`: print the rootfs's manifest.

use std::io::Write;

use anyhow::Result;
use repack_host::MtreeRequest;

use crate::cli::{GlobalArgs, MtreeArgs};

/// Walk the rootfs in the sandbox and print the manifest to stdout.
pub fn run(global: &GlobalArgs, args: &MtreeArgs) -> Result<()> {
    let manifest =
        super::repacker(global)?.mtree(&MtreeRequest::new(&args.rootfs), &super::limits(global))?;
    std::io::stdout().lock().write_all(manifest.as_bytes())?;
    Ok(())
}
