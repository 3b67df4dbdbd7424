//! A new, empty image: a config for this platform with no layers, and its manifest.

use serde_json::{Value, json};

use super::descriptor::{self, Descriptor};
use super::{Layout, LayoutError};

/// The OCI (Go) name of this machine's architecture.
pub fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// Write an empty image (config `created` = `created`) and tag it; returns the
/// manifest descriptor.
pub fn new_image(layout: &Layout, tag: &str, created: &str) -> Result<Descriptor, LayoutError> {
    super::check_tag(tag)?;
    let config = json!({
        "created": created,
        "architecture": architecture(),
        "os": std::env::consts::OS,
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": []},
    });
    let config = layout.put_json(descriptor::CONFIG, &config)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": descriptor::MANIFEST,
        "config": config.to_value(),
        "layers": Value::Array(Vec::new()),
    });
    let manifest = layout.put_json(descriptor::MANIFEST, &manifest)?;
    layout.set_tag(tag, &manifest)?;
    Ok(manifest)
}
