//! Splitting guest paths into components that cannot leave the granted directory.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use super::CapError;

/// The components of a relative guest path: empty components and `.` are dropped; an
/// absolute path, a `..` component or a NUL byte is refused.
pub fn components(path: &[u8]) -> Result<Vec<&OsStr>, CapError> {
    if path.first() == Some(&b'/') || path.contains(&0) {
        return Err(CapError::EscapesRoot);
    }
    let mut out = Vec::new();
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err(CapError::EscapesRoot),
            _ => out.push(OsStr::from_bytes(part)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_drops_dots() {
        let c = components(b"./a//b/./c").unwrap();
        assert_eq!(c, [OsStr::new("a"), OsStr::new("b"), OsStr::new("c")]);
        assert!(components(b"").unwrap().is_empty());
        assert!(components(b".").unwrap().is_empty());
    }

    #[test]
    fn refuses_escapes() {
        for bad in [&b"/etc"[..], b"..", b"a/../b", b"a/..", b"a\0b"] {
            assert!(
                matches!(components(bad), Err(CapError::EscapesRoot)),
                "{bad:?}"
            );
        }
        // A name that merely starts with dots is fine.
        assert_eq!(components(b"...").unwrap(), [OsStr::new("...")]);
    }
}
