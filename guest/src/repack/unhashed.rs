//! A tree that leaves unhashed the files a manifest does not list.
//!
//! Without a refreshed manifest to write, a file the bundle's manifest does not list is
//! an addition whatever its digest: hashing it during the walk would only read it a
//! second time before its bytes go into the layer. Such files report [`NOT_HASHED`] and
//! stay out of the new stat cache.

use super::diff::Differ;
use crate::tree::{Entry, FileReader, FsError, Metadata, Tree, Xattrs};

/// The digest reported for a file that was not hashed.
pub const NOT_HASHED: [u8; 32] = [0; 32];

/// `inner`, hashing only the files `differ` knows.
pub struct Unhashed<'a> {
    inner: &'a dyn Tree,
    differ: &'a Differ<'a>,
}

impl std::fmt::Debug for Unhashed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unhashed").finish_non_exhaustive()
    }
}

impl<'a> Unhashed<'a> {
    /// Wrap `inner`.
    pub fn new(inner: &'a dyn Tree, differ: &'a Differ<'a>) -> Self {
        Unhashed { inner, differ }
    }
}

impl Tree for Unhashed<'_> {
    fn metadata(&self, path: &[u8]) -> Result<Metadata, FsError> {
        self.inner.metadata(path)
    }

    fn read_dir(&self, path: &[u8]) -> Result<Vec<Entry>, FsError> {
        self.inner.read_dir(path)
    }

    fn read_dir_xattrs(&self, path: &[u8]) -> Result<Vec<(Entry, Xattrs)>, FsError> {
        self.inner.read_dir_xattrs(path)
    }

    fn read_link(&self, path: &[u8]) -> Result<Vec<u8>, FsError> {
        self.inner.read_link(path)
    }

    fn xattrs(&self, path: &[u8]) -> Result<Xattrs, FsError> {
        self.inner.xattrs(path)
    }

    fn digest(&self, path: &[u8]) -> Result<[u8; 32], FsError> {
        if self.differ.knows(path) {
            self.inner.digest(path)
        } else {
            Ok(NOT_HASHED)
        }
    }

    fn open_read(&self, path: &[u8]) -> Result<Box<dyn FileReader + '_>, FsError> {
        self.inner.open_read(path)
    }
}
