//! `component --out DIR`: the guest component as other hosts need it.
//!
//! Writes `repack.wasm` (the exact component this binary runs), `repack.wit` (the
//! contract it was built from) and `repack.wasm.sha256` (in `sha256sum` format, so
//! `sha256sum -c` checks it), and prints the digest.

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use repack_host::handle;
use repack_host::{GUEST_COMPONENT, GUEST_WIT};
use sha2::{Digest, Sha256};

/// `component` arguments.
#[derive(Debug, Args)]
pub struct ComponentArgs {
    /// Directory to write into (created if missing; files in it are replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// The digest of the embedded component, as lowercase hex.
pub fn sha256_hex() -> String {
    Sha256::digest(GUEST_COMPONENT)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Run `repack-host component`.
pub fn run(args: &ComponentArgs) -> Result<()> {
    let dir = &args.out;
    fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    let hex = sha256_hex();
    let sum = format!("{hex}  repack.wasm\n");
    let files: [(&str, &[u8]); 3] = [
        ("repack.wasm", GUEST_COMPONENT),
        ("repack.wit", GUEST_WIT.as_bytes()),
        ("repack.wasm.sha256", sum.as_bytes()),
    ];
    let handle = handle::ambient_dir(dir, true).with_context(|| format!("{}", dir.display()))?;
    for (name, bytes) in files {
        handle::write_atomic(
            &handle,
            &handle,
            std::ffi::OsStr::new(name),
            bytes,
            0o644,
            None,
        )
        .with_context(|| format!("{}", dir.join(name).display()))?;
    }
    println!("sha256:{hex}");
    Ok(())
}
