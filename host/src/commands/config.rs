//! `config`: a new image with an edited configuration (and manifest annotations), an
//! `empty_layer` history entry unless `--no-history`, tagged `--tag` or the same tag.

use anyhow::{Context, Result, anyhow};
use chrono::DateTime;
use repack_host::image::{self, BaseImage, history};
use repack_host::layout::{ImageRef, Layout, check_tag};
use repack_host::repack::config_edit::{Clear, ConfigEdit, parse_kv, push_history};
use serde_json::Value;

use crate::cli::{ClearKey, ConfigArgs};

/// The default `created_by` of our `config` history entries.
pub const CREATED_BY: &str = "repack-host config";

/// `NAME=VALUE` pairs of a repeatable flag.
fn pairs(flag: &str, values: &[String]) -> Result<Vec<(String, String)>> {
    values
        .iter()
        .map(|v| parse_kv(v).map_err(|e| anyhow!("--{flag}: {e}")))
        .collect()
}

/// An RFC 3339 flag value, in Go's format.
fn time(flag: &str, text: &str) -> Result<String> {
    let t = DateTime::parse_from_rfc3339(text)
        .map_err(|e| anyhow!("--{flag} {text:?} is not an RFC 3339 time: {e}"))?;
    Ok(history::format_time(&t))
}

/// The edit the flags describe.
pub fn edit(args: &ConfigArgs) -> Result<ConfigEdit> {
    let non_empty = |v: &[String]| (!v.is_empty()).then(|| v.to_vec());
    Ok(ConfigEdit {
        clear: args
            .clear
            .iter()
            .map(|c| match c {
                ClearKey::Labels => Clear::Labels,
                ClearKey::Annotations => Clear::Annotations,
                ClearKey::ExposedPorts => Clear::ExposedPorts,
                ClearKey::Env => Clear::Env,
                ClearKey::Volume => Clear::Volumes,
                ClearKey::Cmd => Clear::Cmd,
                ClearKey::Entrypoint => Clear::Entrypoint,
            })
            .collect(),
        created: args
            .created
            .as_deref()
            .map(|t| time("created", t))
            .transpose()?,
        author: args.author.clone(),
        os: args.os.clone(),
        architecture: args.architecture.clone(),
        variant: args.variant.clone(),
        user: args.user.clone(),
        working_dir: args.working_dir.clone(),
        stop_signal: args.stop_signal.clone(),
        exposed_ports: args.exposed_ports.clone(),
        env: pairs("config.env", &args.env)?,
        entrypoint: non_empty(&args.entrypoint),
        cmd: non_empty(&args.cmd),
        volumes: args.volume.clone(),
        labels: pairs("config.label", &args.label)?,
        annotations: pairs("manifest.annotation", &args.annotation)?,
    })
}

/// Run `config`.
pub fn run(args: &ConfigArgs) -> Result<()> {
    // Every flag is checked before the layout is touched.
    let image = ImageRef::parse(&args.image.image)?;
    let tag = match &args.tag {
        Some(t) => {
            check_tag(t).context("--tag")?;
            t.clone()
        }
        None => image.tag.clone(),
    };
    let edit = edit(args)?;
    let epoch = history::source_date_epoch(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref())
        .map_err(anyhow::Error::msg)?;
    let history = args.history.request(CREATED_BY);
    let history_created = history
        .as_ref()
        .and_then(|h| h.created.as_deref())
        .map(|t| time("history.created", t))
        .transpose()?;

    let layout = Layout::open(&image.layout)?;
    // A writer from the start: no garbage collection under the base image's blobs.
    layout.start_writing()?;
    let platform = super::unpack::platform(&args.platform)?;
    let walk = layout.resolve_platform(&image.tag, platform.as_ref())?;
    let base = BaseImage::load(&layout, walk)?;
    let mut config = base.config.clone();
    let mut annotations = base
        .manifest
        .get("annotations")
        .and_then(Value::as_object)
        .cloned();
    edit.apply(&mut config, &mut annotations);
    if let Some(h) = &history {
        let image_author = config.get("author").and_then(Value::as_str).unwrap_or("");
        let author = h.author.as_deref().unwrap_or(image_author);
        let created = history_created.unwrap_or_else(|| history::created(None, epoch));
        let entry = history::entry(
            &created,
            &h.created_by,
            author,
            h.comment.as_deref().unwrap_or(""),
            true,
        );
        push_history(&mut config, entry);
    }
    let walk = image::commit_config(&layout, &base, config, annotations)
        .context("writing the new image")?;
    layout.set_tag(&tag, &walk[0])?;
    tracing::info!(
        "new image manifest created: {}->{}",
        walk[0].digest,
        walk[walk.len() - 1].digest
    );
    tracing::info!("created new tag for image manifest: {tag}");
    Ok(())
}
