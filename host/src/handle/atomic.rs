//! New files and atomic replacement, relative to directory handles.
//!
//! A new file is created with `O_CREAT | O_EXCL | O_NOFOLLOW` under a fresh random
//! name, with the caller's mode: the kernel takes the umask away from it, as for any
//! file a program creates. [`finish`] keeps it readable by its owner whatever the
//! umask, gives it the owner asked for and flushes it. [`write_atomic`] puts a whole
//! file in place: temp file, fsync, `renameat` onto the name, fsync of the directory,
//! so a reader (or a crash) sees the old file or the new one, never a mix.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::{Owner, Staged};

/// Random lowercase letters and digits, `len` of them (names of temp files and
/// directories; uniqueness is enforced by `O_EXCL`, not by the randomness).
pub fn random_name(prefix: &str, len: usize) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut name = String::from(prefix);
    while name.len() < prefix.len() + len {
        let mut bits = RandomState::new().hash_one((
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::process::id(),
            std::time::SystemTime::now(),
        ));
        for _ in 0..8 {
            if name.len() == prefix.len() + len {
                break;
            }
            name.push(ALPHABET[(bits % ALPHABET.len() as u64) as usize] as char);
            bits /= ALPHABET.len() as u64;
        }
    }
    name
}

/// Create a new file `prefix<random>` in `dir`, readable and writable, with `mode`
/// less the umask. Returns it and its name.
pub fn create_temp(dir: &impl AsFd, prefix: &str, mode: u32) -> io::Result<(File, OsString)> {
    loop {
        let name = random_name(prefix, 12);
        match rustix::fs::openat(
            dir,
            name.as_str(),
            OFlags::CREATE | OFlags::EXCL | OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode & 0o777),
        ) {
            Ok(fd) => return Ok((File::from(fd), name.into())),
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Make a finished new file readable by its owner (a umask may have taken that away),
/// give it `owner`, and flush it to disk.
pub fn finish(file: &File, owner: Owner) -> io::Result<()> {
    let mode = rustix::fs::fstat(file)?.st_mode & 0o7777;
    if mode & 0o400 == 0 {
        rustix::fs::fchmod(file, Mode::from_raw_mode(mode | 0o400))?;
    }
    if let Some((uid, gid)) = owner {
        rustix::fs::fchown(
            file,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
        )?;
    }
    file.sync_all()
}

/// fsync a directory, so a rename into it survives a power loss.
pub fn sync_dir(dir: &impl AsFd) -> io::Result<()> {
    Ok(rustix::fs::fsync(dir)?)
}

/// Replace `name` in `dir` with a file holding `bytes` (created with `mode` less the
/// umask, then [`finish`]ed), atomically: the temp file is made in `temp` (on the same
/// filesystem) and renamed onto `name`. A failure leaves no temp file behind.
pub fn write_atomic(
    temp: &impl AsFd,
    dir: &impl AsFd,
    name: &OsStr,
    bytes: &[u8],
    mode: u32,
    owner: Owner,
) -> io::Result<()> {
    let mut staged = Staged::create(temp, mode)?;
    staged.write_all(bytes)?;
    staged.commit_into(dir, name, owner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, symlink};

    #[test]
    fn names_are_random_and_sized() {
        let a = random_name(".umoci-", 8);
        assert_eq!(a.len(), 15);
        assert!(a.starts_with(".umoci-"));
        assert_ne!(a, random_name(".umoci-", 8));
    }

    #[test]
    fn replaces_a_symlink_instead_of_writing_through_it() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("target"), b"keep").unwrap();
        symlink("target", tmp.path().join("name")).unwrap();
        let dir = super::super::ambient_dir(tmp.path(), true).unwrap();
        write_atomic(&dir, &dir, OsStr::new("name"), b"new", 0o644, None).unwrap();
        assert_eq!(std::fs::read(tmp.path().join("target")).unwrap(), b"keep");
        let meta = std::fs::symlink_metadata(tmp.path().join("name")).unwrap();
        assert!(meta.is_file());
        assert_eq!(std::fs::read(tmp.path().join("name")).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 2);
        assert_eq!(meta.mode() & 0o400, 0o400);
    }
}
