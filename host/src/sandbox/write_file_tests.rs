//! `blob-writer.write-file` on the host's side: confined like `open-read`, exactly the
//! size the guest gave, counted against the job's budgets and in its statistics.

use std::path::Path;

use wasmtime::component::Resource;

use super::*;
use crate::bindings::blobs::{HostBlobWriter, WriteFileError};
use crate::bindings::fs::Error;
use crate::capability::CapDir;
use crate::layout::{BlobWriter, Compression, Layout};

/// A job's state without an engine: the host calls alone.
fn state(limits: Limits) -> JobState {
    JobState::new(&limits)
}

/// A granted tree (`f`, 300 KiB; `link -> ../outside`) and a plain-tar layer writer.
struct Fixture {
    _tmp: tempfile::TempDir,
    /// Kept: its temp area holds the layer.
    _layout: Layout,
    file: Vec<u8>,
    state: JobState,
    dir: Resource<CapDir>,
    writer: Resource<BlobWriter>,
}

fn fixture(limits: Limits) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(tmp.path().join("outside"), b"outside").unwrap();
    std::os::unix::fs::symlink("../outside", root.join("link")).unwrap();
    let file: Vec<u8> = (0..300 << 10).map(|i: u32| (i % 251) as u8).collect();
    std::fs::write(root.join("f"), &file).unwrap();
    let layout = Layout::init(tmp.path().join("layout")).unwrap();
    let mut state = state(limits);
    let dir = state
        .table
        .push(CapDir::open_ambient(Path::new(&root)).unwrap())
        .unwrap();
    let blob = layout.layer_writer(Compression::None, None).unwrap();
    let writer = state.table.push(blob).unwrap();
    Fixture {
        _tmp: tmp,
        _layout: layout,
        file,
        state,
        dir,
        writer,
    }
}

impl Fixture {
    fn write_file(
        &mut self,
        path: &[u8],
        size: u64,
    ) -> wasmtime::Result<Result<u64, WriteFileError>> {
        let (w, d) = (
            Resource::new_borrow(self.writer.rep()),
            Resource::new_borrow(self.dir.rep()),
        );
        let done = self.state.write_file(w, d, path.to_vec(), size)?;
        Ok(done.map(|meta| meta.size))
    }

    /// The layer's bytes.
    fn finish(mut self) -> Vec<u8> {
        let writer = self.state.table.delete(self.writer).unwrap();
        let written = writer.finish().unwrap();
        std::fs::read(&written.path).unwrap()
    }
}

#[test]
fn a_file_is_appended_and_counted_as_read_and_layer_bytes() {
    let mut f = fixture(Limits::default());
    let size = f.file.len() as u64;
    let head = f
        .state
        .write(Resource::new_borrow(f.writer.rep()), b"head".to_vec());
    head.unwrap().unwrap();
    assert_eq!(f.write_file(b"f", size).unwrap().unwrap(), size);
    assert_eq!(f.state.read, size);
    let calls = f.state.calls;
    assert_eq!((calls.read.calls, calls.read.bytes), (1, size));
    assert_eq!((calls.layer.calls, calls.layer.bytes), (2, size + 4));
    let expected = [&b"head"[..], &f.file].concat();
    assert!(f.finish() == expected);
}

#[test]
fn symlinks_other_kinds_and_a_wrong_size_fail_with_nothing_appended() {
    let mut f = fixture(Limits::default());
    let size = f.file.len() as u64;
    let file_error = |r: wasmtime::Result<Result<u64, WriteFileError>>| match r.unwrap() {
        Err(WriteFileError::File(e)) => e,
        other => panic!("not a file error: {other:?}"),
    };
    assert!(matches!(
        file_error(f.write_file(b"link", 7)),
        Error::NotSupported
    ));
    assert!(matches!(
        file_error(f.write_file(b"", 0)),
        Error::NotSupported
    ));
    assert!(matches!(
        file_error(f.write_file(b"../outside", 7)),
        Error::EscapesRoot
    ));
    assert!(matches!(
        file_error(f.write_file(b"missing", 1)),
        Error::NotFound
    ));
    match file_error(f.write_file(b"f", size + 1)) {
        Error::Io(m) => assert_eq!(
            m,
            format!("it is {size} bytes long, not the {} expected", size + 1)
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        file_error(f.write_file(b"f", size - 1)),
        Error::Io(_)
    ));
    // Refusals read nothing and spend no budget.
    assert_eq!(f.state.read, 0);
    assert!(f.finish().is_empty());
}

#[test]
fn the_read_and_written_budgets_stop_the_guest() {
    let mut f = fixture(Limits {
        max_read: 100 << 10,
        ..Limits::default()
    });
    let size = f.file.len() as u64;
    assert!(f.write_file(b"f", size).is_err());
    assert_eq!(f.state.over_budget(), Some(Budget::Read));

    let mut f = fixture(Limits {
        max_layer_written: 100 << 10,
        ..Limits::default()
    });
    assert!(f.write_file(b"f", size).is_err());
    assert_eq!(f.state.over_budget(), Some(Budget::LayerWritten));
    assert!(f.finish().is_empty());
}
