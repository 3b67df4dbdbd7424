//! The walk that visits a tree in mtree manifest order.
//!
//! Order (go-mtree's, which umoci uses): the root first; inside each directory first all
//! non-directories sorted bytewise by name, then each subdirectory (sorted) with its own
//! contents, then a step back up. The walk keeps its own stack, so a hostile, very deep
//! tree cannot exhaust the guest's call stack.

use std::fmt;

use super::keywords::keywords;
use super::vis;
use crate::bytes;
use crate::tree::{Entry, FsError, Kind, Metadata, Tree, Xattrs, join};

/// One step of the walk.
#[derive(Debug)]
pub enum Event<'a> {
    /// Entering a directory (the root has the empty path and the name `.`).
    Dir {
        /// Path relative to the root.
        path: &'a [u8],
        /// Name in its parent.
        name: &'a [u8],
        /// The directory's metadata.
        meta: &'a Metadata,
        /// Its keywords, `key=value`, in keyword order.
        keywords: &'a [String],
        /// Its extended attributes.
        xattrs: &'a [(Vec<u8>, Vec<u8>)],
        /// Known to be unchanged ([`Need::Nothing`]): no keywords, no attributes.
        vouched: bool,
    },
    /// A non-directory inside the current directory.
    Object {
        /// Path relative to the root.
        path: &'a [u8],
        /// Name in its directory.
        name: &'a [u8],
        /// The object's metadata.
        meta: &'a Metadata,
        /// Its keywords, `key=value`, in keyword order.
        keywords: &'a [String],
        /// Its extended attributes when the kind has them listed
        /// ([`Kind::lists_xattrs`]); empty (not read) otherwise.
        xattrs: &'a [(Vec<u8>, Vec<u8>)],
        /// A symlink's target.
        link: Option<&'a [u8]>,
        /// Known to be unchanged ([`Need::Nothing`]): no keywords, no attributes, no
        /// link target.
        vouched: bool,
    },
    /// Leaving the current directory.
    Up,
}

/// A walk that failed on one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkError {
    /// The object's path relative to the root.
    pub path: Vec<u8>,
    /// Why it failed.
    pub error: FsError,
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            ".".to_owned()
        } else {
            vis::encode(&self.path)
        };
        write!(f, "{path}: {}", self.error)
    }
}

impl std::error::Error for WalkError {}

/// Attach the path an error happened on.
fn at(path: &[u8]) -> impl FnOnce(FsError) -> WalkError + '_ {
    move |error| WalkError {
        path: path.to_vec(),
        error,
    }
}

/// A directory whose subdirectories are still to be visited, each with its attributes
/// when the listing gave them.
struct Frame {
    path: Vec<u8>,
    subdirs: std::vec::IntoIter<(Entry, Option<Xattrs>)>,
}

/// What a walk's consumer needs to know of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Its keywords (and so its attributes, link target and digest).
    Keywords,
    /// Its attributes and link target, not its keywords (an addition to a manifest
    /// that is not being written).
    Attributes,
    /// Nothing beyond its metadata: it is known to be unchanged.
    Nothing,
}

/// What a walk asks before it reads more of an object than its listing gave.
pub trait Needs {
    /// What is needed of the object at `path` in the state `meta`.
    fn need(&self, path: &[u8], meta: &Metadata) -> Need;
    /// Whether directories are listed with the attributes of their entries (worth it
    /// when most objects need them; otherwise each is read when needed).
    fn list_attributes(&self) -> bool;
}

/// Everything, for every object: what a manifest is written from.
struct Everything;

impl Needs for Everything {
    fn need(&self, _: &[u8], _: &Metadata) -> Need {
        Need::Keywords
    }
    fn list_attributes(&self) -> bool {
        true
    }
}

/// Walk `tree`, calling `visit` for every step in manifest order.
pub fn walk<E>(tree: &dyn Tree, visit: &mut dyn FnMut(Event<'_>) -> Result<(), E>) -> Result<(), E>
where
    E: From<WalkError>,
{
    walk_with(tree, &Everything, visit)
}

/// [`walk`], reading of each object only what `needs` says: keywords, attributes and
/// link target, or nothing more (the event is then `vouched`).
pub fn walk_with<E>(
    tree: &dyn Tree,
    needs: &dyn Needs,
    visit: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<WalkError>,
{
    let root_meta = tree.metadata(b"").map_err(at(b""))?;
    if root_meta.kind != Kind::Directory {
        return Err(at(b"")(FsError::Io("the root is not a directory".into())).into());
    }
    visit_dir(tree, needs, b"", b".", &root_meta, None, visit)?;
    let mut stack = vec![enter(tree, needs, Vec::new(), visit)?];
    while let Some(frame) = stack.last_mut() {
        let Some((dir, xattrs)) = frame.subdirs.next() else {
            stack.pop();
            visit(Event::Up)?;
            continue;
        };
        let path = join(&frame.path, &dir.name);
        visit_dir(tree, needs, &path, &dir.name, &dir.meta, xattrs, visit)?;
        stack.push(enter(tree, needs, path, visit)?);
    }
    Ok(())
}

/// The attributes of the object at `path`: those its listing gave, else read when its
/// kind has them listed ([`Kind::lists_xattrs`]).
fn attributes(
    tree: &dyn Tree,
    path: &[u8],
    kind: Kind,
    listed: Option<Xattrs>,
) -> Result<Xattrs, FsError> {
    match listed {
        Some(x) => Ok(x),
        None if kind.lists_xattrs() => tree.xattrs(path),
        None => Ok(Vec::new()),
    }
}

/// Visit the directory at `path` (its contents come next, from [`enter`]).
fn visit_dir<E>(
    tree: &dyn Tree,
    needs: &dyn Needs,
    path: &[u8],
    name: &[u8],
    meta: &Metadata,
    listed: Option<Xattrs>,
    visit: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<WalkError>,
{
    let need = needs.need(path, meta);
    if need == Need::Nothing {
        return visit(Event::Dir {
            path,
            name,
            meta,
            keywords: &[],
            xattrs: &[],
            vouched: true,
        });
    }
    let xattrs = attributes(tree, path, meta.kind, listed).map_err(at(path))?;
    let kws = match need {
        Need::Keywords => keywords(tree, path, meta, &xattrs, None).map_err(at(path))?,
        _ => Vec::new(),
    };
    visit(Event::Dir {
        path,
        name,
        meta,
        keywords: &kws,
        xattrs: &xattrs,
        vouched: false,
    })
}

/// Visit the non-directories of the directory at `path` and return its subdirectories.
fn enter<E>(
    tree: &dyn Tree,
    needs: &dyn Needs,
    path: Vec<u8>,
    visit: &mut dyn FnMut(Event<'_>) -> Result<(), E>,
) -> Result<Frame, E>
where
    E: From<WalkError>,
{
    let mut entries: Vec<(Entry, Option<Xattrs>)> = if needs.list_attributes() {
        tree.read_dir_xattrs(&path)
            .map_err(at(&path))?
            .into_iter()
            .map(|(e, x)| (e, Some(x)))
            .collect()
    } else {
        tree.read_dir(&path)
            .map_err(at(&path))?
            .into_iter()
            .map(|e| (e, None))
            .collect()
    };
    entries.sort_unstable_by(|a, b| bytes::cmp(&a.0.name, &b.0.name));
    let (subdirs, objects): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|e| e.0.meta.kind == Kind::Directory);
    for (object, listed) in objects {
        let child = join(&path, &object.name);
        let need = needs.need(&child, &object.meta);
        if need == Need::Nothing {
            visit(Event::Object {
                path: &child,
                name: &object.name,
                meta: &object.meta,
                keywords: &[],
                xattrs: &[],
                link: None,
                vouched: true,
            })?;
            continue;
        }
        let xattrs = attributes(tree, &child, object.meta.kind, listed).map_err(at(&child))?;
        let link = match object.meta.kind {
            Kind::Symlink => Some(tree.read_link(&child).map_err(at(&child))?),
            _ => None,
        };
        let kws = match need {
            Need::Keywords => keywords(tree, &child, &object.meta, &xattrs, link.as_deref())
                .map_err(at(&child))?,
            _ => Vec::new(),
        };
        visit(Event::Object {
            path: &child,
            name: &object.name,
            meta: &object.meta,
            keywords: &kws,
            xattrs: &xattrs,
            link: link.as_deref(),
            vouched: false,
        })?;
    }
    Ok(Frame {
        path,
        subdirs: subdirs.into_iter(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Xattrs;
    use crate::tree::mem::{MemTree, meta};

    fn trace(tree: &MemTree) -> Vec<String> {
        let mut out = Vec::new();
        walk::<WalkError>(tree, &mut |event| {
            out.push(match event {
                Event::Dir { path, .. } => format!("dir {}", String::from_utf8_lossy(path)),
                Event::Object { path, .. } => format!("obj {}", String::from_utf8_lossy(path)),
                Event::Up => "up".to_owned(),
            });
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn files_before_directories_each_sorted_bytewise() {
        let mut tree = MemTree::new();
        for dir in [&b"b"[..], b"a", b"a/z", b"a-b"] {
            tree.insert(dir, meta(Kind::Directory, 0o755), b"");
        }
        for file in [&b"z"[..], b"B", b"a/y", b"a/z/x", b"\xc3\xbc"] {
            tree.insert(file, meta(Kind::Regular, 0o644), b"");
        }
        assert_eq!(
            trace(&tree),
            [
                "dir ",
                "obj B",
                "obj z",
                "obj \u{fc}",
                "dir a",
                "obj a/y",
                "dir a/z",
                "obj a/z/x",
                "up",
                "up",
                "dir a-b",
                "up",
                "dir b",
                "up",
                "up"
            ]
        );
    }

    #[test]
    fn errors_name_the_object() {
        struct Broken(MemTree);
        impl Tree for Broken {
            fn metadata(&self, p: &[u8]) -> Result<Metadata, FsError> {
                self.0.metadata(p)
            }
            fn read_dir(&self, p: &[u8]) -> Result<Vec<Entry>, FsError> {
                self.0.read_dir(p)
            }
            fn read_link(&self, p: &[u8]) -> Result<Vec<u8>, FsError> {
                self.0.read_link(p)
            }
            fn xattrs(&self, p: &[u8]) -> Result<Xattrs, FsError> {
                self.0.xattrs(p)
            }
            fn digest(&self, _: &[u8]) -> Result<[u8; 32], FsError> {
                Err(FsError::PermissionDenied)
            }
            fn open_read(
                &self,
                p: &[u8],
            ) -> Result<Box<dyn crate::tree::FileReader + '_>, FsError> {
                self.0.open_read(p)
            }
        }
        let mut tree = MemTree::new();
        tree.insert(b"d", meta(Kind::Directory, 0o755), b"");
        tree.insert(b"d/secret file", meta(Kind::Regular, 0), b"");
        let err = walk::<WalkError>(&Broken(tree), &mut |_| Ok(())).unwrap_err();
        assert_eq!(err.to_string(), "d/secret\\040file: permission denied");
    }

    #[test]
    fn deep_trees_are_walked_completely() {
        let mut tree = MemTree::new();
        let mut path = b"d".to_vec();
        for _ in 0..1000 {
            tree.insert(&path, meta(Kind::Directory, 0o755), b"");
            path.extend_from_slice(b"/d");
        }
        let events = trace(&tree);
        assert_eq!(events.len(), 2 * 1001);
    }
}
