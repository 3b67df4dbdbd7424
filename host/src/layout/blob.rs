//! Blob files: verified reads and atomic writes, relative to the layout's handles.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use cap_std::fs::Dir;

use super::{Digest, LayoutError};
use crate::handle;

pub use crate::handle::Owner;

/// The mode blobs and `index.json` are created with, less the umask (umoci: 0600).
/// Whatever the umask, the file stays readable by its owner.
pub const FILE_MODE: u32 = 0o644;

/// Open the blob `digest` in the `blobs/sha256` handle `dir` (at `path`, for
/// messages): never a symlink, and only a regular file (a fifo or device is refused
/// before it is opened, so nothing blocks).
pub fn open(dir: Option<&Dir>, path: &Path, digest: &Digest) -> Result<File, LayoutError> {
    let missing = || LayoutError::Verify {
        digest: digest.to_string(),
        why: format!("missing from the layout ({})", path.display()),
    };
    let dir = dir.ok_or_else(missing)?;
    handle::open_regular(dir, OsStr::new(digest.hex())).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => missing(),
        _ => LayoutError::io(path)(e),
    })
}

/// Read the blob `digest` (see [`open`]), which must be exactly `size` bytes.
pub fn read_verified(
    dir: Option<&Dir>,
    path: &Path,
    digest: &Digest,
    size: u64,
) -> Result<Vec<u8>, LayoutError> {
    let verify = |why: String| LayoutError::Verify {
        digest: digest.to_string(),
        why,
    };
    let file = open(dir, path, digest)?;
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 20));
    file.take(size.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(LayoutError::io(path))?;
    if bytes.len() as u64 != size {
        return Err(verify(format!(
            "size mismatch: the descriptor says {size} bytes, the blob has {}{}",
            bytes.len().min(usize::try_from(size).unwrap_or(usize::MAX)),
            if bytes.len() as u64 > size {
                " or more"
            } else {
                ""
            }
        )));
    }
    let actual = Digest::of(&bytes);
    if &actual != digest {
        return Err(verify(format!(
            "digest mismatch: the bytes hash to {actual}"
        )));
    }
    Ok(bytes)
}
