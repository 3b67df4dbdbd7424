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
