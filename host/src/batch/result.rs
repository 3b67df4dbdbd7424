//! One job's result line: `id`, `ok`, `error` (one line) and `limit` when it failed,
//! what the operation made, and `usage`.

use serde_json::{Map, Value, json};

use super::Options;
use super::spec::{self, JobSpec, Operation};
use crate::Repacker;
use crate::layout::LayoutError;
use crate::layout::writer::OverBudget;
use crate::repack::RepackError;
use crate::repacker::JobError;
use crate::sandbox::{Budget, Usage, metered};
use crate::unpack::UnpackError;

/// How a line ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The job succeeded.
    Done,
    /// The job ran and failed.
    Failed,
    /// The line was not a job.
    Malformed,
}

/// A line's result.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// How it ended.
    pub kind: Kind,
    /// The result line.
    pub json: Value,
}

/// Why a job failed, and the budget it went past if that is why.
struct Failure {
    error: String,
    limit: Option<Budget>,
}

impl From<JobError> for Failure {
    fn from(e: JobError) -> Self {
        Failure {
            limit: e.budget(),
            error: e.to_string(),
        }
    }
}

impl From<RepackError> for Failure {
    fn from(e: RepackError) -> Self {
        let limit = match &e {
            RepackError::Job(job) => job.budget(),
            RepackError::Layout(layout) => layout_budget(layout),
            _ => None,
        };
        Failure {
            limit,
            error: e.to_string(),
        }
    }
}

impl From<UnpackError> for Failure {
    fn from(e: UnpackError) -> Self {
        let limit = match &e {
            UnpackError::Job(job) => job.budget(),
            _ => None,
        };
        Failure {
            limit,
            error: e.to_string(),
        }
    }
}

/// A compressed layer stopped at its budget while being finished.
fn layout_budget(e: &LayoutError) -> Option<Budget> {
    match e {
        LayoutError::Io { error, .. } => error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<OverBudget>())
            .map(|_| Budget::LayerCompressed),
        _ => None,
    }
}

/// `text` on one line: its lines (a trap's stderr excerpt) joined with `; `.
pub fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("; ")
}

/// What a job used, as its result reports it.
pub fn usage_json(usage: &Usage) -> Value {
    let ms = |d: std::time::Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
    json!({
        "wall_ms": ms(usage.wall),
        "cpu_ms": ms(usage.cpu),
        "memory_peak": usage.memory_peak,
        "bytes_read": usage.bytes_read,
        "bytes_written": usage.bytes_written,
        "layer_compressed": usage.layer_compressed,
        "host_calls": usage.host_calls,
    })
}

/// Parse and run line `number`.
pub fn run_line(repacker: &Repacker, line: &str, number: u64, options: &Options) -> Outcome {
    let spec = match spec::parse(line, &options.limits) {
        Ok(spec) => spec,
        Err(why) => {
            let mut fields = Map::new();
            if let Some(id) = spec::id_of(line) {
                fields.insert("id".into(), id.into());
            }
            fields.insert("line".into(), number.into());
            fields.insert("ok".into(), false.into());
            let error = format!("{}:{number}: {}", options.source, one_line(&why));
            fields.insert("error".into(), error.into());
            return Outcome {
                kind: Kind::Malformed,
                json: Value::Object(fields),
            };
        }
    };
    let (result, usage) = metered(|| execute(repacker, &spec));
    let mut fields = Map::new();
    fields.insert("id".into(), spec.id.clone().into());
    fields.insert("line".into(), number.into());
    let kind = match result {
        Ok(made) => {
            fields.insert("ok".into(), true.into());
            fields.extend(made);
            Kind::Done
        }
        Err(failure) => {
            fields.insert("ok".into(), false.into());
            fields.insert("error".into(), one_line(&failure.error).into());
            if let Some(limit) = failure.limit {
                fields.insert("limit".into(), limit.name().into());
            }
            Kind::Failed
        }
    };
    fields.insert("usage".into(), usage_json(&usage));
    Outcome {
        kind,
        json: Value::Object(fields),
    }
}

/// Run one job; on success, the fields describing what it made.
fn execute(repacker: &Repacker, spec: &JobSpec) -> Result<Map<String, Value>, Failure> {
    let made = match &spec.operation {
        Operation::Run(request) => {
            let outcome = repacker.repack(request, &spec.limits)?;
            let layer = outcome.layer.as_ref().map(|l| {
                json!({
                    "mediaType": l.descriptor.media_type,
                    "digest": l.descriptor.digest.to_string(),
                    "size": l.descriptor.size,
                    "diffID": l.diff_id.to_string(),
                    "uncompressedSize": l.uncompressed_size,
                })
            });
            json!({
                "manifest": outcome.manifest.digest.to_string(),
                "added": outcome.added,
                "modified": outcome.modified,
                "deleted": outcome.deleted,
                "layer": layer,
                "warnings": outcome.warnings,
            })
        }
        Operation::Unpack(request) => {
            let outcome = repacker.unpack(request, &spec.limits)?;
            json!({
                "manifest": outcome.manifest,
                "layers": outcome.layers,
                "warnings": outcome.warnings,
            })
        }
        Operation::Mtree(request) => {
            let text = repacker.mtree(request, &spec.limits)?;
            json!({ "mtree": text })
        }
    };
    match made {
        Value::Object(map) => Ok(map),
        _ => unreachable!("json! of an object is an object"),
    }
}
