//! `run` (alias `repack`): commit a bundle's changes as a new layer and tag it.

use std::io::IsTerminal;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use repack_host::layout::ImageRef;
use repack_host::repack::{Outcome, Request};
use serde_json::json;

use super::{limits, registry, repacker};
use crate::cli::{GlobalArgs, RepackArgs};

/// The default `created_by` of our history entries.
pub const CREATED_BY: &str = "repack-host run";

/// Build the request the flags describe.
pub fn request(args: &RepackArgs) -> Result<Request> {
    if args.bundle.as_os_str().is_empty() {
        bail!("the bundle path is empty");
    }
    let image = ImageRef::parse(&args.image.image)?;
    let compression = args.compress.into();
    let history = args.history.request(CREATED_BY);
    Ok(Request {
        bundle: args.bundle.clone(),
        image,
        masks: args.mask_path.clone(),
        mask_volumes: !args.no_mask_volumes,
        refresh_bundle: args.refresh_bundle,
        compression,
        history,
        source_date_epoch: std::env::var("SOURCE_DATE_EPOCH").ok(),
        progress: None,
    })
}

/// A byte counter on stderr, only when it is a terminal.
fn progress() -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} writing layer: {bytes} ({bytes_per_sec})")
            .expect("a valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    Some(bar)
}

/// Run `repack-host run`.
pub fn run(global: &GlobalArgs, args: &RepackArgs) -> Result<()> {
    let start = std::time::Instant::now();
    let mut request = request(args)?;
    let push = args
        .push
        .as_deref()
        .map(|text| registry::push_target(text, &request.image.tag))
        .transpose()?;
    request.progress = progress();
    let engine = repacker(global)?;
    let loaded = start.elapsed();
    let outcome = engine.repack(&request, &limits(global));
    if let Some(bar) = &request.progress {
        bar.finish_and_clear();
    }
    let outcome = outcome.with_context(|| format!("repack {}", args.bundle.display()))?;
    for warning in &outcome.warnings {
        tracing::warn!("{warning}");
    }
    print(&outcome, args.json);
    if let Some(reference) = &push {
        registry::push_image(&request.image, reference, &args.registry)?;
    }
    if args.stats {
        let mut stats = outcome.stats.clone();
        stats
            .phases
            .insert(0, ("engine and component".into(), loaded));
        eprintln!("{stats}");
    }
    Ok(())
}

/// One line of text, or the same as JSON.
pub fn print(outcome: &Outcome, as_json: bool) {
    if as_json {
        let layer = outcome.layer.as_ref().map(|l| {
            json!({
                "mediaType": l.descriptor.media_type,
                "digest": l.descriptor.digest.to_string(),
                "size": l.descriptor.size,
                "diffID": l.diff_id.to_string(),
                "uncompressedSize": l.uncompressed_size,
            })
        });
        let value = json!({
            "manifest": outcome.manifest.digest.to_string(),
            "added": outcome.added,
            "modified": outcome.modified,
            "deleted": outcome.deleted,
            "layer": layer,
            "warnings": outcome.warnings,
        });
        println!("{value}");
        return;
    }
    let layer = match &outcome.layer {
        Some(l) => format!(
            "layer {} bytes ({} uncompressed)",
            l.descriptor.size, l.uncompressed_size
        ),
        None => "no layer (nothing changed)".into(),
    };
    println!(
        "{} added {}, modified {}, deleted {}, {layer}",
        outcome.manifest.digest, outcome.added, outcome.modified, outcome.deleted
    );
}
