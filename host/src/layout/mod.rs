//! OCI image layouts on disk: opening and creating them, verified blob reads, atomic
//! blob and `index.json` writes, tag resolution and updates.
//!
//! - [`digest`]: sha256 digests.
//! - [`descriptor`]: descriptors as JSON with checked fields.
//! - [`json`]: Go-compatible encoding.
//! - [`blob`]: verified reads, atomic writes.
//! - [`writer`]: streaming, compressed layer blobs.
//! - [`pgzip`]: gzip on several threads, one member.
//! - `igzip`: ISA-L's igzip for [`pgzip`], in builds that found ISA-L.
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
#[cfg(repack_isal)]
pub mod igzip;
pub mod inflate;
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
pub use writer::{BlobWriter, Compression, CopyError, WrittenBlob};

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cap_std::fs::Dir;
use rustix::fs::{FileType, Mode};
use serde_json::{Map, Value};

use crate::handle;
use blob::Owner;
use lock::TempArea;

/// The most bytes a JSON blob (index, manifest, config) may have.
pub const MAX_JSON_BLOB: u64 = 64 << 20;

/// The most bytes `oci-layout` may have.
const MAX_OCI_LAYOUT: u64 = 64 << 10;

/// `oci-layout`'s content.
const OCI_LAYOUT: &[u8] = b"{\"imageLayoutVersion\":\"1.0.0\"}\n";

/// An opened OCI image layout.
///
/// The directory is opened once; every file in it is reached from that handle one name
/// at a time, never following a symlink (see [`crate::handle`]).
#[derive(Debug)]
pub struct Layout {
    path: PathBuf,
    dir: Dir,
    blobs: Dir,
    /// `blobs/sha256`, once it exists.
    sha256: OnceLock<Dir>,
    owner: Owner,
    temp: OnceLock<TempArea>,
}

/// One way from a top-level `index.json` entry down to an image manifest.
pub type DescriptorPath = Vec<Descriptor>;

/// The deepest nesting of indexes a tag is resolved through.
pub const MAX_INDEX_DEPTH: usize = 16;

/// The most descriptors one index may list (`index.json` included).
pub const MAX_INDEX_ENTRIES: usize = 1 << 16;

/// What a resolution has seen.
#[derive(Default)]
struct Walk {
    /// Index digests already expanded.
    indexes: std::collections::HashSet<Digest>,
    /// Manifest descriptors (as JSON) already found.
    manifests: std::collections::HashSet<String>,
    /// One path per manifest descriptor.
    found: Vec<DescriptorPath>,
}

impl Layout {
    /// Open the layout at `path`, checking `oci-layout`, `blobs` and `index.json`.
    ///
    /// `path` itself is followed as the user named it; nothing inside is: a symlink
    /// for `blobs`, `blobs/sha256`, `oci-layout` or `index.json` makes it no layout.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, LayoutError> {
        let path = path.into();
        let not = |why: String| LayoutError::NotALayout {
            path: path.clone(),
            why,
        };
        let dir = handle::ambient_dir(&path, true).map_err(|e| not(e.to_string()))?;
        let version = handle::read_regular(&dir, "oci-layout", MAX_OCI_LAYOUT)
            .map_err(|e| not(format!("oci-layout: {e}")))?;
        let version: Value =
            serde_json::from_slice(&version).map_err(|e| not(format!("oci-layout: {e}")))?;
        if version.get("imageLayoutVersion").and_then(Value::as_str) != Some("1.0.0") {
            return Err(not("oci-layout: imageLayoutVersion is not 1.0.0".into()));
        }
        let blobs = match handle::dir_at(&dir, "blobs") {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(not("no blobs directory".into()));
            }
            Err(e) => return Err(not(format!("blobs: {e}"))),
        };
        let sha256 = OnceLock::new();
        if let Some(d) = handle::dir_at_if_exists(&blobs, "sha256")
            .map_err(|e| not(format!("blobs/sha256: {e}")))?
        {
            let _ = sha256.set(d);
        }
        match handle::open::open_path(&dir, OsStr::new("index.json")) {
            Ok((_, st)) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {}
            Ok((_, st)) => {
                let kind = FileType::from_raw_mode(st.st_mode);
                return Err(not(format!("index.json: {}", handle::NotRegular(kind))));
            }
            Err(e) => return Err(not(format!("index.json: {e}"))),
        }
        let owner = if rustix::process::geteuid().is_root() {
            let st = rustix::fs::fstat(&dir).map_err(|e| LayoutError::io(&path)(e.into()))?;
            Some((st.st_uid, st.st_gid))
        } else {
            None
        };
        Ok(Layout {
            path,
            dir,
            blobs,
            sha256,
            owner,
            temp: OnceLock::new(),
        })
    }

    /// Create a new, empty layout at `path`, which must not exist.
    pub fn init(path: impl Into<PathBuf>) -> Result<Self, LayoutError> {
        let path = path.into();
        if std::fs::symlink_metadata(&path).is_ok() {
            return Err(LayoutError::NotALayout {
                path,
                why: "already exists".into(),
            });
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(LayoutError::io(parent))?;
        }
        std::fs::create_dir(&path).map_err(LayoutError::io(&path))?;
        let dir = handle::ambient_dir(&path, false).map_err(LayoutError::io(&path))?;
        let mkdir = |parent: &Dir, name: &str, shown: &Path| -> Result<Dir, LayoutError> {
            rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o755))
                .map_err(|e| LayoutError::io(shown)(e.into()))?;
            handle::dir_at(parent, name).map_err(LayoutError::io(shown))
        };
        let blobs = mkdir(&dir, "blobs", &path.join("blobs"))?;
        let sha256 = mkdir(&blobs, "sha256", &path.join("blobs/sha256"))?;
        let layout = Layout {
            path,
            dir,
            blobs,
            sha256: OnceLock::from(sha256),
            owner: None,
            temp: OnceLock::new(),
        };
        layout.write_file("oci-layout", OCI_LAYOUT)?;
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": descriptor::INDEX, "manifests": []});
        layout.write_file("index.json", &json::encode(&index))?;
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

    /// This process's temp area in the layout. The first call makes this handle a
    /// writer: it waits for a running garbage collection to finish, and keeps new ones
    /// from starting until the handle is dropped (see [`lock`]).
    fn temp_area(&self) -> Result<&TempArea, LayoutError> {
        if let Some(t) = self.temp.get() {
            return Ok(t);
        }
        let area = TempArea::create(&self.dir, &self.path, self.owner)?;
        Ok(self.temp.get_or_init(|| area))
    }

    /// The path of this process's temp directory (see [`Layout::temp_area`]), for
    /// messages.
    pub fn temp(&self) -> Result<&Path, LayoutError> {
        Ok(self.temp_area()?.path())
    }

    /// Become a writer now (see [`Layout::temp_area`]): for commands that read blobs
    /// they are about to reference, so no garbage collection removes them in between.
    pub fn start_writing(&self) -> Result<(), LayoutError> {
        self.temp_area().map(|_| ())
    }

    /// Where the blob `digest` lives, for messages (blobs are opened through the
    /// layout's handle, see [`Layout::open_blob`]).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.path.join("blobs/sha256").join(digest.hex())
    }

    /// Open the blob `digest` for reading: a regular file, not followed if it is a
    /// symlink, opened without blocking.
    pub fn open_blob(&self, digest: &Digest) -> Result<std::fs::File, LayoutError> {
        blob::open(self.sha256.get(), &self.blob_path(digest), digest)
    }

    /// `blobs/sha256`, created if it is missing.
    fn sha256_dir(&self) -> Result<&Dir, LayoutError> {
        if let Some(d) = self.sha256.get() {
            return Ok(d);
        }
        let shown = self.path.join("blobs/sha256");
        match rustix::fs::mkdirat(&self.blobs, "sha256", Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(LayoutError::io(&shown)(e.into())),
        }
        let d = handle::dir_at(&self.blobs, "sha256").map_err(LayoutError::io(&shown))?;
        Ok(self.sha256.get_or_init(|| d))
    }

    /// Replace the top-level file `name` (`index.json`, `oci-layout`) atomically.
    fn write_file(&self, name: &str, bytes: &[u8]) -> Result<(), LayoutError> {
        let temp = self.temp_area()?;
        handle::write_atomic(
            temp.dir(),
            &self.dir,
            OsStr::new(name),
            bytes,
            blob::FILE_MODE,
            self.owner,
        )
        .map_err(LayoutError::io(self.path.join(name)))
    }

    /// The bytes of a JSON blob, verified against its descriptor.
    pub fn read_json_blob(&self, desc: &Descriptor) -> Result<Vec<u8>, LayoutError> {
        if desc.size > MAX_JSON_BLOB {
            return Err(LayoutError::Verify {
                digest: desc.digest.to_string(),
                why: format!("size {} is larger than a JSON blob may be", desc.size),
            });
        }
        blob::read_verified(
            self.sha256.get(),
            &self.blob_path(&desc.digest),
            &desc.digest,
            desc.size,
        )
    }

    /// Store `bytes` as a blob.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<(Digest, u64), LayoutError> {
        let digest = Digest::of(bytes);
        let temp = self.temp_area()?;
        handle::write_atomic(
            temp.dir(),
            self.sha256_dir()?,
            OsStr::new(digest.hex()),
            bytes,
            blob::FILE_MODE,
            self.owner,
        )
        .map_err(LayoutError::io(self.blob_path(&digest)))?;
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
        BlobWriter::create(self.temp_area()?, compression, self.owner, progress)
    }

    /// Move a finished layer blob into place.
    pub fn commit_layer(&self, blob: &WrittenBlob) -> Result<(), LayoutError> {
        let dest = self.blob_path(&blob.digest);
        let sha256 = self.sha256_dir()?;
        rustix::fs::renameat(
            self.temp_area()?.dir(),
            &blob.name,
            sha256,
            blob.digest.hex(),
        )
        .map_err(|e| LayoutError::io(&dest)(e.into()))?;
        handle::sync_dir(sha256).map_err(LayoutError::io(&dest))
    }

    /// `index.json` as JSON.
    pub fn index(&self) -> Result<Map<String, Value>, LayoutError> {
        let bytes = handle::read_regular(&self.dir, "index.json", MAX_JSON_BLOB)
            .map_err(LayoutError::io(self.path.join("index.json")))?;
        let index = parse_object(&bytes, "index.json")?;
        check_index(&index, "index.json")?;
        Ok(index)
    }

    /// The top-level `index.json` descriptors.
    pub fn index_entries(&self) -> Result<Vec<Descriptor>, LayoutError> {
        descriptor::list(&self.index()?, "manifests", "index.json")
    }

    /// Every path from a top-level entry tagged `tag` down to an image manifest: per
    /// entry, one path per distinct manifest descriptor below it, the first one found
    /// (two entries with the tag are two paths, as in umoci: the tag is ambiguous).
    ///
    /// Each distinct index is read and expanded once, however many times it is listed
    /// (a layout of indexes each listing the next eight times would otherwise grow
    /// eightfold per level); nesting deeper than [`MAX_INDEX_DEPTH`] and an index
    /// listing more than [`MAX_INDEX_ENTRIES`] descriptors are refused.
    pub fn resolve(&self, tag: &str) -> Result<Vec<DescriptorPath>, LayoutError> {
        check_tag(tag)?;
        let mut found = Vec::new();
        for entry in self.index_entries()? {
            if entry.annotation(descriptor::REF_NAME) == Some(tag) {
                let mut walk = Walk::default();
                self.walk_down(&mut vec![entry], &mut walk)?;
                found.append(&mut walk.found);
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

    fn walk_down(&self, path: &mut DescriptorPath, walk: &mut Walk) -> Result<(), LayoutError> {
        let last = path.last().expect("paths are never empty");
        if last.media_type != descriptor::INDEX {
            if walk.manifests.insert(last.to_value().to_string()) {
                walk.found.push(path.clone());
            }
            return Ok(());
        }
        if !walk.indexes.insert(last.digest.clone()) {
            return Ok(());
        }
        if path.len() > MAX_INDEX_DEPTH {
            return Err(LayoutError::Verify {
                digest: last.digest.to_string(),
                why: format!("image indexes nested more than {MAX_INDEX_DEPTH} deep"),
            });
        }
        let what = format!("index blob {}", last.digest);
        let index = parse_object(&self.read_json_blob(last)?, &what)?;
        check_index(&index, &what)?;
        let children = descriptor::list(&index, "manifests", &what)?;
        drop(index);
        if children.len() > MAX_INDEX_ENTRIES {
            return Err(LayoutError::Malformed {
                what,
                why: format!(
                    "{} descriptors listed; at most {MAX_INDEX_ENTRIES} are read",
                    children.len()
                ),
            });
        }
        for child in children {
            path.push(child);
            let walked = self.walk_down(path, walk);
            path.pop();
            walked?;
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
        self.temp_area()?;
        let _lock = lock::lock_index(&self.dir, &self.path, self.owner)?;
        let mut index = self.index()?;
        let mut manifests = descriptor::list(&index, "manifests", "index.json")?;
        edit(&mut manifests);
        index.insert(
            "manifests".into(),
            Value::Array(manifests.iter().map(Descriptor::to_value).collect()),
        );
        index.insert("mediaType".into(), descriptor::INDEX.into());
        let index = json::ordered(index, json::INDEX_FIELDS);
        let bytes = json::encode(&Value::Object(index));
        self.write_file("index.json", &bytes)
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
