//! Embedding repack-host as a library: repack a bundle into a layout and unpack the
//! result, through the `Repacker` API with explicit limits.
//!
//! ```text
//! cargo run --release -p repack-host --example embed [WORKDIR]
//! ```
//!
//! In WORKDIR (default: a new temporary directory, removed at the end) it creates a
//! layout with an empty image, unpacks it into a bundle, adds a file and a directory
//! to the rootfs, repacks the bundle as tag `edited`, unpacks `edited` into a second
//! bundle and checks that both rootfs manifests agree.

use std::fs;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use repack_host::image::{CompressionChoice, HistoryRequest};
use repack_host::layout::{ImageRef, Layout, empty};
use repack_host::repack::Request as RepackRequest;
use repack_host::unpack::Request as UnpackRequest;
use repack_host::{ComponentSource, Limits, MtreeRequest, Repacker};

fn main() -> Result<()> {
    let scratch;
    let work = match std::env::args_os().nth(1) {
        Some(dir) => dir.into(),
        None => {
            scratch = tempfile::tempdir()?;
            scratch.path().to_owned()
        }
    };
    round(&work)
}

/// The bounds every job of this program runs under: 256 MiB of guest memory, one
/// minute and 1 GiB of layer written per job (the defaults are 1 GiB, one hour and no
/// write budget); the other budgets keep their defaults.
fn limits() -> Limits {
    Limits {
        max_memory: 256 << 20,
        timeout: Duration::from_secs(60),
        max_layer_written: 1 << 30,
        ..Limits::default()
    }
}

fn round(work: &Path) -> Result<()> {
    // One Repacker per process: the component is compiled once (and cached on disk);
    // every job below gets a fresh instance with its own limits.
    let repacker = Repacker::new(&ComponentSource::Embedded)?;
    let limits = limits();

    let layout_dir = work.join("layout");
    let layout = Layout::init(&layout_dir)?;
    empty::new_image(&layout, "base", "2024-01-01T00:00:00Z")?;
    let image = |tag: &str| ImageRef::parse(&format!("{}:{tag}", layout_dir.display()));

    let unpack = |tag: &str, bundle: &Path| -> Result<()> {
        let request = UnpackRequest {
            image: image(tag)?,
            bundle: bundle.to_owned(),
            options: repack_host::unpack::Options {
                uid_maps: Vec::new(),
                gid_maps: Vec::new(),
                // Without root, files cannot be given to other owners.
                rootless: !rustix::process::geteuid().is_root(),
                keep_dirlinks: false,
                max_layer_size: 1 << 30,
                platform: None,
            },
        };
        let outcome = repacker
            .unpack(&request, &limits)
            .with_context(|| format!("unpack {tag}"))?;
        println!("unpacked {tag}: {} layers", outcome.layers);
        Ok(())
    };

    let bundle = work.join("bundle");
    unpack("base", &bundle)?;
    let rootfs = bundle.join("rootfs");
    fs::create_dir(rootfs.join("etc"))?;
    fs::write(rootfs.join("etc/motd"), "embedded\n")?;

    let request = RepackRequest {
        bundle: bundle.clone(),
        image: image("edited")?,
        masks: Vec::new(),
        mask_volumes: true,
        refresh_bundle: false,
        compression: CompressionChoice::Auto,
        history: Some(HistoryRequest {
            created_by: "examples/embed".into(),
            created: Some("2024-01-02T00:00:00Z".into()),
            ..HistoryRequest::default()
        }),
        source_date_epoch: None,
        progress: None,
    };
    let outcome = repacker.repack(&request, &limits).context("repack")?;
    let layer = outcome.layer.context("the edit produced no layer")?;
    println!(
        "repacked: added {}, modified {}, deleted {}; layer {} ({})",
        outcome.added, outcome.modified, outcome.deleted, layer.diff_id, layer.descriptor.digest
    );

    let check = work.join("check");
    unpack("edited", &check)?;
    let entries = |rootfs: &Path| -> Result<Vec<String>> {
        let text = repacker.mtree(&MtreeRequest::new(rootfs), &limits)?;
        // Entry lines only: the header names the tree and the time.
        Ok(text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect())
    };
    let (before, after) = (entries(&rootfs)?, entries(&check.join("rootfs"))?);
    ensure!(
        before == after,
        "the unpacked tree differs from the edited one"
    );
    println!("round trip: {} manifest lines agree", after.len());
    Ok(())
}
