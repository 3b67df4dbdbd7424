//! The base image of a bundle, and committing a new image on top of it: config,
//! manifest, every ancestor index of the descriptor walk, then the tag.

use serde_json::{Map, Value};

use crate::layout::descriptor::{self, Descriptor};
use crate::layout::{Layout, LayoutError, json, parse_object};

/// A base image loaded from the layout, verified.
#[derive(Debug, Clone)]
pub struct BaseImage {
    /// From the `index.json` entry to the manifest.
    pub walk: Vec<Descriptor>,
    /// The manifest.
    pub manifest: Map<String, Value>,
    /// The config.
    pub config: Map<String, Value>,
    /// The config descriptor in the manifest.
    pub config_desc: Descriptor,
}

fn malformed(what: &str, why: impl Into<String>) -> LayoutError {
    LayoutError::Malformed {
        what: what.to_owned(),
        why: why.into(),
    }
}

impl BaseImage {
    /// Load the manifest at the end of `walk` and its config.
    pub fn load(layout: &Layout, walk: Vec<Descriptor>) -> Result<Self, LayoutError> {
        let desc = walk.last().expect("walks are never empty").clone();
        let what = format!("manifest blob {}", desc.digest);
        let manifest = parse_object(&layout.read_json_blob(&desc)?, &what)?;
        match manifest.get("mediaType") {
            None => {}
            Some(Value::String(m)) if m == descriptor::MANIFEST => {}
            Some(_) => return Err(malformed(&what, "mediaType is not the image manifest type")),
        }
        if manifest.contains_key("manifests") {
            return Err(malformed(&what, "a manifest with index fields (manifests)"));
        }
        if manifest.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
            return Err(malformed(&what, "schemaVersion is not 2"));
        }
        let config_desc = Descriptor::from_json(
            manifest
                .get("config")
                .ok_or_else(|| malformed(&what, "no config"))?,
            &what,
        )?;
        if config_desc.media_type != descriptor::CONFIG {
            return Err(malformed(
                &what,
                format!(
                    "config media type {:?} is not the image config type",
                    config_desc.media_type
                ),
            ));
        }
        descriptor::list(&manifest, "layers", &what)?;
        let cwhat = format!("config blob {}", config_desc.digest);
        let config = parse_object(&layout.read_json_blob(&config_desc)?, &cwhat)?;
        match config.get("rootfs") {
            Some(Value::Object(r)) if r.get("type").and_then(Value::as_str) == Some("layers") => {}
            _ => return Err(malformed(&cwhat, "rootfs.type is not \"layers\"")),
        }
        Ok(BaseImage {
            walk,
            manifest,
            config,
            config_desc,
        })
    }

    /// The layer descriptors.
    pub fn layers(&self) -> Vec<Descriptor> {
        descriptor::list(&self.manifest, "layers", "manifest").unwrap_or_default()
    }

    /// The config's `config.Volumes` keys.
    pub fn volumes(&self) -> Vec<String> {
        self.config
            .get("config")
            .and_then(|c| c.get("Volumes"))
            .and_then(Value::as_object)
            .map(|v| v.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The config's `author`.
    pub fn author(&self) -> &str {
        self.config
            .get("author")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// What to add to the base image.
#[derive(Debug, Clone, Default)]
pub struct Addition {
    /// A new layer: its descriptor and diff_id.
    pub layer: Option<(Descriptor, String)>,
    /// A history entry to append.
    pub history: Option<Value>,
}

/// Write the new config, manifest and ancestors; returns the new walk (root first).
/// Nothing is written when `addition` adds nothing: the base walk comes back.
pub fn commit(
    layout: &Layout,
    base: &BaseImage,
    addition: &Addition,
) -> Result<Vec<Descriptor>, LayoutError> {
    if addition.layer.is_none() && addition.history.is_none() {
        return Ok(base.walk.clone());
    }
    let mut config = base.config.clone();
    let rootfs = config
        .entry("rootfs")
        .or_insert_with(|| Value::Object(Map::new()));
    if let (Some((_, diff_id)), Value::Object(rootfs)) = (&addition.layer, rootfs) {
        let ids = rootfs
            .entry("diff_ids")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !ids.is_array() {
            *ids = Value::Array(Vec::new());
        }
        if let Value::Array(ids) = ids {
            ids.push(diff_id.clone().into());
        }
    }
    if let Some(entry) = &addition.history {
        let history = config
            .entry("history")
            .or_insert_with(|| Value::Array(Vec::new()));
        if !history.is_array() {
            *history = Value::Array(Vec::new());
        }
        if let Value::Array(h) = history {
            h.push(entry.clone());
        }
    }
    let mut manifest = base.manifest.clone();
    if let Some((layer, _)) = &addition.layer {
        let mut list = match manifest.shift_remove("layers") {
            Some(Value::Array(list)) => list,
            _ => Vec::new(),
        };
        list.push(layer.to_value());
        manifest.insert("layers".into(), Value::Array(list));
    }
    write_image(layout, base, config, manifest)
}

/// Write an edited config (history entry included, if any) and manifest annotations
/// (`None`: none) on top of `base`, as `config` does; returns the new walk. Always
/// writes, even when nothing changed.
pub fn commit_config(
    layout: &Layout,
    base: &BaseImage,
    config: Map<String, Value>,
    annotations: Option<Map<String, Value>>,
) -> Result<Vec<Descriptor>, LayoutError> {
    let mut manifest = base.manifest.clone();
    match annotations {
        Some(a) if !a.is_empty() => {
            manifest.insert("annotations".into(), Value::Object(a));
        }
        _ => {
            manifest.shift_remove("annotations");
        }
    }
    write_image(layout, base, config, manifest)
}

/// Store `config`, then `manifest` pointing at it, then every ancestor index of the
/// base's walk; returns the new walk (root first).
fn write_image(
    layout: &Layout,
    base: &BaseImage,
    config: Map<String, Value>,
    mut manifest: Map<String, Value>,
) -> Result<Vec<Descriptor>, LayoutError> {
    let config = json::ordered(config, json::CONFIG_FIELDS);
    let new_config = layout.put_json(descriptor::CONFIG, &Value::Object(config))?;
    let config_desc = base
        .config_desc
        .retarget(new_config.digest.clone(), new_config.size);
    manifest.insert("config".into(), config_desc.to_value());
    manifest
        .entry("mediaType")
        .or_insert_with(|| descriptor::MANIFEST.into());
    let manifest = json::ordered(manifest, json::MANIFEST_FIELDS);
    let new_manifest = layout.put_json(descriptor::MANIFEST, &Value::Object(manifest))?;

    // Rewrite each ancestor index bottom-up to point at its new child.
    let mut walk = base.walk.clone();
    let last = walk.len() - 1;
    walk[last] = walk[last].retarget(new_manifest.digest, new_manifest.size);
    for i in (0..last).rev() {
        let old_child = &base.walk[i + 1].digest;
        let new_child = walk[i + 1].clone();
        let what = format!("index blob {}", walk[i].digest);
        let mut index = parse_object(&layout.read_json_blob(&walk[i])?, &what)?;
        if let Some(Value::Array(list)) = index.get_mut("manifests") {
            for d in list.iter_mut() {
                let child = Descriptor::from_json(d, &what)?;
                if &child.digest == old_child {
                    *d = child
                        .retarget(new_child.digest.clone(), new_child.size)
                        .to_value();
                }
            }
        }
        let index = json::ordered(index, json::INDEX_FIELDS);
        let stored = layout.put_json(descriptor::INDEX, &Value::Object(index))?;
        walk[i] = walk[i].retarget(stored.digest, stored.size);
    }
    Ok(walk)
}
