//! Garbage collection, as umoci's `gc`: every blob no `index.json` entry reaches is
//! deleted, then every `.umoci-*` temp directory nobody holds. Files in `blobs/sha256`
//! whose names are not digests are left alone, as umoci leaves them.
//!
//! Everything is reached through the layout's handles: a `blobs/sha256` that is a
//! symlink is no layout at all (see [`Layout::open`]), entries are unlinked relative to
//! their directory, and temp directories are removed without following any symlink.
//!
//! Roots are *all* top-level entries, tagged or not. Marking walks index and manifest
//! blobs (read verified); configs, layers and blobs of other types are leaves and are
//! never read. A reachable index or manifest that is missing, corrupt or unparseable
//! stops the collection before anything is deleted: its children are unknown.
//!
//! The whole collection runs under the writers lock (exclusive) and the index lock, so
//! it neither races our own writers nor an `index.json` update (see [`super::lock`]).

use std::collections::HashSet;
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::descriptor::{self, Descriptor};
use super::{Digest, Layout, LayoutError, lock, parse_object};
use crate::handle;

/// Docker's manifest list, walked like an image index.
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker's image manifest, walked like an image manifest.
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// What a collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// How many digests are reachable.
    pub kept: usize,
    /// The blobs deleted.
    pub removed_blobs: Vec<Digest>,
    /// Other files left in `blobs/sha256` (names that are not digests).
    pub kept_strays: Vec<PathBuf>,
    /// The temp directories (or files) deleted.
    pub removed_temps: Vec<PathBuf>,
    /// Temp directories kept because a process holds them.
    pub busy_temps: Vec<PathBuf>,
}

/// How a blob of a media type is walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobKind {
    /// An index: its `manifests` (and `subject`) are children.
    Index,
    /// A manifest: its `config`, `layers` (and `subject`) are children.
    Manifest,
    /// Anything else: not read.
    Leaf,
}

impl BlobKind {
    /// The kind a descriptor's media type names.
    pub fn of(media_type: &str) -> Self {
        match media_type {
            descriptor::INDEX | DOCKER_LIST => BlobKind::Index,
            descriptor::MANIFEST | DOCKER_MANIFEST => BlobKind::Manifest,
            _ => BlobKind::Leaf,
        }
    }
}

/// The descriptors a parsed index or manifest blob points at.
pub fn children(
    kind: BlobKind,
    blob: &Map<String, Value>,
    what: &str,
) -> Result<Vec<Descriptor>, LayoutError> {
    let lists: &[&str] = match kind {
        BlobKind::Index => &["manifests"],
        BlobKind::Manifest => &["layers"],
        BlobKind::Leaf => return Ok(Vec::new()),
    };
    let mut out = Vec::new();
    let single: &[&str] = match kind {
        BlobKind::Manifest => &["config", "subject"],
        _ => &["subject"],
    };
    for key in single {
        match blob.get(*key) {
            None | Some(Value::Null) => {}
            Some(d) => out.push(Descriptor::from_json(d, what)?),
        }
    }
    for key in lists {
        match blob.get(*key) {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => {
                for d in list {
                    out.push(Descriptor::from_json(d, what)?);
                }
            }
            Some(_) => {
                return Err(LayoutError::Malformed {
                    what: what.to_owned(),
                    why: format!("{key} is not a list"),
                });
            }
        }
    }
    Ok(out)
}

impl Layout {
    /// Delete every blob no `index.json` entry reaches, then every temp directory
    /// nobody holds. Waits for running writers first.
    ///
    /// Must not be called on a handle that has written (it holds the writers lock
    /// shared, and would wait for itself).
    pub fn gc(&self) -> Result<GcReport, LayoutError> {
        if self.temp.get().is_some() {
            return Err(LayoutError::Reference(format!(
                "{}: garbage collection through a layout handle that is writing",
                self.path.display()
            )));
        }
        let _writers = lock::lock_writers(&self.dir, &self.path, self.owner)?;
        let _index = lock::lock_index(&self.dir, &self.path, self.owner)?;
        let marked = self.mark()?;
        let mut report = GcReport {
            kept: marked.len(),
            ..GcReport::default()
        };
        self.sweep_blobs(&marked, &mut report)?;
        self.sweep_temps(&mut report)?;
        Ok(report)
    }

    /// Every digest reachable from the top-level entries.
    fn mark(&self) -> Result<HashSet<Digest>, LayoutError> {
        let mut marked = HashSet::new();
        let mut todo = self.index_entries()?;
        while let Some(desc) = todo.pop() {
            if !marked.insert(desc.digest.clone()) {
                continue;
            }
            let kind = BlobKind::of(&desc.media_type);
            if kind == BlobKind::Leaf {
                continue;
            }
            let what = format!("blob {}", desc.digest);
            let blob = parse_object(&self.read_json_blob(&desc)?, &what)?;
            todo.extend(children(kind, &blob, &what)?);
        }
        Ok(marked)
    }

    /// Delete the unmarked blobs of `blobs/sha256`.
    fn sweep_blobs(
        &self,
        marked: &HashSet<Digest>,
        report: &mut GcReport,
    ) -> Result<(), LayoutError> {
        let Some(dir) = self.sha256.get() else {
            return Ok(());
        };
        let shown = self.path.join("blobs/sha256");
        for entry in dir.entries().map_err(LayoutError::io(&shown))? {
            let entry = entry.map_err(LayoutError::io(&shown))?;
            let name = entry.file_name();
            let path = shown.join(&name);
            let digest = name
                .to_str()
                .and_then(|n| Digest::parse(&format!("sha256:{n}")).ok());
            let Some(digest) = digest else {
                tracing::debug!("gc: leaving {} alone (not a digest)", path.display());
                report.kept_strays.push(path);
                continue;
            };
            if marked.contains(&digest) {
                continue;
            }
            let file_type = entry.file_type().map_err(LayoutError::io(&path))?;
            if file_type.is_dir() {
                tracing::warn!("gc: leaving the directory {} alone", path.display());
                continue;
            }
            rustix::fs::unlinkat(dir, &name, rustix::fs::AtFlags::empty())
                .map_err(|e| LayoutError::io(&path)(e.into()))?;
            tracing::debug!("gc: removed {}", path.display());
            report.removed_blobs.push(digest);
        }
        report.removed_blobs.sort_by(|a, b| a.hex().cmp(b.hex()));
        Ok(())
    }

    /// Delete the `.umoci-*` entries nobody holds.
    fn sweep_temps(&self, report: &mut GcReport) -> Result<(), LayoutError> {
        for entry in self.dir.entries().map_err(LayoutError::io(&self.path))? {
            let entry = entry.map_err(LayoutError::io(&self.path))?;
            let name = entry.file_name();
            if !name
                .to_str()
                .is_some_and(|n| n.starts_with(lock::TEMP_PREFIX))
            {
                continue;
            }
            let path = self.path.join(&name);
            if lock::temp_in_use(&self.dir, &name) {
                report.busy_temps.push(path);
                continue;
            }
            handle::remove_tree(&self.dir, &name).map_err(LayoutError::io(&path))?;
            tracing::debug!("gc: removed {}", path.display());
            report.removed_temps.push(path);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(text: &str) -> Map<String, Value> {
        match serde_json::from_str(text).unwrap() {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn d(n: u8) -> String {
        format!(
            r#"{{"mediaType":"x","digest":"sha256:{}","size":1}}"#,
            format!("{n:02x}").repeat(32)
        )
    }

    #[test]
    fn kinds_by_media_type() {
        assert_eq!(BlobKind::of(descriptor::INDEX), BlobKind::Index);
        assert_eq!(BlobKind::of(descriptor::MANIFEST), BlobKind::Manifest);
        assert_eq!(BlobKind::of(DOCKER_MANIFEST), BlobKind::Manifest);
        assert_eq!(BlobKind::of(descriptor::CONFIG), BlobKind::Leaf);
        assert_eq!(BlobKind::of(""), BlobKind::Leaf);
    }

    #[test]
    fn manifest_children_are_config_layers_and_subject() {
        let m = object(&format!(
            r#"{{"schemaVersion":2,"config":{},"layers":[{},{}],"subject":{}}}"#,
            d(1),
            d(2),
            d(3),
            d(4)
        ));
        let kids: Vec<String> = children(BlobKind::Manifest, &m, "m")
            .unwrap()
            .iter()
            .map(|c| c.digest.hex()[..2].to_owned())
            .collect();
        assert_eq!(kids, ["01", "04", "02", "03"]);
        assert!(children(BlobKind::Leaf, &m, "m").unwrap().is_empty());
    }

    #[test]
    fn index_children_are_manifests() {
        let i = object(&format!(
            r#"{{"manifests":[{}],"layers":[{}]}}"#,
            d(5),
            d(6)
        ));
        let kids = children(BlobKind::Index, &i, "i").unwrap();
        assert_eq!(kids.len(), 1);
        assert!(
            children(BlobKind::Index, &object(r#"{"manifests":null}"#), "i")
                .unwrap()
                .is_empty()
        );
        assert!(children(BlobKind::Index, &object(r#"{"manifests":{}}"#), "i").is_err());
    }
}
