//! `umoci.json`: which image a bundle came from and how its owners are mapped.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::layout::descriptor::{self, Descriptor};
use crate::layout::{Digest, json};

/// The file name.
pub const FILE: &str = "umoci.json";

/// The only metadata format version there is.
pub const VERSION: &str = "2";

/// One id mapping range, with the runtime spec's field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    /// First id in the container.
    #[serde(rename = "containerID")]
    pub container_id: u32,
    /// First id on the host.
    #[serde(rename = "hostID")]
    pub host_id: u32,
    /// Number of ids.
    pub size: u32,
}

/// The most ranges one mapping may have (the kernel's limit for `uid_map`).
pub const MAX_ID_MAPS: usize = 340;

/// Check id mapping ranges (`what` names them in errors): each size is non-zero, each
/// range fits in 32 bits on both sides (container id + size and host id + size at most
/// 2^32), and there are at most [`MAX_ID_MAPS`] of them.
pub fn check_maps(maps: &[IdMap], what: &str) -> Result<(), String> {
    if maps.len() > MAX_ID_MAPS {
        return Err(format!(
            "{what}: {} ranges; at most {MAX_ID_MAPS} are allowed",
            maps.len()
        ));
    }
    for m in maps {
        let range = format!("{what}: range {}:{}:{}", m.container_id, m.host_id, m.size);
        if m.size == 0 {
            return Err(format!("{range} has size 0"));
        }
        if u64::from(m.container_id) + u64::from(m.size) > 1 << 32 {
            return Err(format!("{range}: container ids run past 4294967295"));
        }
        if u64::from(m.host_id) + u64::from(m.size) > 1 << 32 {
            return Err(format!("{range}: host ids run past 4294967295"));
        }
    }
    Ok(())
}

/// `map_options`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapOptions {
    /// uid ranges (`null` when none).
    pub uid_mappings: Option<Vec<IdMap>>,
    /// gid ranges (`null` when none).
    pub gid_mappings: Option<Vec<IdMap>>,
    /// Rootless bundle.
    #[serde(default)]
    pub rootless: bool,
}

/// `from_descriptor_path`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DescriptorWalk {
    /// From the `index.json` entry down to the image manifest.
    pub descriptor_walk: Vec<Value>,
}

/// The whole document, fields in umoci's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleMeta {
    /// Always `"2"`.
    pub umoci_version: String,
    /// The image the bundle was unpacked from.
    pub from_descriptor_path: DescriptorWalk,
    /// Owner mapping.
    #[serde(default)]
    pub map_options: MapOptions,
    /// umoci 0.4.7 writes 0; anything else is an overlayfs-mode bundle we refuse.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub whiteout_mode: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl BundleMeta {
    /// Parse and check a document; errors are one-line causes.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let meta: BundleMeta =
            serde_json::from_slice(bytes).map_err(|e| format!("malformed: {e}"))?;
        if meta.umoci_version != VERSION {
            return Err(format!(
                "unsupported umoci.json version {:?} (only {VERSION:?} is known)",
                meta.umoci_version
            ));
        }
        if meta.whiteout_mode != 0 {
            return Err(format!(
                "whiteout_mode {} (overlayfs-mode bundles) is not supported",
                meta.whiteout_mode
            ));
        }
        let maps = &meta.map_options;
        check_maps(
            maps.uid_mappings.as_deref().unwrap_or_default(),
            "uid_mappings",
        )?;
        check_maps(
            maps.gid_mappings.as_deref().unwrap_or_default(),
            "gid_mappings",
        )?;
        let walk = meta.walk()?;
        if walk.len() > crate::layout::MAX_INDEX_DEPTH + 1 {
            return Err(format!(
                "descriptor_walk has {} steps; at most {} are allowed",
                walk.len(),
                crate::layout::MAX_INDEX_DEPTH + 1
            ));
        }
        let last = walk.last().ok_or("descriptor_walk is empty")?;
        if last.media_type != descriptor::MANIFEST {
            return Err(format!(
                "the bundle's image is a {:?}, not an OCI image manifest",
                last.media_type
            ));
        }
        Ok(meta)
    }

    /// A document for an image reached by `walk`.
    pub fn new(walk: &[Descriptor], map_options: MapOptions) -> Self {
        BundleMeta {
            umoci_version: VERSION.into(),
            from_descriptor_path: DescriptorWalk {
                descriptor_walk: walk.iter().map(Descriptor::to_value).collect(),
            },
            map_options,
            whiteout_mode: 0,
        }
    }

    /// The descriptor walk, checked.
    pub fn walk(&self) -> Result<Vec<Descriptor>, String> {
        self.from_descriptor_path
            .descriptor_walk
            .iter()
            .map(|d| Descriptor::from_json(d, "descriptor_walk").map_err(|e| e.to_string()))
            .collect()
    }

    /// The image manifest's digest (the walk's last element).
    pub fn manifest_digest(&self) -> Result<Digest, String> {
        self.walk()?
            .pop()
            .map(|d| d.digest)
            .ok_or_else(|| "descriptor_walk is empty".into())
    }

    /// The document as umoci encodes it.
    pub fn encode(&self) -> Vec<u8> {
        json::encode(&serde_json::to_value(self).expect("plain data serializes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UMOCI_047: &str = r#"{"umoci_version":"2","from_descriptor_path":{"descriptor_walk":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:7650a8e36ad1fb4b2b0e04a6c0ebbfb83d0ba8a0a7fe21ea3bb5d6e0a9f2ca1e","size":499,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]},"map_options":{"uid_mappings":[{"containerID":0,"hostID":100000,"size":65536}],"gid_mappings":[{"containerID":0,"hostID":100000,"size":65536}],"rootless":false},"whiteout_mode":0}"#;

    #[test]
    fn reads_umoci_047_and_writes_it_back_without_whiteout_mode() {
        let meta = BundleMeta::parse(UMOCI_047.as_bytes()).unwrap();
        assert_eq!(
            meta.map_options.uid_mappings.as_ref().unwrap()[0].host_id,
            100000
        );
        let out = String::from_utf8(meta.encode()).unwrap();
        assert_eq!(out, UMOCI_047.replace(",\"whiteout_mode\":0", "") + "\n");
    }

    #[test]
    fn refuses_other_versions_and_modes() {
        let v3 = UMOCI_047.replace("\"umoci_version\":\"2\"", "\"umoci_version\":\"3\"");
        assert!(
            BundleMeta::parse(v3.as_bytes())
                .unwrap_err()
                .contains("version")
        );
        let overlay = UMOCI_047.replace("\"whiteout_mode\":0", "\"whiteout_mode\":1");
        assert!(BundleMeta::parse(overlay.as_bytes()).is_err());
        assert!(
            BundleMeta::parse(b"{")
                .unwrap_err()
                .starts_with("malformed")
        );
        let index = UMOCI_047.replace("image.manifest.v1", "image.index.v1");
        assert!(BundleMeta::parse(index.as_bytes()).is_err());
    }

    #[test]
    fn id_mappings_are_range_checked() {
        let with = |map: &str| {
            UMOCI_047.replace(
                r#"{"containerID":0,"hostID":100000,"size":65536}],"gid"#,
                &format!("{map}],\"gid"),
            )
        };
        for (map, says) in [
            (
                r#"{"containerID":4294967295,"hostID":0,"size":10}"#,
                "container ids run past",
            ),
            (
                r#"{"containerID":0,"hostID":4294967290,"size":10}"#,
                "host ids run past",
            ),
            (r#"{"containerID":0,"hostID":0,"size":0}"#, "size 0"),
        ] {
            let e = BundleMeta::parse(with(map).as_bytes()).unwrap_err();
            assert!(e.contains(says) && e.contains("uid_mappings"), "{map}: {e}");
        }
        // The last id fits exactly.
        let edge = r#"{"containerID":4294967286,"hostID":4294967286,"size":10}"#;
        assert!(BundleMeta::parse(with(edge).as_bytes()).is_ok());
        let many = vec![r#"{"containerID":0,"hostID":0,"size":1}"#; MAX_ID_MAPS + 1].join(",");
        let e = BundleMeta::parse(with(&many).as_bytes()).unwrap_err();
        assert!(e.contains("at most 340"), "{e}");
        // A negative id is not a u32 at all.
        assert!(
            BundleMeta::parse(with(r#"{"containerID":-1,"hostID":0,"size":1}"#).as_bytes())
                .is_err()
        );
    }
}
