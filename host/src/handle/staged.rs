//! A file written in pieces and put in place atomically at the end: the streaming form
//! of [`write_atomic`](super::write_atomic), for texts too large to hold whole (a
//! bundle's manifest and stat cache of a tree with millions of entries).
//!
//! The file is made with [`create_temp`] under a random name; [`Staged::commit`]
//! flushes it, [`finish`]es it and renames it onto its name, then syncs the
//! directory. One dropped without being committed is removed again, so a failed job
//! leaves the old file (or none) and no temp file.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::AtFlags;

use super::{create_temp, finish, sync_dir};

/// Bytes gathered before each write to the file.
const BUFFER: usize = 256 << 10;

/// A new file under a temporary name in a directory, until committed.
#[derive(Debug)]
pub struct Staged {
    dir: OwnedFd,
    temp: OsString,
    file: BufWriter<File>,
    placed: bool,
}

impl Staged {
    /// A new empty file in `dir`, with `mode` less the umask.
    pub fn create(dir: &impl AsFd, mode: u32) -> io::Result<Self> {
        let dir = rustix::io::fcntl_dupfd_cloexec(dir, 0)?;
        let (file, temp) = create_temp(&dir, ".repack-", mode)?;
        Ok(Staged {
            dir,
            temp,
            file: BufWriter::with_capacity(BUFFER, file),
            placed: false,
        })
    }

    /// Put the file in place as `name`, replacing what is there (a symlink is
    /// replaced, not written through).
    pub fn commit(mut self, name: &OsStr) -> io::Result<()> {
        self.file.flush()?;
        finish(self.file.get_ref(), None)?;
        rustix::fs::renameat(&self.dir, &self.temp, &self.dir, name)?;
        self.placed = true;
        sync_dir(&self.dir)
    }
}

impl Write for Staged {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.file.write(bytes)
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.placed {
            let _ = rustix::fs::unlinkat(&self.dir, &self.temp, AtFlags::empty());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn names(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn pieces_become_one_file_only_when_committed() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("text"), b"old").unwrap();
        let dir = super::super::ambient_dir(tmp.path(), true).unwrap();
        let mut staged = Staged::create(&dir, 0o644).unwrap();
        staged.write_all(b"new ").unwrap();
        staged.write_all(&vec![b'x'; BUFFER + 1]).unwrap();
        // Until the commit, readers see the old file.
        assert_eq!(std::fs::read(tmp.path().join("text")).unwrap(), b"old");
        assert_eq!(names(tmp.path()).len(), 2);
        staged.commit(OsStr::new("text")).unwrap();
        let text = std::fs::read(tmp.path().join("text")).unwrap();
        assert_eq!(text.len(), 4 + BUFFER + 1);
        assert!(text.starts_with(b"new x"));
        assert_eq!(names(tmp.path()), ["text"]);
    }

    #[test]
    fn a_dropped_file_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("text"), b"old").unwrap();
        let dir = super::super::ambient_dir(tmp.path(), true).unwrap();
        let mut staged = Staged::create(&dir, 0o644).unwrap();
        staged.write_all(b"half").unwrap();
        drop(staged);
        assert_eq!(names(tmp.path()), ["text"]);
        assert_eq!(std::fs::read(tmp.path().join("text")).unwrap(), b"old");
    }

    #[test]
    fn a_symlink_at_the_name_is_replaced_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("target"), b"keep").unwrap();
        symlink("target", tmp.path().join("text")).unwrap();
        let dir = super::super::ambient_dir(tmp.path(), true).unwrap();
        let mut staged = Staged::create(&dir, 0o644).unwrap();
        staged.write_all(b"new").unwrap();
        staged.commit(OsStr::new("text")).unwrap();
        assert_eq!(std::fs::read(tmp.path().join("target")).unwrap(), b"keep");
        assert!(
            std::fs::symlink_metadata(tmp.path().join("text"))
                .unwrap()
                .is_file()
        );
    }
}
