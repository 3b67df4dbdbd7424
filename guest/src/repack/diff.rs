//! Comparing a walk of the tree with the bundle's manifest under umoci's keywords.

use std::cell::{Cell, RefCell};

use crate::bytes;
use crate::mtree::{Event, Keywords, ParsedEntry};
use crate::tree::{Kind, Metadata, Xattrs};

/// How an object changed since the manifest was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaKind {
    /// In the tree, not in the manifest.
    Added,
    /// In both, with different keywords.
    Modified,
    /// In the manifest, not in the tree.
    Deleted,
}

/// One changed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    /// Path relative to the root (`.` is the root itself).
    pub path: Vec<u8>,
    /// What happened to it.
    pub kind: DeltaKind,
    /// Its metadata now (`None` when deleted).
    pub meta: Option<Metadata>,
    /// Whether the manifest recorded a directory here that is now something else.
    pub was_directory: bool,
    /// What the walk read of it besides its metadata.
    pub known: Known,
}

/// What the walk already read of an object, so writing the layer need not ask the
/// host again: the attributes a directory listing gave, or a symlink's target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Known {
    /// Nothing: a deletion, or a kind whose attributes a listing does not give
    /// (symlinks, devices, fifos, sockets).
    #[default]
    Nothing,
    /// The extended attributes of a regular file or directory.
    Xattrs(Xattrs),
    /// The target of a symlink.
    Link(Vec<u8>),
}

/// Collects deltas from walk events.
#[derive(Debug)]
pub struct Differ<'a> {
    /// The manifest's entries sorted by path, one per path (compared with
    /// [`bytes::cmp`]: a walk looks up every path it meets, twice for a file). The
    /// parser's own list, sorted in place: a manifest of millions of entries is not
    /// held twice.
    recorded: Vec<ParsedEntry<'a>>,
    /// Whether the walk met each recorded path.
    seen: Vec<Cell<bool>>,
    /// Where the last lookup found its path: a file is looked up twice in a row (is it
    /// known, then its event), and a directory's files follow each other.
    hint: Cell<usize>,
    deltas: RefCell<Vec<Delta>>,
}

/// Whether umoci compares `key` (the ten keywords; `xattr.*` counts as `xattr`).
fn compared(key: &str) -> bool {
    // A match, not a search of KEYWORDS: it runs for every keyword of every entry.
    matches!(
        key,
        "size"
            | "type"
            | "uid"
            | "gid"
            | "mode"
            | "link"
            | "nlink"
            | "tar_time"
            | "sha256digest"
            | "xattr"
    ) || key.starts_with("xattr.")
}

/// Whether two values of `key` say the same thing.
fn same_value(key: &str, a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match key {
        "mode" => matches!(
            (u32::from_str_radix(a, 8), u32::from_str_radix(b, 8)),
            (Ok(x), Ok(y)) if x == y
        ),
        "tar_time" => {
            let secs = |v: &str| v.split('.').next().and_then(|s| s.parse::<i64>().ok());
            matches!((secs(a), secs(b)), (Some(x), Some(y)) if x == y)
        }
        _ => false,
    }
}

/// The keywords of a manifest entry that umoci compares.
fn recorded_keywords<'a>(entry: &ParsedEntry<'a>) -> Keywords<'a> {
    let mut keywords = entry.keywords();
    keywords.retain(compared);
    keywords
}

impl<'a> Differ<'a> {
    /// A differ against the entries of a parsed manifest (a later duplicate wins).
    pub fn new(mut recorded: Vec<ParsedEntry<'a>>) -> Self {
        // Reversed, a stable sort puts the last duplicate of a path first of its run,
        // where dedup keeps it.
        recorded.reverse();
        recorded.sort_by(|a, b| bytes::cmp(&a.path, &b.path));
        recorded.dedup_by(|later, first| bytes::cmp(&later.path, &first.path).is_eq());
        let seen = recorded.iter().map(|_| Cell::new(false)).collect();
        Differ {
            recorded,
            seen,
            hint: Cell::new(0),
            deltas: RefCell::new(Vec::new()),
        }
    }

    /// The manifest's entry for `path` (the root is `""`).
    fn get(&self, path: &[u8]) -> Option<(&ParsedEntry<'a>, &Cell<bool>)> {
        let path = if path.is_empty() { &b"."[..] } else { path };
        let hint = self.hint.get();
        let near = (hint..self.recorded.len().min(hint + 2))
            .find(|&i| bytes::cmp(&self.recorded[i].path, path).is_eq());
        let i = match near {
            Some(i) => i,
            None => self
                .recorded
                .binary_search_by(|e| bytes::cmp(&e.path, path))
                .ok()?,
        };
        self.hint.set(i);
        Some((&self.recorded[i], &self.seen[i]))
    }

    /// Whether the manifest has an entry for `path` (the root is `""`).
    pub fn knows(&self, path: &[u8]) -> bool {
        self.get(path).is_some()
    }

    /// Take one walk event into account: whether the object agrees with the manifest
    /// (a step up does).
    pub fn event(&self, event: &Event<'_>) -> bool {
        let (path, meta, keywords, xattrs, link, vouched) = match *event {
            Event::Dir {
                path,
                meta,
                keywords,
                xattrs,
                vouched,
                ..
            } => (path, meta, keywords, xattrs, None, vouched),
            Event::Object {
                path,
                meta,
                keywords,
                xattrs,
                link,
                vouched,
                ..
            } => (path, meta, keywords, xattrs, link, vouched),
            Event::Up => return true,
        };
        let (kind, was_directory) = match self.get(path) {
            None => (DeltaKind::Added, false),
            Some((old, seen)) => {
                seen.set(true);
                if vouched {
                    return true;
                }
                let old = recorded_keywords(old);
                if Self::unchanged(&old, keywords) {
                    return true;
                }
                let was_dir = old.get("type") == Some("dir");
                (DeltaKind::Modified, was_dir && meta.kind != Kind::Directory)
            }
        };
        // A vouched-for object the manifest lacks (a cache naming another manifest of
        // the same text) is an addition whose attributes and target were not read.
        let known = match (link, meta.kind.lists_xattrs()) {
            _ if vouched => Known::Nothing,
            (Some(target), _) => Known::Link(target.to_vec()),
            (None, true) => Known::Xattrs(xattrs.to_vec()),
            (None, false) => Known::Nothing,
        };
        let path = if path.is_empty() { &b"."[..] } else { path };
        self.deltas.borrow_mut().push(Delta {
            path: path.to_vec(),
            kind,
            meta: Some(*meta),
            was_directory,
            known,
        });
        false
    }

    fn unchanged(old: &Keywords<'_>, new: &[String]) -> bool {
        let mut count = 0;
        for kv in new {
            let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
            match old.get(key) {
                Some(v) if same_value(key, v, value) => count += 1,
                _ => return false,
            }
        }
        count == old.len()
    }

    /// All deltas: those seen during the walk, then every manifest path the walk did
    /// not meet, as deletions (in no particular order).
    pub fn finish(self) -> Vec<Delta> {
        let mut deltas = self.deltas.into_inner();
        deltas.extend(
            self.recorded
                .into_iter()
                .zip(self.seen)
                .filter(|(_, seen)| !seen.get())
                .map(|(e, _)| Delta {
                    was_directory: e.keywords().get("type") == Some("dir"),
                    path: e.path,
                    kind: DeltaKind::Deleted,
                    meta: None,
                    known: Known::Nothing,
                }),
        );
        deltas
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mtree::KEYWORDS;

    #[test]
    fn a_later_duplicate_of_a_path_wins() {
        let manifest = "/set type=file uid=0 gid=0 nlink=1 mode=0644\n\
            . type=dir mode=0755 size=4096 nlink=2 tar_time=1.000000000\n\
            a size=1 tar_time=1.000000000 mode=0600\n\
            a size=2 tar_time=1.000000000\n";
        let differ = Differ::new(crate::mtree::parse(manifest).unwrap());
        assert_eq!(differ.recorded.len(), 2);
        assert!(differ.knows(b"a") && differ.knows(b"") && !differ.knows(b"b"));
        let a = recorded_keywords(differ.get(b"a").unwrap().0);
        assert_eq!((a.get("size"), a.get("mode")), (Some("2"), Some("0644")));
        // The walk meets neither: each path is deleted once.
        let deleted: Vec<_> = differ.finish().into_iter().map(|d| d.path).collect();
        assert_eq!(deleted, [b".".to_vec(), b"a".to_vec()]);
    }

    #[test]
    fn the_ten_keywords_and_each_xattr_are_compared() {
        for key in KEYWORDS {
            assert!(compared(key), "{key}");
        }
        assert!(compared("xattr.user.a"));
        for key in ["time", "sha1digest", "xattrs", "Size", "", "uname"] {
            assert!(!compared(key), "{key}");
        }
    }
}
