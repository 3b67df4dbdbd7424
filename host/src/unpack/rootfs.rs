//! `raw unpack`'s target: a new or empty directory, checked before anything is
//! created. The job is [`Repacker::unpack_rootfs`](crate::Repacker::unpack_rootfs).

use std::fs;
use std::path::Path;

use super::UnpackError;
use crate::bundle::BundleError;

/// Whether `rootfs` exists (as an empty directory, not a symlink); an error when it
/// exists as anything else.
pub(crate) fn check_target(rootfs: &Path) -> Result<bool, UnpackError> {
    let refuse = |why: &str| Err(UnpackError::Invalid(format!("{}: {why}", rootfs.display())));
    if rootfs.as_os_str().is_empty() {
        return Err(UnpackError::Invalid("the rootfs path is empty".into()));
    }
    match fs::symlink_metadata(rootfs) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(BundleError {
            path: rootfs.to_owned(),
            why: e.to_string(),
        }
        .into()),
        Ok(m) if m.is_symlink() => refuse("is a symlink; raw unpack needs a directory"),
        Ok(m) if !m.is_dir() => refuse("is a file; raw unpack needs a directory"),
        Ok(_) => match fs::read_dir(rootfs).map(|mut d| d.next().is_none()) {
            Ok(true) => Ok(true),
            Ok(false) => refuse("is not empty; raw unpack needs a new or empty directory"),
            Err(e) => Err(BundleError {
                path: rootfs.to_owned(),
                why: e.to_string(),
            }
            .into()),
        },
    }
}
