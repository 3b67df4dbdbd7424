//! `insert`: a file or directory tree from the host placed at a path of an image as a
//! new layer, or (`--whiteout`) a layer deleting a path. The tree is walked and archived
//! by the guest, like a repack against an empty manifest, with entry names moved under
//! the target path. `--opaque` puts an opaque whiteout in the target first: for a
//! directory right after its entry, for a file (as umoci does) before it.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::RepackError;
use crate::bindings::{MapOptions, RepackOptions};
use crate::bundle::{BundleError, IdMap};
use crate::image::history::{self, HistoryRequest};
use crate::image::{
    BaseImage, CompressionChoice, LayerInfo, auto_compression, commit_added_layer, store_layer,
};
use crate::layout::Descriptor;
use crate::layout::{ImageRef, Layout, check_tag};
use crate::repacker::Repacker;
use crate::sandbox::{Limits, wit_mappings};
use crate::stats::Stats;

/// One `insert`.
#[derive(Debug, Clone)]
pub struct InsertRequest {
    /// The image to extend.
    pub image: ImageRef,
    /// Which manifest of an image index (`None`: this machine's, when there is a choice).
    pub platform: Option<crate::layout::Platform>,
    /// Tag for the result (default: the image's tag, moved).
    pub tag: Option<String>,
    /// What to insert; `None` writes a whiteout for `target` instead.
    pub source: Option<PathBuf>,
    /// Where in the image.
    pub target: String,
    /// Hide what the image had below `target` (an opaque whiteout).
    pub opaque: bool,
    /// Compression of the layer.
    pub compression: CompressionChoice,
    /// History entry, or none.
    pub history: Option<HistoryRequest>,
    /// `SOURCE_DATE_EPOCH` as found in the environment.
    pub source_date_epoch: Option<String>,
    /// uid mappings (host ids of the source to image ids).
    pub uid_maps: Vec<IdMap>,
    /// gid mappings.
    pub gid_maps: Vec<IdMap>,
    /// Owners are 0 unless `user.rootlesscontainers` says otherwise.
    pub rootless: bool,
}

/// `target` cleaned as a path below the image root (`/a/../b/` is `b`); the root
/// itself, and names reserved for whiteouts, are refused.
pub fn clean_target(target: &str) -> Result<Vec<u8>, String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    match parts.last() {
        None => Err(format!("insert target {target:?} is the image root")),
        Some(base) if base.starts_with(".wh.") => Err(format!(
            "insert target {target:?}: names starting with .wh. are reserved for whiteouts"
        )),
        Some(_) => Ok(parts.join("/").into_bytes()),
    }
}

/// Put a copy of the non-directory `source` into the empty directory `dir` as `name`:
/// a hard link when they share a filesystem, else a copy keeping mode, owner and times.
fn stage(source: &Path, dir: &Path, name: &str) -> std::io::Result<()> {
    let dest = dir.join(name);
    let meta = fs::symlink_metadata(source)?;
    if meta.file_type().is_symlink() {
        return std::os::unix::fs::symlink(fs::read_link(source)?, &dest);
    }
    if fs::hard_link(source, &dest).is_ok() {
        return Ok(());
    }
    if !meta.is_file() {
        return Err(std::io::Error::other(
            "only regular files, symlinks and directories can be inserted",
        ));
    }
    fs::copy(source, &dest)?;
    fs::set_permissions(&dest, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    let _ = rustix::fs::chown(
        &dest,
        Some(rustix::fs::Uid::from_raw(meta.uid())),
        Some(rustix::fs::Gid::from_raw(meta.gid())),
    );
    let mtime = rustix::fs::Timespec {
        tv_sec: meta.mtime(),
        tv_nsec: meta.mtime_nsec(),
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        &dest,
        &rustix::fs::Timestamps {
            last_access: mtime,
            last_modification: mtime,
        },
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )?;
    Ok(())
}

impl Repacker {
    /// Insert (see the module documentation); returns the new manifest and the layer.
    pub fn insert(
        &self,
        request: &InsertRequest,
        limits: &Limits,
    ) -> Result<(Descriptor, LayerInfo), RepackError> {
        let (epoch, created) = history::times(
            request.source_date_epoch.as_deref(),
            request.history.as_ref(),
        )
        .map_err(RepackError::Invalid)?;
        let target = clean_target(&request.target).map_err(RepackError::Invalid)?;
        let tag = request
            .tag
            .clone()
            .unwrap_or_else(|| request.image.tag.clone());
        check_tag(&tag)?;
        let source_meta = match &request.source {
            Some(src) => Some(fs::symlink_metadata(src).map_err(|e| {
                RepackError::Bundle(BundleError {
                    path: src.clone(),
                    why: e.to_string(),
                })
            })?),
            None => None,
        };
        let layout = Layout::open(&request.image.layout)?;
        layout.start_writing()?;
        let walk = layout.resolve_platform(&request.image.tag, request.platform.as_ref())?;
        let base = BaseImage::load(&layout, walk)?;
        let compression = auto_compression(request.compression, &base);
        let writer = layout.layer_writer(compression, None)?;

        let writer = match (&request.source, &source_meta) {
            (Some(src), Some(meta)) => {
                let staging;
                let (root, prefix, skip_root) = if meta.is_dir() {
                    (src.clone(), target.clone(), false)
                } else {
                    // Staged outside the layout: a directory in a layout another user
                    // can write could be swapped for a symlink under us.
                    let temp = std::env::temp_dir();
                    staging = tempfile::tempdir_in(&temp)
                        .map_err(crate::layout::LayoutError::io(&temp))?;
                    let (parent, base) = match target.iter().rposition(|&b| b == b'/') {
                        Some(i) => (target[..i].to_vec(), &target[i + 1..]),
                        None => (Vec::new(), &target[..]),
                    };
                    let name = String::from_utf8_lossy(base).into_owned();
                    stage(src, staging.path(), &name).map_err(|e| {
                        RepackError::Bundle(BundleError {
                            path: src.clone(),
                            why: e.to_string(),
                        })
                    })?;
                    (staging.path().to_owned(), parent, true)
                };
                let options = RepackOptions {
                    manifest: String::new(),
                    masks: Vec::new(),
                    map_options: MapOptions {
                        uid_mappings: wit_mappings(&request.uid_maps),
                        gid_mappings: wit_mappings(&request.gid_maps),
                        rootless: request.rootless,
                    },
                    clamp_mtime: epoch,
                    refresh: None,
                    stat_cache: None,
                    prefix,
                    skip_root,
                    opaque: request.opaque && meta.is_dir(),
                    // umoci's layer for a file: `TARGET/.wh..wh..opq`, then the file.
                    opaque_first: if request.opaque && !meta.is_dir() {
                        vec![target.clone()]
                    } else {
                        Vec::new()
                    },
                    now: 0,
                    racy_window: 0,
                };
                let (_, writer) =
                    self.repack_layer(&root, &options, writer, limits, &mut Stats::default())?;
                writer
            }
            _ => self.whiteout_layer(&[target], writer, limits)?,
        };
        let layer = store_layer(&layout, writer, compression)?;
        let manifest = commit_added_layer(
            &layout,
            &base,
            &layer,
            request.history.as_ref(),
            (epoch, created),
            &tag,
        )?;
        Ok((manifest, layer))
    }
}

#[cfg(test)]
mod tests {
    use super::clean_target;

    #[test]
    fn targets_are_cleaned_and_checked() {
        assert_eq!(clean_target("/a/../b/c/").unwrap(), b"b/c");
        assert!(clean_target("/").is_err());
        assert!(clean_target("../..").is_err());
        assert!(clean_target("/x/.wh.y").unwrap_err().contains("reserved"));
    }
}
