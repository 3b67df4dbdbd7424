//! OCI image layouts on disk: opening and creating them, verified blob reads, atomic
//! blob and `index.json` writes, tag resolution and updates.
//!
//! - [`digest`]: sha256 digests.
//! - [`descriptor`]: descriptors as JSON with checked fields.
//! - [`json`]: Go-compatible encoding.
//! - [`blob`]: verified reads, atomic writes.
//! - [`writer`]: streaming, compressed layer blobs.
//! - [`pgzip`]: gzip on several threads, one member.
//! - [`reader`]: blobs streamed to the guest, verified.
//! - [`reference`](mod@reference): `--image` values and the tag grammar.
//! - [`lock`]: the index lock, the writers lock and per-process temp directories.
//! - [`empty`]: new, empty images.
//! - [`gc`]: garbage collection of unreachable blobs and stale temp directories.

pub mod blob;
pub mod descriptor;
pub mod digest;
pub mod empty;
pub mod error;
pub mod gc;
pub mod json;
pub mod lock;
pub mod pgzip;
pub mod platform;
pub mod reader;
pub mod reference;
pub mod writer;

pub use descriptor::Descriptor;
pub use digest::Digest;
pub use error::LayoutError;
pub use platform::Platform;
pub use reader::BlobReader;
pub use reference::{ImageRef, check_tag};
pub use writer::{BlobWriter, Compression, WrittenBlob};

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{Map, Value};

use blob::Owner;
use lock::TempArea;

/// The most bytes a JSON blob (index, manifest, config) may have.
pub const MAX_JSON_BLOB: u64 = 64 << 20;

/// `oci-layout`'s content.
const OCI_LAYOUT: &[u8] = b"{\"imageLayoutVersion\":\"1.0.0\"}\n";

/// An opened OCI image layout.
#[derive(Debug)]
pub struct Layout {
    path: PathBuf,
    owner: Owner,
    temp: OnceLock<TempArea>,
}

/// One way from a top-level `index.json` entry down to an image manifest.
pub type DescriptorPath = Vec<Descriptor>;

impl Layout {
    /// Open the layout at `path`, checking `oci-layout`, `blobs` and `index.json`.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, LayoutError> {
        let path = path.into();
        let not = |why: String| LayoutError::NotALayout {
            path: path.clone(),
            why,
        };
        let meta = fs::metadata(&path).map_err(|e| not(e.to_string()))?;
        if !meta.is_dir() {
            return Err(not("not a directory".into()));
        }
        let version =
            fs::read(path.join("oci-layout")).map_err(|e| not(format!("oci-layout: {e}")))?;
        let version: Value =
            serde_json::from_slice(&version).map_err(|e| not(format!("oci-layout: {e}")))?;
        if version.get("imageLayoutVersion").and_then(Value::as_str) != Some("1.0.0") {
            return Err(not("oci-layout: imageLayoutVersion is not 1.0.0".into()));
        }
        if !path.join("blobs").is_dir() {
            return Err(not("no blobs directory".into()));
        }
        match fs::symlink_metadata(path.join("index.json")) {
            Ok(m) if !m.is_dir() => {}
            Ok(_) => return Err(not("index.json is a directory".into())),
            Err(e) => return Err(not(format!("index.json: {e}"))),
        }
        let owner = (rustix::process::geteuid().is_root()).then(|| (meta.uid(), meta.gid()));
        Ok(Layout {
            path,
            owner,
            temp: OnceLock::new(),
        })
    }

    /// Create a new, empty layout at `path`, which must not exist.
    pub fn init(path: impl Into<PathBuf>) -> Result<Self, LayoutError> {
        let path = path.into();
        if fs::symlink_metadata(&path).is_ok() {
            return Err(LayoutError::NotALayout {
                path,
                why: "already exists".into(),
            });
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(LayoutError::io(parent))?;
        }
        fs::create_dir(&path).map_err(LayoutError::io(&path))?;
        let sha = path.join("blobs/sha256");
        fs::create_dir_all(&sha).map_err(LayoutError::io(&sha))?;
        let layout = Layout {
            path: path.clone(),
            owner: None,
            temp: OnceLock::new(),
        };
        let temp = layout.temp()?;
        blob::write_atomic(temp, &path.join("oci-layout"), OCI_LAYOUT, None)?;
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": descriptor::INDEX, "manifests": []});
        blob::write_atomic(temp, &path.join("index.json"), &json::encode(&index), None)?;
        Ok(layout)
    }

    /// The layout directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The owner new files get (the layout's, when running as root).
    pub fn owner(&self) -> Owner {
        self.owner
    }

    /// This process's temp directory in the layout. The first call makes this handle a
    /// writer: it waits for a running garbage collection to finish, and keeps new ones
    /// from starting until the handle is dropped (see [`lock`]).
    pub fn temp(&self) -> Result<&Path, LayoutError> {
        if let Some(t) = self.temp.get() {
            return Ok(t.path());
        }
        let area = TempArea::create(&self.path)?;
        Ok(self.temp.get_or_init(|| area).path())
    }

    /// Become a writer now (see [`Layout::temp`]): for commands that read blobs they
    /// are about to reference, so no garbage collection removes them in between.
    pub fn start_writing(&self) -> Result<(), LayoutError> {
        self.temp().map(|_| ())
    }

    /// Where the blob `digest` lives.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.path.join("blobs/sha256").join(digest.hex())
    }

    /// The bytes of a JSON blob, verified against its descriptor.
    pub fn read_json_blob(&self, desc: &Descriptor) -> Result<Vec<u8>, LayoutError> {
        if desc.size > MAX_JSON_BLOB {
            return Err(LayoutError::Verify {
                digest: desc.digest.to_string(),
                why: format!("size {} is larger than a JSON blob may be", desc.size),
            });
        }
        blob::read_verified(&self.blob_path(&desc.digest), &desc.digest, desc.size)
    }

    /// Store `bytes` as a blob.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<(Digest, u64), LayoutError> {
        let digest = Digest::of(bytes);
        blob::write_atomic(self.temp()?, &self.blob_path(&digest), bytes, self.owner)?;
        Ok((digest, bytes.len() as u64))
    }

    /// Store a JSON document as a blob and describe it.
    pub fn put_json(&self, media_type: &str, value: &Value) -> Result<Descriptor, LayoutError> {
        let (digest, size) = self.put_blob(&json::encode(value))?;
        Ok(Descriptor::new(media_type, digest, size))
    }

    /// Start a streamed layer blob.
    pub fn layer_writer(
        &self,
        compression: Compression,
        progress: Option<indicatif::ProgressBar>,
    ) -> Result<BlobWriter, LayoutError> {
        BlobWriter::create(self.temp()?, compression, self.owner, progress)
    }

    /// Move a finished layer blob into place.
    pub fn commit_layer(&self, blob: &WrittenBlob) -> Result<(), LayoutError> {
        let dest = self.blob_path(&blob.digest);
        fs::rename(&blob.path, &dest).map_err(LayoutError::io(&dest))?;
        blob::sync_parent(&dest)
    }

    /// `index.json` as JSON.
    pub fn index(&self) -> Result<Map<String, Value>, LayoutError> {
        let path = self.path.join("index.json");
        let bytes = fs::read(&path).map_err(LayoutError::io(&path))?;
        let index = parse_object(&bytes, "index.json")?;
        check_index(&index, "index.json")?;
        Ok(index)
    }

    /// The top-level `index.json` descriptors.
    pub fn index_entries(&self) -> Result<Vec<Descriptor>, LayoutError> {
        entries(&self.index()?, "index.json")
    }

    /// Every path from a top-level entry tagged `tag` down to an image manifest.
    pub fn resolve(&self, tag: &str) -> Result<Vec<DescriptorPath>, LayoutError> {
        check_tag(tag)?;
        let mut found = Vec::new();
        for entry in self.index_entries()? {
            if entry.annotation(descriptor::REF_NAME) == Some(tag) {
                self.walk_down(vec![entry], &mut found, 0)?;
            }
        }
        Ok(found)
    }

    /// The one image `tag` names.
    pub fn resolve_one(&self, tag: &str) -> Result<DescriptorPath, LayoutError> {
        let mut paths = self.resolve(tag)?;
        let why = match paths.len() {
            1 => return Ok(paths.remove(0)),
            0 => "is not found",
            _ => "is ambiguous",
        };
        Err(LayoutError::Tag {
            layout: self.path.display().to_string(),
            tag: tag.to_owned(),
            why,
        })
    }

    fn walk_down(
        &self,
        path: DescriptorPath,
        found: &mut Vec<DescriptorPath>,
        depth: usize,
    ) -> Result<(), LayoutError> {
        let last = path.last().expect("paths are never empty");
        if last.media_type != descriptor::INDEX {
            found.push(path);
            return Ok(());
        }
        if depth > 16 {
            return Err(LayoutError::Verify {
                digest: last.digest.to_string(),
                why: "image indexes nested too deep".into(),
            });
        }
        let what = format!("index blob {}", last.digest);
        let index = parse_object(&self.read_json_blob(last)?, &what)?;
        check_index(&index, &what)?;
        for child in entries(&index, &what)? {
            let mut next = path.clone();
            next.push(child);
            self.walk_down(next, found, depth + 1)?;
        }
        Ok(())
    }

    /// Point `tag` at `desc` in `index.json`: every entry with that tag goes, `desc`
    /// (annotated with the tag) is appended. Done under the index lock, atomically.
    pub fn set_tag(&self, tag: &str, desc: &Descriptor) -> Result<(), LayoutError> {
        check_tag(tag)?;
        let mut desc = desc.clone();
        desc.set_annotation(descriptor::REF_NAME, tag);
        self.update_index(|manifests| {
            manifests.retain(|d| d.annotation(descriptor::REF_NAME) != Some(tag));
            manifests.push(desc);
        })
    }

    /// Remove every entry tagged `tag` (none is fine); returns how many went.
    pub fn remove_tag(&self, tag: &str) -> Result<usize, LayoutError> {
        check_tag(tag)?;
        let mut removed = 0;
        self.update_index(|manifests| {
            let before = manifests.len();
            manifests.retain(|d| d.annotation(descriptor::REF_NAME) != Some(tag));
            removed = before - manifests.len();
        })?;
        Ok(removed)
    }

    /// Read-modify-write the index's `manifests` under the lock.
    pub fn update_index(&self, edit: impl FnOnce(&mut Vec<Descriptor>)) -> Result<(), LayoutError> {
        // The writers lock (taken with the temp area) comes before the index lock.
        let temp = self.temp()?;
        let _lock = lock::lock_index(&self.path)?;
        let mut index = self.index()?;
        let mut manifests = entries(&index, "index.json")?;
        edit(&mut manifests);
        index.insert(
            "manifests".into(),
            Value::Array(manifests.iter().map(Descriptor::to_value).collect()),
        );
        index.insert("mediaType".into(), descriptor::INDEX.into());
        let index = json::ordered(index, json::INDEX_FIELDS);
        let bytes = json::encode(&Value::Object(index));
        blob::write_atomic(temp, &self.path.join("index.json"), &bytes, self.owner)
    }
}

/// Parse a JSON object from `bytes`.
pub fn parse_object(bytes: &[u8], what: &str) -> Result<Map<String, Value>, LayoutError> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(LayoutError::Malformed {
            what: what.to_owned(),
            why: "not a JSON object".into(),
        }),
        Err(e) => Err(LayoutError::Malformed {
            what: what.to_owned(),
            why: e.to_string(),
        }),
    }
}

/// Check the shape of an index (media type, no manifest fields).
fn check_index(index: &Map<String, Value>, what: &str) -> Result<(), LayoutError> {
    let bad = |why: &str| LayoutError::Malformed {
        what: what.to_owned(),
        why: why.to_owned(),
    };
    if index.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
        return Err(bad("schemaVersion is not 2"));
    }
    match index.get("mediaType") {
        None => {}
        Some(Value::String(m)) if m == descriptor::INDEX => {}
        Some(_) => return Err(bad("mediaType is not the image index type")),
    }
    if index.contains_key("config") || index.contains_key("layers") {
        return Err(bad("an index with manifest fields (config, layers)"));
    }
    Ok(())
}

/// The `manifests` of an index (`null` or absent is empty).
fn entries(index: &Map<String, Value>, what: &str) -> Result<Vec<Descriptor>, LayoutError> {
    match index.get("manifests") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(list)) => list
            .iter()
            .map(|d| Descriptor::from_json(d, what))
            .collect(),
        Some(_) => Err(LayoutError::Malformed {
            what: what.to_owned(),
            why: "manifests is not a list".into(),
        }),
    }
}
