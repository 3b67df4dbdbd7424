//! Layers written through a sink that reads regular files itself (the host's
//! `write-file`): the same bytes as copying through the guest, and the same failures
//! when a file changes under the repack.

use std::cell::Cell;

use super::layer::file_failed;
use super::sink::FileError;
use super::*;
use crate::tree::mem::{MemTree, meta};
use crate::tree::{FsError, Kind, Metadata, Tree};

/// A sink that reads files from `tree` (the tree being repacked), as the host does.
#[derive(Debug)]
struct FileSink<'a> {
    tree: &'a MemTree,
    out: Vec<u8>,
    files: Cell<u32>,
    /// What `write_file` does instead of copying, when set.
    outcome: Option<Result<Metadata, FileError>>,
}

impl<'a> FileSink<'a> {
    fn new(tree: &'a MemTree) -> Self {
        FileSink {
            tree,
            out: Vec::new(),
            files: Cell::new(0),
            outcome: None,
        }
    }
}

impl Sink for FileSink<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), FsError> {
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    fn write_file(&mut self, path: &[u8], size: u64) -> Option<Result<Metadata, FileError>> {
        self.files.set(self.files.get() + 1);
        if let Some(outcome) = self.outcome.clone() {
            return Some(outcome);
        }
        let node = &self.tree.nodes[path];
        assert_eq!(node.meta.kind, Kind::Regular);
        assert_eq!(node.data.len() as u64, size);
        self.out.extend_from_slice(&node.data);
        Some(Ok(node.meta))
    }
}

/// A tree with files of several sizes (padding of 0, 1 and 511 bytes, an empty one, a
/// hardlink) and its empty image's manifest.
fn tree() -> (MemTree, String) {
    let mut tree = MemTree::new();
    let manifest = mtree::manifest(&tree, &mtree::Header::default()).unwrap();
    tree.insert(b"etc", meta(Kind::Directory, 0o755), b"");
    tree.insert(b"etc/one", meta(Kind::Regular, 0o644), b"1");
    tree.insert(b"etc/block", meta(Kind::Regular, 0o644), &[7u8; 512]);
    tree.insert(b"etc/odd", meta(Kind::Regular, 0o600), &[9u8; 1025]);
    tree.insert(b"etc/empty", meta(Kind::Regular, 0o644), b"");
    let mut linked = meta(Kind::Regular, 0o644);
    linked.nlink = 2;
    linked.ino = 99;
    tree.insert(b"etc/link1", linked, b"shared");
    tree.insert(b"etc/link2", linked, b"shared");
    (tree, manifest)
}

fn options(manifest: String) -> Options {
    Options {
        manifest,
        ..Options::default()
    }
}

#[test]
fn a_sink_that_reads_files_writes_the_same_layer() {
    let (tree, manifest) = tree();
    let (copied, _) = repack(&tree, &options(manifest.clone()), Vec::new()).unwrap();
    let (sink, summary) = repack(&tree, &options(manifest), FileSink::new(&tree)).unwrap();
    assert_eq!(summary.written.added, 7);
    // Each non-empty regular file once; the second name of the hardlink is a link.
    assert_eq!(sink.files.get(), 4);
    assert_eq!(sink.out, copied);
}

#[test]
fn a_file_modified_while_the_sink_read_it_is_a_change() {
    let (tree, manifest) = tree();
    let mut sink = FileSink::new(&tree);
    let mut after = tree.nodes[&b"etc/block"[..]].meta;
    after.mtime_nsec += 1;
    sink.outcome = Some(Ok(after));
    let err = repack(&tree, &options(manifest), sink).unwrap_err();
    assert_eq!(
        err.to_string(),
        "changed during repack: etc/block: it was modified while being read"
    );
}

#[test]
fn a_layer_that_refuses_the_file_fails_as_the_layer() {
    let (tree, manifest) = tree();
    let mut sink = FileSink::new(&tree);
    sink.outcome = Some(Err(FileError::Layer(FsError::Io("no space".into()))));
    let err = repack(&tree, &options(manifest), sink).unwrap_err();
    assert!(matches!(err, RepackError::Sink(_)), "{err}");
    assert_eq!(err.to_string(), "writing the layer: no space");
}

/// What a failed read becomes, judged by what is at the path now.
#[test]
fn a_failed_file_read_is_told_by_what_changed() {
    let (mut tree, _) = tree();
    let walked = tree.nodes[&b"etc/odd"[..]].meta;
    let why = |tree: &MemTree, e: FsError| file_failed(tree, b"etc/odd", &walked, e).to_string();
    let io = || FsError::Io("it is 3 bytes long, not the 1025 expected".into());

    // Nothing changed: the error itself.
    assert_eq!(
        why(&tree, io()),
        "etc/odd: it is 3 bytes long, not the 1025 expected"
    );
    assert_eq!(
        why(&tree, FsError::NotSupported),
        "changed during repack: etc/odd: it is no longer the regular file the walk saw"
    );
    // Shorter now.
    tree.nodes.get_mut(&b"etc/odd"[..]).unwrap().meta.size = 3;
    assert_eq!(
        why(&tree, io()),
        "changed during repack: etc/odd: the file shrank below the 1025 bytes it had"
    );
    // Longer now.
    tree.nodes.get_mut(&b"etc/odd"[..]).unwrap().meta.size = 2000;
    assert_eq!(
        why(&tree, io()),
        "changed during repack: etc/odd: it was modified while being read"
    );
    // Another object, or none.
    tree.nodes.get_mut(&b"etc/odd"[..]).unwrap().meta.ino = 1234;
    assert_eq!(
        why(&tree, io()),
        "changed during repack: etc/odd: it is no longer the regular file the walk saw"
    );
    tree.nodes.remove(&b"etc/odd"[..]);
    assert_eq!(
        why(&tree, FsError::NotFound),
        "changed during repack: etc/odd: it is no longer the regular file the walk saw"
    );
    assert!(tree.metadata(b"etc/odd").is_err());
}
