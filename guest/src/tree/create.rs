//! Objects created with their metadata in one request (the contract's `dir.create`):
//! unpack hands the host many small files, directories and symlinks at once instead
//! of one call per operation.

use super::{FsError, Time, TreeMut, Xattrs};

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewKind {
    /// A regular file with these contents.
    Regular(Vec<u8>),
    /// An empty directory.
    Directory,
    /// A symlink holding this target.
    Symlink(Vec<u8>),
}

/// The metadata a new object is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    /// Owner; `None` keeps the creator's (rootless).
    pub owner: Option<(u32, u32)>,
    /// Mode bits with setuid, setgid and sticky (not applied to symlinks).
    pub mode: u32,
    /// Extended attributes, in order.
    pub xattrs: Xattrs,
    /// Modification time.
    pub mtime: Time,
    /// Access time; `None` leaves it.
    pub atime: Option<Time>,
}

/// One object to create: a path that must not exist yet, what, and its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewObject {
    /// Where.
    pub path: Vec<u8>,
    /// What.
    pub kind: NewKind,
    /// Its metadata.
    pub attributes: Attributes,
}

/// An extended attribute the tree refused (`NotSupported` or `PermissionDenied`); the
/// object was made without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The object's index in the request.
    pub index: usize,
    /// The attribute's name.
    pub name: Vec<u8>,
    /// Why.
    pub error: FsError,
}

/// [`TreeMut::create`] one operation at a time, for trees without a batched call.
pub fn one_by_one<T: TreeMut + ?Sized>(
    tree: &mut T,
    objects: Vec<NewObject>,
) -> Result<Vec<Refused>, (usize, FsError)> {
    let mut refused = Vec::new();
    for (index, object) in objects.into_iter().enumerate() {
        let fail = |e: FsError| (index, e);
        let path = &object.path;
        let a = &object.attributes;
        let symlink = matches!(object.kind, NewKind::Symlink(_));
        match &object.kind {
            NewKind::Regular(contents) => {
                let mut file = tree.create_file(path, 0o600).map_err(fail)?;
                if !contents.is_empty() {
                    file.write(contents).map_err(fail)?;
                }
            }
            NewKind::Directory => tree.mkdir(path, 0o700).map_err(fail)?,
            NewKind::Symlink(target) => tree.symlink(path, target).map_err(fail)?,
        }
        if let Some((uid, gid)) = a.owner {
            tree.set_owner(path, uid, gid).map_err(fail)?;
        }
        for (name, value) in &a.xattrs {
            match tree.set_xattr(path, name, value) {
                Ok(()) => {}
                Err(error @ (FsError::NotSupported | FsError::PermissionDenied)) => {
                    refused.push(Refused {
                        index,
                        name: name.clone(),
                        error,
                    });
                }
                Err(e) => return Err(fail(e)),
            }
        }
        if !symlink {
            tree.set_mode(path, a.mode).map_err(fail)?;
        }
        tree.set_times(path, a.mtime, a.atime).map_err(fail)?;
    }
    Ok(refused)
}
