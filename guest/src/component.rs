//! The component glue: binds the WIT world and adapts the host's `dir` handle to
//! [`Tree`]. Nothing else lives here; the logic is in natively tested modules.

wit_bindgen::generate!({
    path: "../wit",
    world: "repacker",
});

use exports::repack::bundle::layer::{Failure, Guest, MtreeHeader};
use repack::bundle::fs::{self as wit};

use crate::mtree;
use crate::tree::{Entry, FsError, Kind, Metadata, Tree, Xattrs};

struct Component;

export!(Component);

impl Guest for Component {
    fn mtree(root: &wit::Dir, header: MtreeHeader) -> Result<String, Failure> {
        let header = mtree::Header {
            user: header.user,
            machine: header.machine,
            tree: header.tree,
            date: header.date,
        };
        mtree::manifest(&HostTree(root), &header).map_err(|e| Failure {
            path: String::from_utf8_lossy(&e.path).into_owned(),
            message: e.error.to_string(),
        })
    }
}

/// The host's capability handle seen as a [`Tree`].
struct HostTree<'a>(&'a wit::Dir);

impl Tree for HostTree<'_> {
    fn metadata(&self, path: &[u8]) -> Result<Metadata, FsError> {
        Ok(self.0.metadata(path)?.into())
    }

    fn read_dir(&self, path: &[u8]) -> Result<Vec<Entry>, FsError> {
        Ok(self
            .0
            .read_dir(path)?
            .into_iter()
            .map(|e| Entry {
                name: e.name,
                meta: e.meta.into(),
            })
            .collect())
    }

    fn read_link(&self, path: &[u8]) -> Result<Vec<u8>, FsError> {
        Ok(self.0.read_link(path)?)
    }

    fn xattrs(&self, path: &[u8]) -> Result<Xattrs, FsError> {
        Ok(self.0.xattrs(path)?)
    }

    fn digest(&self, path: &[u8]) -> Result<[u8; 32], FsError> {
        let bytes = self.0.digest(path)?;
        bytes
            .try_into()
            .map_err(|_| FsError::Io("host returned a digest that is not 32 bytes".into()))
    }
}

impl From<wit::Error> for FsError {
    fn from(e: wit::Error) -> Self {
        match e {
            wit::Error::NotFound => FsError::NotFound,
            wit::Error::EscapesRoot => FsError::EscapesRoot,
            wit::Error::PermissionDenied => FsError::PermissionDenied,
            wit::Error::NotSupported => FsError::NotSupported,
            wit::Error::Io(msg) => FsError::Io(msg),
        }
    }
}

impl From<wit::Metadata> for Metadata {
    fn from(m: wit::Metadata) -> Self {
        Metadata {
            kind: match m.kind {
                wit::Kind::Regular => Kind::Regular,
                wit::Kind::Directory => Kind::Directory,
                wit::Kind::Symlink => Kind::Symlink,
                wit::Kind::Fifo => Kind::Fifo,
                wit::Kind::Socket => Kind::Socket,
                wit::Kind::CharDevice => Kind::CharDevice,
                wit::Kind::BlockDevice => Kind::BlockDevice,
            },
            mode: m.mode,
            uid: m.uid,
            gid: m.gid,
            size: m.size,
            mtime_sec: m.mtime_sec,
            mtime_nsec: m.mtime_nsec,
            ctime_sec: m.ctime_sec,
            ctime_nsec: m.ctime_nsec,
            ino: m.ino,
            nlink: m.nlink,
            rdev_major: m.rdev_major,
            rdev_minor: m.rdev_minor,
        }
    }
}
