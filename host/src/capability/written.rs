//! Digests of the files a writable handle created, taken as their bytes went by: the
//! manifest walk that follows an unpack then need not read every file back.
//!
//! A digest is only given for the same path, inode and size it was recorded with, and
//! removing a path forgets it and everything below it, so a path reused for another
//! object (even one that gets a freed inode number back) is hashed again.

use std::collections::BTreeMap;
use std::io::{self, Seek, SeekFrom, Write};
use std::sync::{Arc, Mutex};

use cap_std::fs::File;
use sha2::{Digest as _, Sha256};

use super::CapError;

#[derive(Debug, Clone, Copy)]
struct Record {
    ino: u64,
    size: u64,
    digest: [u8; 32],
}

/// Recorded digests by normalized path (components joined by `/`).
#[derive(Debug, Default)]
pub struct Written(Mutex<BTreeMap<Vec<u8>, Record>>);

impl Written {
    fn files(&self) -> std::sync::MutexGuard<'_, BTreeMap<Vec<u8>, Record>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The digest recorded for `path`, if it is still the object written then.
    pub fn get(&self, path: &[u8], ino: u64, size: u64) -> Option<[u8; 32]> {
        self.files()
            .get(path)
            .filter(|r| r.ino == ino && r.size == size)
            .map(|r| r.digest)
    }

    /// Whether no file is recorded.
    pub fn is_empty(&self) -> bool {
        self.files().is_empty()
    }

    /// Forget `path` and everything below it.
    pub fn forget(&self, path: &[u8]) {
        let mut files = self.files();
        files.remove(path);
        let mut below = path.to_vec();
        below.push(b'/');
        let doomed: Vec<Vec<u8>> = files
            .range(below.clone()..)
            .take_while(|(p, _)| p.starts_with(&below))
            .map(|(p, _)| p.clone())
            .collect();
        for p in doomed {
            files.remove(&p);
        }
    }

    fn record(&self, path: Vec<u8>, record: Record) {
        self.files().insert(path, record);
    }
}

/// A file the guest creates and fills (the `fs.file-writer` resource); its digest is
/// recorded when the guest lets go of it.
#[derive(Debug)]
pub struct FileWriter {
    file: File,
    path: Vec<u8>,
    hash: Sha256,
    size: u64,
    written: Arc<Written>,
}

impl FileWriter {
    pub(super) fn new(file: File, path: Vec<u8>, written: Arc<Written>) -> Self {
        FileWriter {
            file,
            path,
            hash: Sha256::new(),
            size: 0,
            written,
        }
    }

    /// The file being written.
    pub(super) fn file(&self) -> &File {
        &self.file
    }

    /// Append `bytes`.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), CapError> {
        self.file.write_all(bytes).map_err(CapError::from)?;
        self.hash.update(bytes);
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// Append `len` zero bytes as a hole: the file is extended without writing them
    /// (where the filesystem has no holes, it stores the zeros itself).
    pub fn skip(&mut self, len: u64) -> Result<(), CapError> {
        let end = self.size.checked_add(len).ok_or_else(|| {
            CapError::from(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a hole past the largest file size",
            ))
        })?;
        self.file.set_len(end).map_err(CapError::from)?;
        self.file
            .seek(SeekFrom::Start(end))
            .map_err(CapError::from)?;
        // The digest covers the zeros, so the manifest walk still need not read the file.
        let zeros = [0u8; 64 << 10];
        let mut left = len;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            self.hash.update(&zeros[..n]);
            left -= n as u64;
        }
        self.size = end;
        Ok(())
    }

    /// Done writing: record the digest of what was written.
    pub fn finish(self) -> io::Result<()> {
        use cap_std::fs::MetadataExt;
        let meta = self.file.metadata()?;
        if meta.len() == self.size {
            let record = Record {
                ino: meta.ino(),
                size: self.size,
                digest: self.hash.finalize().into(),
            };
            self.written.record(self.path, record);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ino: u64) -> Record {
        Record {
            ino,
            size: 3,
            digest: [ino as u8; 32],
        }
    }

    #[test]
    fn a_digest_needs_the_same_inode_and_size() {
        let w = Written::default();
        w.record(b"a/b".to_vec(), record(7));
        assert_eq!(w.get(b"a/b", 7, 3), Some([7; 32]));
        assert_eq!(w.get(b"a/b", 8, 3), None);
        assert_eq!(w.get(b"a/b", 7, 4), None);
        assert_eq!(w.get(b"a/c", 7, 3), None);
    }

    #[test]
    fn skipped_bytes_are_a_hole_and_count_in_the_digest() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = super::super::CapDir::open_ambient_writable(tmp.path()).unwrap();
        let mut file = dir.create_file(b"sparse", 0o644).unwrap();
        file.write(b"head").unwrap();
        file.skip(8 << 20).unwrap();
        file.write(b"middle").unwrap();
        file.skip(8 << 20).unwrap();
        file.finish().unwrap();
        let path = tmp.path().join("sparse");
        let mut expected = b"head".to_vec();
        expected.resize(4 + (8 << 20), 0);
        expected.extend_from_slice(b"middle");
        expected.resize(expected.len() + (8 << 20), 0);
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        let blocks = std::fs::metadata(&path).unwrap().blocks();
        assert!(
            blocks * 512 < 1 << 20,
            "{blocks} blocks: the zeros were written"
        );
        let digest: [u8; 32] = Sha256::digest(&expected).into();
        let meta = std::fs::metadata(&path).unwrap();
        let recorded = dir.written.get(b"sparse", meta.ino(), meta.len());
        assert_eq!(recorded, Some(digest), "the recorded digest");
    }

    #[test]
    fn forgetting_a_path_forgets_what_is_below_it_only() {
        let w = Written::default();
        for (p, ino) in [
            (&b"a"[..], 1),
            (b"a/b", 2),
            (b"a/b/c", 3),
            (b"a-b", 4),
            (b"ab", 5),
        ] {
            w.record(p.to_vec(), record(ino));
        }
        w.forget(b"a");
        assert_eq!(w.get(b"a", 1, 3), None);
        assert_eq!(w.get(b"a/b", 2, 3), None);
        assert_eq!(w.get(b"a/b/c", 3, 3), None);
        assert_eq!(w.get(b"a-b", 4, 3), Some([4; 32]));
        assert_eq!(w.get(b"ab", 5, 3), Some([5; 32]));
    }
}
