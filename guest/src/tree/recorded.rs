//! A tree that notes what is read of it beyond listings, for tests that check what a
//! job asks for.

use std::cell::RefCell;

use super::{Entry, FileReader, FsError, Metadata, Tree, Xattrs};

/// `inner`, noting each `digest`, `xattrs` and `read-link` call as `"<call> <path>"`.
/// A listing's own attributes (`read_dir_xattrs`) are not noted: they come with the
/// directory, as from the host.
pub struct Recorded<'a> {
    inner: &'a dyn Tree,
    calls: RefCell<Vec<String>>,
}

impl<'a> Recorded<'a> {
    pub fn new(inner: &'a dyn Tree) -> Self {
        Recorded {
            inner,
            calls: RefCell::default(),
        }
    }

    fn note(&self, call: &str, path: &[u8]) {
        let call = format!("{call} {}", String::from_utf8_lossy(path));
        self.calls.borrow_mut().push(call);
    }

    /// The calls noted since the last take, in order.
    pub fn take(&self) -> Vec<String> {
        self.calls.take()
    }

    /// How many `call`s were noted (without taking them).
    pub fn count(&self, call: &str) -> usize {
        let prefix = format!("{call} ");
        self.calls
            .borrow()
            .iter()
            .filter(|c| c.starts_with(&prefix))
            .count()
    }
}

impl Tree for Recorded<'_> {
    fn metadata(&self, p: &[u8]) -> Result<Metadata, FsError> {
        self.inner.metadata(p)
    }
    fn read_dir(&self, p: &[u8]) -> Result<Vec<Entry>, FsError> {
        self.inner.read_dir(p)
    }
    fn read_dir_xattrs(&self, p: &[u8]) -> Result<Vec<(Entry, Xattrs)>, FsError> {
        self.inner.read_dir_xattrs(p)
    }
    fn read_link(&self, p: &[u8]) -> Result<Vec<u8>, FsError> {
        self.note("read-link", p);
        self.inner.read_link(p)
    }
    fn xattrs(&self, p: &[u8]) -> Result<Xattrs, FsError> {
        self.note("xattrs", p);
        self.inner.xattrs(p)
    }
    fn digest(&self, p: &[u8]) -> Result<[u8; 32], FsError> {
        self.note("digest", p);
        self.inner.digest(p)
    }
    fn open_read(&self, p: &[u8]) -> Result<Box<dyn FileReader + '_>, FsError> {
        self.inner.open_read(p)
    }
}
