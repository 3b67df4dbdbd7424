//! JSON as the Go encoder writes it (compact, `<` `>` `&` escaped, a trailing newline),
//! with known fields in the OCI structs' order, so blobs written by umoci and by us
//! look alike and an unchanged document re-encodes to the same bytes.

use serde_json::ser::CompactFormatter;
use serde_json::{Map, Value};

/// Field order of an image index.
pub const INDEX_FIELDS: &[&str] = &[
    "schemaVersion",
    "mediaType",
    "artifactType",
    "manifests",
    "subject",
    "annotations",
];
/// Field order of an image manifest.
pub const MANIFEST_FIELDS: &[&str] = &[
    "schemaVersion",
    "mediaType",
    "artifactType",
    "config",
    "layers",
    "subject",
    "annotations",
];
/// Field order of a descriptor.
pub const DESCRIPTOR_FIELDS: &[&str] = &[
    "mediaType",
    "digest",
    "size",
    "urls",
    "annotations",
    "data",
    "platform",
    "artifactType",
];
/// Field order of an image configuration.
pub const CONFIG_FIELDS: &[&str] = &[
    "created",
    "author",
    "architecture",
    "os",
    "os.version",
    "os.features",
    "variant",
    "config",
    "rootfs",
    "history",
];
/// Field order of a history entry.
pub const HISTORY_FIELDS: &[&str] = &["created", "created_by", "author", "comment", "empty_layer"];

/// Reorder `object`: the `known` fields first in that order, then any others as they
/// were (unknown fields are kept, not dropped).
pub fn ordered(mut object: Map<String, Value>, known: &[&str]) -> Map<String, Value> {
    let mut out = Map::with_capacity(object.len());
    for key in known {
        if let Some(v) = object.shift_remove(*key) {
            out.insert((*key).to_owned(), v);
        }
    }
    out.extend(object);
    out
}

/// Encode `value` as Go's `json.Encoder` does, newline included.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        crate::go_json::GoFormatter(CompactFormatter),
    );
    serde::Serialize::serialize(value, &mut ser).expect("serializing a Value cannot fail");
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_go_and_ends_with_a_newline() {
        let v: Value = serde_json::from_str(r#"{"b":"<a & b>","a":"\u2028"}"#).unwrap();
        assert_eq!(
            encode(&v),
            b"{\"b\":\"\\u003ca \\u0026 b\\u003e\",\"a\":\"\\u2028\"}\n"
        );
    }

    #[test]
    fn control_characters_escape_like_go() {
        let v: Value = serde_json::from_str(r#"["\b\f\n\u0001"]"#).unwrap();
        assert_eq!(encode(&v), b"[\"\\u0008\\u000c\\n\\u0001\"]\n");
    }

    #[test]
    fn known_fields_first_unknown_kept() {
        let v: Value = serde_json::from_str(r#"{"x":1,"size":2,"digest":"d"}"#).unwrap();
        let Value::Object(m) = v else { unreachable!() };
        let m = ordered(m, DESCRIPTOR_FIELDS);
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"digest":"d","size":2,"x":1}"#
        );
    }

    #[test]
    fn an_umoci_blob_reencodes_to_the_same_bytes() {
        let blob = b"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:00\",\"size\":1},\"layers\":[],\"annotations\":{\"a\":\"\\u003c\"}}\n";
        let v: Value = serde_json::from_slice(blob).unwrap();
        assert_eq!(encode(&v), blob);
    }
}
