//! Which deltas go into the layer: the mask filter (`--mask-path` and volumes) and the
//! simplify filter (one whiteout per deleted tree).

use std::collections::BTreeSet;

use super::diff::{Delta, DeltaKind};

/// Clean `path` lexically as if rooted at `/` and return it relative to the root
/// (empty for the root): `..` never climbs above the root, `.` and empty components
/// vanish.
pub fn clean(path: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    parts.join(&b'/')
}

/// `path` (relative, `.` = root) and each of its ancestors, the root last as `""`.
fn with_ancestors(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    let path = if path == b"." { &b""[..] } else { path };
    let cuts = path
        .iter()
        .enumerate()
        .rev()
        .filter(|&(_, &b)| b == b'/')
        .map(|(i, _)| i);
    std::iter::once(path.len())
        .chain(cuts)
        .chain(if path.is_empty() { None } else { Some(0) })
        .map(move |end| &path[..end])
}

/// Drop deltas at or below a mask, and deltas strictly below a deleted path or below a
/// directory that became a non-directory (the entry replacing it removes the whole
/// tree when the layer is applied, so whiteouts under it would only confuse readers).
pub fn apply(deltas: Vec<Delta>, masks: &[Vec<u8>]) -> Vec<Delta> {
    let masks: BTreeSet<Vec<u8>> = masks.iter().map(|m| clean(m)).collect();
    let gone: BTreeSet<Vec<u8>> = deltas
        .iter()
        .filter(|d| d.kind == DeltaKind::Deleted || d.was_directory)
        .map(|d| d.path.clone())
        .collect();
    deltas
        .into_iter()
        .filter(|d| {
            let masked = with_ancestors(&d.path).any(|p| masks.contains(p));
            let under_gone = with_ancestors(&d.path).skip(1).any(|p| gone.contains(p));
            !masked && !under_gone
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(path: &str, kind: DeltaKind) -> Delta {
        Delta {
            path: path.as_bytes().to_vec(),
            kind,
            meta: None,
            was_directory: false,
            known: Default::default(),
        }
    }

    fn paths(deltas: &[Delta]) -> Vec<String> {
        deltas
            .iter()
            .map(|d| String::from_utf8_lossy(&d.path).into_owned())
            .collect()
    }

    #[test]
    fn clean_is_lexical_and_rooted() {
        assert_eq!(clean(b"/volume/"), b"volume");
        assert_eq!(clean(b"a/../../b/./c//"), b"b/c");
        assert_eq!(clean(b"/"), b"");
        assert_eq!(clean(b"../.."), b"");
    }

    #[test]
    fn ancestors_include_the_root() {
        let all: Vec<&[u8]> = with_ancestors(b"a/b/c").collect();
        assert_eq!(all, [&b"a/b/c"[..], b"a/b", b"a", b""]);
        let root: Vec<&[u8]> = with_ancestors(b".").collect();
        assert_eq!(root, [&b""[..]]);
    }

    #[test]
    fn masks_cover_a_path_and_its_descendants_only() {
        let deltas = [
            "volume",
            "volume/x",
            "volumetest",
            "some/volume/test",
            "some nutty/path name/ here/f",
            "some nutty/path ",
        ]
        .map(|p| delta(p, DeltaKind::Added))
        .to_vec();
        let masks = [b"/volume".to_vec(), b"/some nutty/path name/ here".to_vec()];
        assert_eq!(
            paths(&apply(deltas, &masks)),
            ["volumetest", "some/volume/test", "some nutty/path "]
        );
    }

    #[test]
    fn root_mask_drops_everything() {
        let deltas = vec![
            delta(".", DeltaKind::Modified),
            delta("a", DeltaKind::Added),
        ];
        assert!(apply(deltas, &[b"/".to_vec()]).is_empty());
    }

    #[test]
    fn a_deleted_tree_leaves_one_whiteout() {
        let deltas = vec![
            delta("d", DeltaKind::Deleted),
            delta("d/a", DeltaKind::Deleted),
            delta("d/a/b", DeltaKind::Deleted),
            delta("dx", DeltaKind::Deleted),
            delta(".", DeltaKind::Modified),
        ];
        assert_eq!(paths(&apply(deltas, &[])), ["d", "dx", "."]);
    }

    #[test]
    fn a_directory_replaced_by_a_file_drops_whiteouts_below_it() {
        let mut replaced = delta("etc", DeltaKind::Modified);
        replaced.was_directory = true;
        let deltas = vec![
            replaced,
            delta("etc/hello", DeltaKind::Deleted),
            delta("etc/sub/x", DeltaKind::Deleted),
            delta("etcetera", DeltaKind::Added),
        ];
        assert_eq!(paths(&apply(deltas, &[])), ["etc", "etcetera"]);
    }
}
