//! The host's JSON loaders on arbitrary bytes.
//!
//! Input layout: `<json> [NUL <passwd> [NUL <group>]]`. The JSON part goes to
//! `BundleMeta::parse` (umoci.json), to `Descriptor::from_json` (after parsing it with
//! serde_json) and, when it is an object, to `runtime_config::generate` as the image
//! configuration with the passwd and group texts (absent parts are `None`).
//!
//! Checks: no panic; a `umoci.json` that loads re-encodes to a document that loads to
//! the same value; a descriptor that loads survives `to_value` → `from_json` unchanged;
//! a generated runtime config encodes to JSON that parses back to the same value, and
//! the rootless variant generates whenever the plain one does.

use repack_host::bundle::BundleMeta;
use repack_host::layout::descriptor::Descriptor;
use repack_host::runtime_config::{self, RuntimeOptions};
use serde_json::Value;

/// One input.
pub fn run(data: &[u8]) {
    let mut parts = data.splitn(3, |&b| b == 0);
    let json = parts.next().unwrap_or_default();
    let passwd = parts.next().map(String::from_utf8_lossy);
    let group = parts.next().map(String::from_utf8_lossy);

    if let Ok(meta) = BundleMeta::parse(json) {
        let encoded = meta.encode();
        let again = BundleMeta::parse(&encoded).unwrap_or_else(|e| {
            panic!(
                "a re-encoded umoci.json does not load: {e}\n{}",
                String::from_utf8_lossy(&encoded)
            )
        });
        assert_eq!(again, meta);
        assert_eq!(again.encode(), encoded, "encoding is not stable");
        let walk = meta.walk().expect("parse checked the walk");
        assert_eq!(meta.manifest_digest().ok(), walk.last().map(|d| d.digest.clone()));
    }

    let Ok(value) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    if let Ok(descriptor) = Descriptor::from_json(&value, "fuzz") {
        let again = Descriptor::from_json(&descriptor.to_value(), "fuzz")
            .expect("a descriptor's own value does not load");
        assert_eq!(again.media_type, descriptor.media_type);
        assert_eq!(again.digest, descriptor.digest);
        assert_eq!(again.size, descriptor.size);
        assert_eq!(again.json.len(), descriptor.json.len());
        let digest = descriptor.digest.clone();
        let moved = descriptor.retarget(digest.clone(), descriptor.size + 1);
        assert_eq!(moved.digest, digest);
        assert!(!moved.json.contains_key("data"));
    }

    let Value::Object(config) = &value else {
        return;
    };
    let plain = runtime_config::generate(
        config,
        passwd.as_deref(),
        group.as_deref(),
        &Default::default(),
    );
    if let Ok(spec) = &plain {
        check_encoding(spec);
    }
    // Rootless with mappings, without reading the host's /etc/resolv.conf.
    let rootless = RuntimeOptions {
        uid_mappings: vec![(0, 1000, 1)],
        gid_mappings: vec![(0, 1000, 1)],
        rootless: true,
    };
    let other = runtime_config::generate_with_resolv_conf(
        config,
        passwd.as_deref(),
        group.as_deref(),
        &rootless,
        Some(&["nosuid", "nodev"]),
    );
    assert_eq!(plain.is_ok(), other.is_ok(), "{plain:?} vs {other:?}");
    if let Ok(spec) = &other {
        check_encoding(spec);
    }
}

/// `runtime_config::encode` writes JSON that reads back as the same value.
fn check_encoding(spec: &Value) {
    let bytes = runtime_config::encode(spec);
    assert_eq!(bytes.last(), Some(&b'\n'));
    let back: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "encoded config.json does not parse: {e}\n{}",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert_eq!(&back, spec, "config.json does not read back as written");
}
