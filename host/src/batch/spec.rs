//! One line of a jobs file: a JSON object naming the job, its operation, its inputs,
//! the operation's options and the job's budgets.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

use crate::MtreeRequest;
use crate::image::{CompressionChoice, HistoryRequest};
use crate::layout::{Compression, ImageRef};
use crate::repack;
use crate::sandbox::{Budget, Limits};
use crate::unpack::{self, parse_map};

/// The `created_by` of history entries batch `run` jobs add unless they name one: the
/// same as `repack-host run`'s, so a job gives the same image either way.
pub const CREATED_BY: &str = "repack-host run";

/// A job's operation and its request.
#[derive(Debug, Clone)]
pub enum Operation {
    /// `run`: repack a bundle into `image`.
    Run(repack::Request),
    /// `unpack`: unpack `image` into a new bundle.
    Unpack(unpack::Request),
    /// `mtree`: the manifest of `BUNDLE/rootfs`.
    Mtree(MtreeRequest),
}

/// One job of a batch.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The caller's name for it, echoed in its result.
    pub id: String,
    /// What to do.
    pub operation: Operation,
    /// Its budgets.
    pub limits: Limits,
}

/// A job's id, as found in a line that may be malformed otherwise.
pub fn id_of(line: &str) -> Option<String> {
    let value: Value = serde_json::from_str(line).ok()?;
    id_text(value.get("id")?)
}

fn id_text(id: &Value) -> Option<String> {
    match id {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The history field: `false` for none, or the entry's fields.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum History {
    Flag(bool),
    Entry(HistoryFields),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryFields {
    author: Option<String>,
    comment: Option<String>,
    created: Option<String>,
    created_by: Option<String>,
}

/// Every field a line may hold; which apply depends on `op`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    id: Value,
    op: String,
    image: Option<String>,
    bundle: Option<PathBuf>,
    // run
    compress: Option<String>,
    #[serde(default)]
    mask_paths: Vec<String>,
    mask_volumes: Option<bool>,
    refresh_bundle: Option<bool>,
    history: Option<History>,
    source_date_epoch: Option<Value>,
    // unpack
    #[serde(default)]
    uid_map: Vec<String>,
    #[serde(default)]
    gid_map: Vec<String>,
    rootless: Option<bool>,
    keep_dirlinks: Option<bool>,
    platform: Option<String>,
    // all
    #[serde(default)]
    limits: BTreeMap<String, Value>,
}

/// The fields each operation takes besides `id`, `op`, `bundle` and `limits`.
const RUN_FIELDS: &[&str] = &[
    "image",
    "compress",
    "mask_paths",
    "mask_volumes",
    "refresh_bundle",
    "history",
    "source_date_epoch",
];
const UNPACK_FIELDS: &[&str] = &["image", "uid_map", "gid_map", "rootless", "keep_dirlinks"];

impl Line {
    /// The option fields this line sets.
    fn set_fields(&self) -> Vec<&'static str> {
        let set = [
            ("image", self.image.is_some()),
            ("compress", self.compress.is_some()),
            ("mask_paths", !self.mask_paths.is_empty()),
            ("mask_volumes", self.mask_volumes.is_some()),
            ("refresh_bundle", self.refresh_bundle.is_some()),
            ("history", self.history.is_some()),
            ("source_date_epoch", self.source_date_epoch.is_some()),
            ("uid_map", !self.uid_map.is_empty()),
            ("gid_map", !self.gid_map.is_empty()),
            ("rootless", self.rootless.is_some()),
            ("keep_dirlinks", self.keep_dirlinks.is_some()),
        ];
        set.into_iter().filter(|s| s.1).map(|s| s.0).collect()
    }
}

/// Parse one line against `base`, the budgets a job has unless it names others.
pub fn parse(line: &str, base: &Limits) -> Result<JobSpec, String> {
    let line: Line = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let id = id_text(&line.id).ok_or("\"id\" must be a string or a number")?;
    let allowed: &[&str] = match line.op.as_str() {
        "run" => RUN_FIELDS,
        "unpack" => UNPACK_FIELDS,
        "mtree" => &[],
        other => {
            return Err(format!(
                "unknown op {other:?} (use \"run\", \"unpack\" or \"mtree\")"
            ));
        }
    };
    if let Some(field) = line.set_fields().into_iter().find(|f| !allowed.contains(f)) {
        return Err(format!("{field:?} does not apply to op {:?}", line.op));
    }
    let limits = limits(&line.limits, base)?;
    let bundle = line
        .bundle
        .clone()
        .filter(|b| !b.as_os_str().is_empty())
        .ok_or("\"bundle\" is missing")?;
    let image = || -> Result<ImageRef, String> {
        let text = line.image.as_deref().ok_or("\"image\" is missing")?;
        ImageRef::parse(text).map_err(|e| e.to_string())
    };
    let operation = match line.op.as_str() {
        "run" => Operation::Run(run_request(&line, image()?, bundle)?),
        "unpack" => Operation::Unpack(unpack_request(&line, image()?, bundle, &limits)?),
        _ => {
            let rootfs = bundle.join("rootfs");
            Operation::Mtree(MtreeRequest::new(rootfs))
        }
    };
    Ok(JobSpec {
        id,
        operation,
        limits,
    })
}

/// `base` with the budgets `given` names.
fn limits(given: &BTreeMap<String, Value>, base: &Limits) -> Result<Limits, String> {
    let mut limits = *base;
    for (name, value) in given {
        let budget = Budget::from_name(name).ok_or_else(|| {
            let names: Vec<_> = Budget::ALL.iter().map(|b| b.name()).collect();
            format!("unknown limit {name:?} (known: {})", names.join(", "))
        })?;
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(format!("limit {name:?} must be a string or a number")),
        };
        limits
            .set(budget, &text)
            .map_err(|e| format!("limit {name:?}: {e}"))?;
    }
    Ok(limits)
}

fn run_request(line: &Line, image: ImageRef, bundle: PathBuf) -> Result<repack::Request, String> {
    let compression = match line.compress.as_deref().unwrap_or("auto") {
        "auto" => CompressionChoice::Auto,
        "none" => CompressionChoice::Fixed(Compression::None),
        "gzip" => CompressionChoice::Fixed(Compression::Gzip),
        "zstd" => CompressionChoice::Fixed(Compression::Zstd),
        other => {
            return Err(format!(
                "compress {other:?} is not one of auto, none, gzip, zstd"
            ));
        }
    };
    let history = match &line.history {
        Some(History::Flag(false)) => None,
        Some(History::Flag(true)) | None => Some(HistoryFields::default()),
        Some(History::Entry(fields)) => Some(HistoryFields {
            author: fields.author.clone(),
            comment: fields.comment.clone(),
            created: fields.created.clone(),
            created_by: fields.created_by.clone(),
        }),
    }
    .map(|h| HistoryRequest {
        author: h.author,
        comment: h.comment,
        created: h.created,
        created_by: h.created_by.unwrap_or_else(|| CREATED_BY.to_owned()),
    });
    let source_date_epoch = match &line.source_date_epoch {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err("\"source_date_epoch\" must be a string or a number".into()),
    };
    Ok(repack::Request {
        bundle,
        image,
        masks: line.mask_paths.clone(),
        mask_volumes: line.mask_volumes.unwrap_or(true),
        refresh_bundle: line.refresh_bundle.unwrap_or(false),
        compression,
        history,
        source_date_epoch,
        progress: None,
    })
}

fn unpack_request(
    line: &Line,
    image: ImageRef,
    bundle: PathBuf,
    limits: &Limits,
) -> Result<unpack::Request, String> {
    let maps =
        |list: &[String]| -> Result<Vec<_>, String> { list.iter().map(|m| parse_map(m)).collect() };
    Ok(unpack::Request {
        image,
        bundle,
        options: unpack::Options {
            uid_maps: maps(&line.uid_map)?,
            gid_maps: maps(&line.gid_map)?,
            rootless: line.rootless.unwrap_or(false),
            keep_dirlinks: line.keep_dirlinks.unwrap_or(false),
            max_layer_size: limits.max_layer_size,
            platform: line
                .platform
                .as_deref()
                .map(crate::layout::Platform::parse)
                .transpose()
                .map_err(|e| e.to_string())?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(line: &str) -> Result<JobSpec, String> {
        parse(line, &Limits::default())
    }

    #[test]
    fn a_run_line_with_options_and_limits() {
        let spec = job(r#"{"id": "a", "op": "run", "image": "l:t", "bundle": "b",
            "compress": "zstd", "mask_paths": ["/tmp"], "history": {"comment": "c"},
            "source_date_epoch": 7, "limits": {"memory": "256M", "timeout": "30s",
            "max_layer_written": "1G", "max_open_files": 8}}"#)
        .unwrap();
        assert_eq!(spec.id, "a");
        assert_eq!(spec.limits.max_memory, 256 << 20);
        assert_eq!(spec.limits.max_layer_written, 1 << 30);
        assert_eq!(spec.limits.max_open_files, 8);
        let Operation::Run(r) = spec.operation else {
            panic!("not a run")
        };
        assert_eq!(r.image.tag, "t");
        assert_eq!(r.compression, CompressionChoice::Fixed(Compression::Zstd));
        assert_eq!(r.source_date_epoch.as_deref(), Some("7"));
        let history = r.history.unwrap();
        assert_eq!(history.comment.as_deref(), Some("c"));
        assert_eq!(history.created_by, CREATED_BY);
    }

    #[test]
    fn unpack_and_mtree_lines() {
        let spec = job(r#"{"id": 3, "op": "unpack", "image": "l", "bundle": "b",
            "rootless": true, "uid_map": ["0:1000:1"], "limits": {"max_layer_size": "1M"}}"#)
        .unwrap();
        assert_eq!(spec.id, "3");
        let Operation::Unpack(u) = spec.operation else {
            panic!("not an unpack")
        };
        assert!(u.options.rootless);
        assert_eq!(u.options.max_layer_size, 1 << 20);
        assert_eq!(u.image.tag, "latest");
        let spec = job(r#"{"id": "m", "op": "mtree", "bundle": "b"}"#).unwrap();
        let Operation::Mtree(m) = spec.operation else {
            panic!("not an mtree")
        };
        assert_eq!(m.rootfs, PathBuf::from("b/rootfs"));
    }

    #[test]
    fn bad_lines_say_why() {
        let cases = [
            ("{", "EOF"),
            (r#"{"id": "a", "op": "fly", "bundle": "b"}"#, "unknown op"),
            (
                r#"{"id": "a", "op": "run", "bundle": "b"}"#,
                "\"image\" is missing",
            ),
            (r#"{"id": "a", "op": "mtree"}"#, "\"bundle\" is missing"),
            (
                r#"{"id": "a", "op": "mtree", "bundle": "b", "rootless": true}"#,
                "does not apply",
            ),
            (
                r#"{"id": "a", "op": "mtree", "bundle": "b", "colour": 1}"#,
                "unknown field",
            ),
            (
                r#"{"id": "a", "op": "mtree", "bundle": "b", "limits": {"cpu": "1"}}"#,
                "unknown limit",
            ),
            (
                r#"{"id": "a", "op": "mtree", "bundle": "b", "limits": {"memory": "lots"}}"#,
                "not a size",
            ),
            (r#"{"id": [], "op": "mtree", "bundle": "b"}"#, "\"id\""),
            (
                r#"{"id": "a", "op": "run", "image": "l", "bundle": "b", "compress": "xz"}"#,
                "xz",
            ),
        ];
        for (line, why) in cases {
            let err = job(line).unwrap_err();
            assert!(err.contains(why), "{line}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
        assert_eq!(id_of(r#"{"id": "x", "op": 1}"#).as_deref(), Some("x"));
    }
}
