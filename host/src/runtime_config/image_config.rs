//! The image configuration read the way Go's `encoding/json` reads it into umoci's
//! structs: field names matched ASCII case-insensitively, a repeated field's last value
//! winning (objects merging), `null` leaving a string alone and clearing a list or map.
//! `oci-spec`'s typed reader is stricter (a test records a document it refuses that
//! umoci reads), so the fields the runtime configuration needs are read here.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::RuntimeConfigError;
use super::go::go_rfc3339;

/// The fields of an image configuration the runtime configuration uses.
pub(super) struct ImageConfig<'a> {
    /// Already in Go's RFC 3339 rendering (`0001-01-01T00:00:00Z` when absent).
    pub(super) created: String,
    pub(super) author: &'a str,
    pub(super) architecture: &'a str,
    pub(super) os: &'a str,
    pub(super) user: &'a str,
    /// `ExposedPorts`' keys, sorted.
    pub(super) exposed_ports: Vec<String>,
    pub(super) env: Vec<String>,
    pub(super) entrypoint: Vec<String>,
    pub(super) cmd: Vec<String>,
    /// `Volumes`' keys, sorted.
    pub(super) volumes: Vec<String>,
    pub(super) working_dir: &'a str,
    pub(super) labels: BTreeMap<String, String>,
    pub(super) stop_signal: &'a str,
}

impl<'a> ImageConfig<'a> {
    /// Read the fields from an image configuration object.
    pub(super) fn read(image: &'a Map<String, Value>) -> Result<Self, RuntimeConfigError> {
        let top = [image];
        // `config` is a struct: every occurrence is decoded into the same value, so
        // fields are looked up across all of them.
        let mut config = Vec::new();
        for v in matches(&top, "config") {
            match v {
                Value::Null => {}
                Value::Object(o) => config.push(o),
                _ => return Err(invalid("config", "an object")),
            }
        }
        let created = match matches(&top, "created").last() {
            None | Some(Value::Null) => "0001-01-01T00:00:00Z".to_owned(),
            Some(Value::String(s)) => {
                go_rfc3339(s).ok_or_else(|| RuntimeConfigError::InvalidCreated(s.clone()))?
            }
            Some(_) => return Err(invalid("created", "a string")),
        };
        Ok(ImageConfig {
            created,
            author: string_field(&top, "author", "")?,
            architecture: string_field(&top, "architecture", "")?,
            os: string_field(&top, "os", "")?,
            user: string_field(&config, "User", "config.")?,
            exposed_ports: set_field(&config, "ExposedPorts")?,
            env: strings_field(&config, "Env")?,
            entrypoint: strings_field(&config, "Entrypoint")?,
            cmd: strings_field(&config, "Cmd")?,
            volumes: set_field(&config, "Volumes")?,
            working_dir: string_field(&config, "WorkingDir", "config.")?,
            labels: labels_field(&config)?,
            stop_signal: string_field(&config, "StopSignal", "config.")?,
        })
    }
}

fn invalid(field: &str, expected: &'static str) -> RuntimeConfigError {
    RuntimeConfigError::InvalidField {
        field: field.to_owned(),
        expected,
    }
}

/// Every value whose key matches `name` (ASCII case-insensitively, as Go's decoder
/// matches struct fields), in document order.
fn matches<'a>(objects: &[&'a Map<String, Value>], name: &str) -> Vec<&'a Value> {
    objects
        .iter()
        .flat_map(|o| o.iter())
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .collect()
}

/// A string field: the last non-null value (Go leaves a string alone on `null`).
fn string_field<'a>(
    objects: &[&'a Map<String, Value>],
    name: &str,
    prefix: &str,
) -> Result<&'a str, RuntimeConfigError> {
    let mut out = "";
    for v in matches(objects, name) {
        match v {
            Value::Null => {}
            Value::String(s) => out = s,
            _ => return Err(invalid(&format!("{prefix}{name}"), "a string")),
        }
    }
    Ok(out)
}

/// A `[]string` field: the last value; `null` empties it, `null` elements are "".
fn strings_field(
    objects: &[&Map<String, Value>],
    name: &str,
) -> Result<Vec<String>, RuntimeConfigError> {
    let wrong = || invalid(&format!("config.{name}"), "an array of strings");
    match matches(objects, name).last() {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::Null => Ok(String::new()),
                Value::String(s) => Ok(s.clone()),
                _ => Err(wrong()),
            })
            .collect(),
        Some(_) => Err(wrong()),
    }
}

/// A map field: objects merge into it, `null` clears it.
fn map_field<'a>(
    objects: &[&'a Map<String, Value>],
    name: &str,
) -> Result<BTreeMap<String, &'a Value>, RuntimeConfigError> {
    let mut out = BTreeMap::new();
    for v in matches(objects, name) {
        match v {
            Value::Null => out.clear(),
            Value::Object(o) => out.extend(o.iter().map(|(k, v)| (k.clone(), v))),
            _ => return Err(invalid(&format!("config.{name}"), "an object")),
        }
    }
    Ok(out)
}

/// A `map[string]struct{}` field (ExposedPorts, Volumes): its keys, sorted.
fn set_field(
    objects: &[&Map<String, Value>],
    name: &str,
) -> Result<Vec<String>, RuntimeConfigError> {
    let map = map_field(objects, name)?;
    if map
        .values()
        .any(|v| !matches!(v, Value::Null | Value::Object(_)))
    {
        return Err(invalid(
            &format!("config.{name}"),
            "an object of empty objects",
        ));
    }
    Ok(map.into_keys().collect())
}

/// `Labels`: a `map[string]string` (`null` values are "").
fn labels_field(
    objects: &[&Map<String, Value>],
) -> Result<BTreeMap<String, String>, RuntimeConfigError> {
    map_field(objects, "Labels")?
        .into_iter()
        .map(|(k, v)| match v {
            Value::Null => Ok((k, String::new())),
            Value::String(s) => Ok((k, s.clone())),
            _ => Err(invalid("config.Labels", "an object of strings")),
        })
        .collect()
}
