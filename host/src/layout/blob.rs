//! Blob files: verified reads and atomic writes.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use rustix::fs::OFlags;

use super::{Digest, LayoutError};

/// Mode of every blob and of `index.json`: readable by other users (umoci writes
/// 0600, which keeps tools run as another user from reading a layout).
pub const FILE_MODE: u32 = 0o644;

/// Owner to give new files: the layout root's, when we run as root.
pub type Owner = Option<(u32, u32)>;

/// Read the blob file at `path` as `digest`, which must be exactly `size` bytes.
pub fn read_verified(path: &Path, digest: &Digest, size: u64) -> Result<Vec<u8>, LayoutError> {
    let verify = |why: String| LayoutError::Verify {
        digest: digest.to_string(),
        why,
    };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                verify(format!("missing from the layout ({})", path.display()))
            }
            _ => LayoutError::Io {
                path: path.to_owned(),
                error: e,
            },
        })?;
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 20));
    (&file)
        .take(size.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(LayoutError::io(path))?;
    if bytes.len() as u64 != size {
        // A longer blob is read one byte past its size only; its length is the file's.
        let actual = match file.metadata() {
            Ok(m) if bytes.len() as u64 > size => m.len().max(bytes.len() as u64),
            _ => bytes.len() as u64,
        };
        return Err(verify(size_mismatch(size, actual)));
    }
    let actual = Digest::of(&bytes);
    if &actual != digest {
        return Err(verify(digest_mismatch(&actual)));
    }
    Ok(bytes)
}

/// Why a blob of `actual` bytes does not match a descriptor of `declared` bytes. The
/// wording of every blob check, streamed or not; umoci's phrase ("verified reader size
/// mismatch") comes first, for scripts that look for it.
pub fn size_mismatch(declared: u64, actual: u64) -> String {
    format!(
        "verified reader size mismatch: the descriptor says {declared} bytes, the blob has {actual}"
    )
}

/// Why a blob whose bytes hash to `actual` does not match its descriptor (umoci's
/// "verified reader digest mismatch" first).
pub fn digest_mismatch(actual: &Digest) -> String {
    format!("verified reader digest mismatch: the bytes hash to {actual}")
}

/// Write `bytes` to `dest` atomically: a temp file in `temp`, fsync, rename, fsync of
/// the destination directory.
pub fn write_atomic(
    temp: &Path,
    dest: &Path,
    bytes: &[u8],
    owner: Owner,
) -> Result<(), LayoutError> {
    let mut file = tempfile::Builder::new()
        .prefix("blob-")
        .tempfile_in(temp)
        .map_err(LayoutError::io(temp))?;
    // Errors name the file being written (the temp file is gone with them), and come
    // from the file itself: NamedTempFile's own writes append the temp path again.
    file.as_file_mut()
        .write_all(bytes)
        .map_err(LayoutError::io(dest))?;
    finish_file(file.as_file(), dest, owner)?;
    file.persist(dest)
        .map_err(|e| LayoutError::io(dest)(e.error))?;
    sync_parent(dest)
}

/// Give a finished temp file its mode and owner and flush it to disk.
pub fn finish_file(file: &File, path: &Path, owner: Owner) -> Result<(), LayoutError> {
    file.set_permissions(fs::Permissions::from_mode(FILE_MODE))
        .map_err(LayoutError::io(path))?;
    if let Some((uid, gid)) = owner {
        rustix::fs::fchown(
            file,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
        )
        .map_err(|e| LayoutError::io(path)(e.into()))?;
    }
    file.sync_all().map_err(LayoutError::io(path))
}

/// fsync the directory holding `path`, so a rename into it survives a power loss.
pub fn sync_parent(path: &Path) -> Result<(), LayoutError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(LayoutError::io(dir))
}
