//! Descriptors as JSON objects (unknown fields kept) with a checked view of the fields
//! we act on.

use serde_json::{Map, Value};

use super::{Digest, LayoutError};

/// Media type of an image manifest.
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an image index.
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of an image configuration.
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The annotation holding a tag.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The annotation umoci puts on compressed layers: the uncompressed size.
pub const UNCOMPRESSED_SIZE: &str = "ci.umo.uncompressed_blob_size";

/// A descriptor: its JSON and the checked fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Descriptor {
    /// The whole object as stored.
    pub json: Map<String, Value>,
    /// `mediaType`.
    pub media_type: String,
    /// `digest`.
    pub digest: Digest,
    /// `size`.
    pub size: u64,
}

impl Descriptor {
    /// Check a descriptor found in `what` (a file or blob name for messages).
    pub fn from_json(value: &Value, what: &str) -> Result<Self, LayoutError> {
        let bad = |why: String| LayoutError::Malformed {
            what: what.to_owned(),
            why,
        };
        let json = value
            .as_object()
            .ok_or_else(|| bad("a descriptor is not an object".into()))?
            .clone();
        let media_type = match json.get("mediaType") {
            Some(Value::String(s)) => s.clone(),
            None => String::new(),
            Some(_) => return Err(bad("a descriptor's mediaType is not a string".into())),
        };
        let digest = json
            .get("digest")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a descriptor has no digest".into()))?;
        let digest = Digest::parse(digest).map_err(|e| bad(e.to_string()))?;
        let size = match json.get("size") {
            Some(Value::Number(n)) => n.as_u64().ok_or_else(|| {
                bad(format!(
                    "descriptor {digest} has a negative or non-integer size {n}"
                ))
            })?,
            _ => return Err(bad(format!("descriptor {digest} has no size"))),
        };
        Ok(Descriptor {
            json,
            media_type,
            digest,
            size,
        })
    }

    /// A descriptor with just these three fields.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Self {
        let mut json = Map::new();
        json.insert("mediaType".into(), media_type.into());
        json.insert("digest".into(), digest.to_string().into());
        json.insert("size".into(), size.into());
        Descriptor {
            json,
            media_type: media_type.to_owned(),
            digest,
            size,
        }
    }

    /// The same descriptor pointing at another blob: digest and size replaced, embedded
    /// `data` dropped (it described the old bytes), everything else kept.
    pub fn retarget(&self, digest: Digest, size: u64) -> Self {
        let mut json = self.json.clone();
        json.insert("digest".into(), digest.to_string().into());
        json.insert("size".into(), size.into());
        json.shift_remove("data");
        Descriptor {
            json,
            media_type: self.media_type.clone(),
            digest,
            size,
        }
    }

    /// An annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.json.get("annotations")?.get(key)?.as_str()
    }

    /// Set an annotation.
    pub fn set_annotation(&mut self, key: &str, value: &str) {
        let annotations = self
            .json
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if !annotations.is_object() {
            *annotations = Value::Object(Map::new());
        }
        if let Value::Object(map) = annotations {
            map.insert(key.to_owned(), value.into());
        }
    }

    /// The JSON in descriptor field order.
    pub fn to_value(&self) -> Value {
        Value::Object(super::json::ordered(
            self.json.clone(),
            super::json::DESCRIPTOR_FIELDS,
        ))
    }
}

/// The descriptors listed under `key` of a document (`manifests` of an index, `layers`
/// of a manifest): absent or `null` is none; anything but a list is malformed.
pub fn list(
    doc: &serde_json::Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Vec<Descriptor>, LayoutError> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|d| Descriptor::from_json(d, what))
            .collect(),
        Some(_) => Err(LayoutError::Malformed {
            what: what.to_owned(),
            why: format!("{key} is not a list"),
        }),
    }
}
