//! A file written in pieces and put in place atomically at the end: what
//! [`write_atomic`](super::write_atomic) does with bytes it has whole, for texts too
//! large to hold (a bundle's manifest and stat cache of a tree with millions of
//! entries), which are written as they come.
//!
//! The file is made with [`create_temp`] under a random name; committing it
//! [`finish`]es it, renames it onto its name, then syncs the directory. One dropped
//! without being committed is removed again, so a failed job leaves the old file (or
//! none) and no temp file. Writes go straight to the file: its writers hand over
//! large pieces already.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::AtFlags;

use super::{Owner, create_temp, finish, sync_dir};

/// A new file under a temporary name in a directory, until committed.
#[derive(Debug)]
pub struct Staged {
    dir: OwnedFd,
    temp: OsString,
    file: File,
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
            file,
            placed: false,
        })
    }

    /// Put the file in place as `name` in the directory it was made in, replacing
    /// what is there (a symlink is replaced, not written through).
    pub fn commit(mut self, name: &OsStr) -> io::Result<()> {
        self.place(None, name, None)
    }

    /// Put the file in place as `name` in `dir` (on the same filesystem), with
    /// `owner`.
    pub fn commit_into(mut self, dir: &impl AsFd, name: &OsStr, owner: Owner) -> io::Result<()> {
        self.place(Some(dir.as_fd()), name, owner)
    }

    fn place(
        &mut self,
        into: Option<BorrowedFd<'_>>,
        name: &OsStr,
        owner: Owner,
    ) -> io::Result<()> {
        finish(&self.file, owner)?;
        let dir = into.unwrap_or(self.dir.as_fd());
        rustix::fs::renameat(&self.dir, &self.temp, dir, name)?;
        self.placed = true;
        sync_dir(&dir)
    }
}

impl Write for Staged {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.file.write(bytes)
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
    use std::path::Path;

    /// A scratch directory and a handle to it.
    fn scratch() -> (tempfile::TempDir, cap_std::fs::Dir) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = super::super::ambient_dir(tmp.path(), true).unwrap();
        (tmp, dir)
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn pieces_become_one_file_only_when_committed() {
        let (tmp, dir) = scratch();
        std::fs::write(tmp.path().join("text"), b"old").unwrap();
        let mut staged = Staged::create(&dir, 0o644).unwrap();
        staged.write_all(b"new ").unwrap();
        staged.write_all(&vec![b'x'; 300_000]).unwrap();
        // Until the commit, readers see the old file.
        assert_eq!(std::fs::read(tmp.path().join("text")).unwrap(), b"old");
        assert_eq!(names(tmp.path()).len(), 2);
        staged.commit(OsStr::new("text")).unwrap();
        let text = std::fs::read(tmp.path().join("text")).unwrap();
        assert_eq!(text.len(), 4 + 300_000);
        assert!(text.starts_with(b"new x"));
        assert_eq!(names(tmp.path()), ["text"]);
    }

    #[test]
    fn a_dropped_file_leaves_nothing() {
        let (tmp, dir) = scratch();
        std::fs::write(tmp.path().join("text"), b"old").unwrap();
        let mut staged = Staged::create(&dir, 0o644).unwrap();
        staged.write_all(b"half").unwrap();
        drop(staged);
        assert_eq!(names(tmp.path()), ["text"]);
        assert_eq!(std::fs::read(tmp.path().join("text")).unwrap(), b"old");
    }

    #[test]
    fn a_symlink_at_the_name_is_replaced_not_followed() {
        let (tmp, dir) = scratch();
        std::fs::write(tmp.path().join("target"), b"keep").unwrap();
        symlink("target", tmp.path().join("text")).unwrap();
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

    #[test]
    fn committed_into_another_directory_the_temp_directory_is_left_empty() {
        let (tmp, temp) = scratch();
        std::fs::create_dir(tmp.path().join("into")).unwrap();
        let into = super::super::ambient_dir(&tmp.path().join("into"), true).unwrap();
        let mut staged = Staged::create(&temp, 0o644).unwrap();
        staged.write_all(b"moved").unwrap();
        staged.commit_into(&into, OsStr::new("text"), None).unwrap();
        assert_eq!(names(tmp.path()), ["into"]);
        assert_eq!(
            std::fs::read(tmp.path().join("into/text")).unwrap(),
            b"moved"
        );
    }
}
