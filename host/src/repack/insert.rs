//! `insert`: a file or directory tree from the host placed at a path of an image as a
//! new layer, or (`--whiteout`) a layer deleting a path. The tree is walked and archived
//! by the guest, like a repack against an empty manifest, with entry names moved under
//! the target path. `--opaque` puts an opaque whiteout in the target first: for a
//! directory right after its entry, for a file (as umoci does) before it. This module
//! holds its request and the staging of a source; the job is
//! [`Repacker::insert`](crate::Repacker::insert).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::bundle::IdMap;
use crate::image::CompressionChoice;
use crate::image::history::HistoryRequest;
use crate::layout::ImageRef;

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
pub(crate) fn stage(source: &Path, dir: &Path, name: &str) -> std::io::Result<()> {
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
