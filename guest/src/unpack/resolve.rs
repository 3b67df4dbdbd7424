//! Resolving archive paths inside the rootfs: every symlink on the way is followed as
//! if the rootfs were `/` (absolute targets start from the rootfs, `..` stops at it),
//! so the result is a path of real directories below the root that the host will
//! accept. This is what makes `usr/bin/x` land in the right place when `usr` is a
//! symlink in a lower layer, without ever leaving the rootfs.

use crate::tree::{FsError, Kind, TreeMut, join};

/// Most symlinks followed while resolving one path.
const MAX_LINKS: usize = 255;

/// What to do with missing or non-directory components of a parent path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Report `NotFound`.
    Fail,
    /// Create missing directories (mode 0755) and replace non-directories by one.
    Create,
}

/// Split a path into components, dropping empty and `.` ones.
pub fn components(path: &[u8]) -> Vec<&[u8]> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .collect()
}

/// Resolve the directory path `path` below the root, following symlinks inside the
/// rootfs. Returns a symlink-free path (`""` for the root).
pub fn resolve_dir(
    tree: &mut dyn TreeMut,
    path: &[u8],
    missing: Missing,
) -> Result<Vec<u8>, FsError> {
    let mut done: Vec<Vec<u8>> = Vec::new();
    let mut todo: Vec<Vec<u8>> = components(path)
        .into_iter()
        .rev()
        .map(<[u8]>::to_vec)
        .collect();
    let mut links = 0;
    while let Some(part) = todo.pop() {
        if part == b".." {
            done.pop();
            continue;
        }
        let here = done.join(&b'/');
        let candidate = join(&here, &part);
        match tree.metadata(&candidate) {
            Ok(m) if m.kind == Kind::Directory => done.push(part),
            Ok(m) if m.kind == Kind::Symlink => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(FsError::Io(format!(
                        "too many levels of symbolic links resolving {}",
                        String::from_utf8_lossy(path)
                    )));
                }
                let target = tree.read_link(&candidate)?;
                if target.first() == Some(&b'/') {
                    done.clear();
                }
                todo.extend(components(&target).into_iter().rev().map(<[u8]>::to_vec));
            }
            Ok(_) if missing == Missing::Create => {
                tree.remove(&candidate)?;
                tree.mkdir(&candidate, 0o755)?;
                done.push(part);
            }
            Ok(_) => return Err(FsError::NotFound),
            Err(FsError::NotFound) if missing == Missing::Create => {
                tree.mkdir(&candidate, 0o755)?;
                done.push(part);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(done.join(&b'/'))
}

/// Split a cleaned path into its parent and last component.
pub fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (b"", path),
    }
}

/// Clean an archive name as if rooted at `/`: `../../x` is `x`, `/etc` is `etc`, and
/// the root is `""`.
pub fn clean(name: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in name.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join(&b'/')
}
