//! Comparing a walk of the tree with the bundle's manifest under umoci's keywords.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use crate::mtree::{Event, KEYWORDS, Keywords, ParsedEntry};
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

/// A manifest entry and whether the walk met its path.
#[derive(Debug)]
struct Recorded<'a> {
    keywords: Keywords<'a>,
    seen: Cell<bool>,
}

/// Collects deltas from walk events.
#[derive(Debug)]
pub struct Differ<'a> {
    recorded: BTreeMap<Vec<u8>, Recorded<'a>>,
    deltas: RefCell<Vec<Delta>>,
}

/// Whether umoci compares `key` (the ten keywords; `xattr.*` counts as `xattr`).
fn compared(key: &str) -> bool {
    KEYWORDS.contains(&key) || key.starts_with("xattr.")
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

impl<'a> Differ<'a> {
    /// A differ against the entries of a parsed manifest (a later duplicate wins).
    pub fn new(entries: Vec<ParsedEntry<'a>>) -> Self {
        let recorded = entries
            .into_iter()
            .map(|e| {
                let mut keywords = e.keywords;
                keywords.retain(compared);
                (
                    e.path,
                    Recorded {
                        keywords,
                        seen: Cell::new(false),
                    },
                )
            })
            .collect();
        Differ {
            recorded,
            deltas: RefCell::new(Vec::new()),
        }
    }

    /// Whether the manifest has an entry for `path` (the root is `""`).
    pub fn knows(&self, path: &[u8]) -> bool {
        let path = if path.is_empty() { &b"."[..] } else { path };
        self.recorded.contains_key(path)
    }

    /// Take one walk event into account.
    pub fn event(&self, event: &Event<'_>) {
        let (path, meta, keywords, xattrs, link) = match *event {
            Event::Dir {
                path,
                meta,
                keywords,
                xattrs,
                ..
            } => (path, meta, keywords, xattrs, None),
            Event::Object {
                path,
                meta,
                keywords,
                xattrs,
                link,
                ..
            } => (path, meta, keywords, xattrs, link),
            Event::Up => return,
        };
        let path = if path.is_empty() { &b"."[..] } else { path };
        let (kind, was_directory) = match self.recorded.get(path) {
            None => (DeltaKind::Added, false),
            Some(old) => {
                old.seen.set(true);
                if Self::unchanged(&old.keywords, keywords) {
                    return;
                }
                let was_dir = old.keywords.get("type") == Some("dir");
                (DeltaKind::Modified, was_dir && meta.kind != Kind::Directory)
            }
        };
        let known = match (link, meta.kind.lists_xattrs()) {
            (Some(target), _) => Known::Link(target.to_vec()),
            (None, true) => Known::Xattrs(xattrs.to_vec()),
            (None, false) => Known::Nothing,
        };
        self.deltas.borrow_mut().push(Delta {
            path: path.to_vec(),
            kind,
            meta: Some(*meta),
            was_directory,
            known,
        });
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
                .filter(|(_, r)| !r.seen.get())
                .map(|(path, r)| Delta {
                    path,
                    kind: DeltaKind::Deleted,
                    meta: None,
                    was_directory: r.keywords.get("type") == Some("dir"),
                    known: Known::Nothing,
                }),
        );
        deltas
    }
}
