//! Capability-scoped filesystem access for the guest.
//!
//! A [`CapDir`] is a directory the host grants to a job. Every path the guest hands in is
//! resolved one component at a time below that directory: `..` and absolute paths are
//! refused outright, no symlink is followed anywhere in a path (intermediate components
//! are opened with `O_NOFOLLOW`), and metadata and xattr calls describe a final symlink
//! itself. The guest therefore reaches exactly the objects below the granted directory,
//! and nothing a symlink points at.

mod create;
mod error;
mod lend;
mod meta;
mod path;
mod write;
mod written;
mod xattr;
mod xattrat;

pub use create::{Attributes, NewKind, Refused};
pub use error::CapError;
pub use meta::{Entry, Kind, Metadata, of_file as file_metadata};

use lend::Loans;
pub use written::FileWriter;
use written::Written;

use std::ffi::{CString, OsStr, OsString};
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::sync::{Arc, Mutex};

use cap_fs_ext::DirExt;
use cap_std::ambient_authority;
use cap_std::fs::{Dir, File};
use rustix::fs::{AtFlags, Mode, OFlags, RawDir};
use sha2::{Digest, Sha256};

/// Chunk size for reading file contents.
const READ_CHUNK: usize = 256 * 1024;

/// How many directories of the last path stay open (its deepest ones), so a deep tree
/// does not cost a descriptor per level.
const KEPT_OPEN: usize = 64;

/// The most components a path may have: deeper trees are refused with an error rather
/// than walked (no real rootfs comes near; a hostile one could go on for ever).
pub const MAX_DEPTH: usize = 4096;

/// A directory granted to a job, read-only.
///
/// The directories along the most recently used path stay open (the deepest
/// [`KEPT_OPEN`] of them), so a walk in directory order resolves each path with one
/// `openat` at most instead of one per component. (The handle is read-only; an operation that removes or renames
/// directories would have to drop the cached ones.)
#[derive(Debug)]
pub struct CapDir {
    root: Arc<Dir>,
    open: Mutex<Vec<(OsString, Option<Arc<Dir>>)>>,
    writable: bool,
    written: Arc<Written>,
    /// Owner bits lent while the job works (`None` as root, who needs none).
    loans: Option<Loans>,
}

/// Where a path leads: the root itself, or a name inside an opened parent.
enum Target<'p> {
    Root,
    Child(Arc<Dir>, &'p OsStr),
}

impl CapDir {
    /// Grant the directory at `path` (an ambient path the user named).
    pub fn open_ambient(path: &Path) -> Result<Self, CapError> {
        let root = Dir::open_ambient_dir(path, ambient_authority())?;
        Ok(Self::from_dir(root))
    }

    /// Grant an already opened directory.
    pub fn from_dir(root: Dir) -> Self {
        CapDir {
            root: Arc::new(root),
            open: Mutex::new(Vec::new()),
            writable: false,
            written: Arc::default(),
            loans: Loans::for_effective_user(),
        }
    }

    /// Grant the directory at `path` for reading and writing (unpack's new rootfs).
    pub fn open_ambient_writable(path: &Path) -> Result<Self, CapError> {
        let mut dir = Self::open_ambient(path)?;
        dir.writable = true;
        Ok(dir)
    }

    /// Grant an already opened directory for reading and writing.
    pub fn from_dir_writable(root: Dir) -> Self {
        let mut dir = Self::from_dir(root);
        dir.writable = true;
        dir
    }

    /// Forget the directories kept open: after a removal they may be gone.
    fn forget_open(&self) {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Open the directory at the components of `path`, following no symlink; reuses
    /// the open directories of the last path that share a prefix with this one.
    ///
    /// The names of the whole last path are kept, descriptors only for its deepest
    /// [`KEPT_OPEN`] directories: going deeper costs one open per new component however
    /// deep the tree is, and a path that leaves the kept ones reopens from the deepest
    /// kept ancestor (or the root).
    fn open_dir(&self, components: &[&OsStr]) -> Result<Arc<Dir>, CapError> {
        if components.len() >= MAX_DEPTH {
            return Err(CapError::TooDeep);
        }
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let shared = open
            .iter()
            .zip(components)
            .take_while(|((cached, _), wanted)| cached.as_os_str() == **wanted)
            .count();
        open.truncate(shared);
        let start = open
            .iter()
            .rposition(|(_, dir)| dir.is_some())
            .map_or(0, |i| i + 1);
        let mut parent = match start {
            0 => self.root.clone(),
            i => open[i - 1]
                .1
                .clone()
                .expect("rposition found a kept directory"),
        };
        for (i, name) in components.iter().enumerate().skip(start) {
            let path = join(&components[..=i]);
            let next = Arc::new(self.lending(&parent, &path, Some(name), || {
                parent.open_dir_nofollow(name).map_err(|e| {
                    // A symlink in a path is refused with a kind of its own.
                    if is_symlink(&parent, name) {
                        CapError::EscapesRoot
                    } else {
                        CapError::from(e)
                    }
                })
            })?);
            match open.get_mut(i) {
                Some(entry) => entry.1 = Some(next.clone()),
                None => open.push((name.to_os_string(), Some(next.clone()))),
            }
            if let Some(old) = i.checked_sub(KEPT_OPEN) {
                open[old].1 = None;
            }
            parent = next;
        }
        // The kept descriptors are one run ending at the deepest level: close those
        // above the last KEPT_OPEN.
        let mut above = open.len().saturating_sub(KEPT_OPEN);
        while above > 0 {
            above -= 1;
            if open[above].1.take().is_none() {
                break;
            }
        }
        Ok(parent)
    }

    /// Resolve `path` to the root or to (parent, name).
    fn target<'p>(&self, path: &'p [u8]) -> Result<Target<'p>, CapError> {
        let components = path::components(path)?;
        match components.split_last() {
            None => Ok(Target::Root),
            Some((name, parents)) => Ok(Target::Child(self.open_dir(parents)?, name)),
        }
    }

    /// Metadata of `path`; a final symlink is described, not followed.
    pub fn metadata(&self, path: &[u8]) -> Result<Metadata, CapError> {
        let st = match self.target(path)? {
            Target::Root => rustix::fs::fstat(&*self.root)?,
            Target::Child(parent, name) => self.lending(&parent, path, Some(name), || {
                Ok(rustix::fs::statat(
                    &*parent,
                    name,
                    AtFlags::SYMLINK_NOFOLLOW,
                )?)
            })?,
        };
        let mut m = meta::from_stat(&st);
        self.real_mode(|| normalized(path), &mut m)?;
        Ok(m)
    }

    /// Report a directory's own mode, not the owner bits lent to it.
    fn real_mode(
        &self,
        path: impl FnOnce() -> Result<Vec<u8>, CapError>,
        m: &mut Metadata,
    ) -> Result<(), CapError> {
        if let Some(loans) = &self.loans
            && m.kind == Kind::Directory
            && loans.any()
            && let Some(mode) = loans.mode_of(&path()?, m.ino)
        {
            m.mode = mode;
        }
        Ok(())
    }

    /// Run `op`, which acts on `name` inside `parent` (or on `parent` itself when `name`
    /// is `None`; `path` is the object's guest path). Without root, a permission error
    /// on something the effective user owns lends it the owner bits it needs (see
    /// [`lend`]) and tries again: first the parent directory, then the object.
    fn lending<T>(
        &self,
        parent: &Dir,
        path: &[u8],
        name: Option<&OsStr>,
        op: impl FnMut() -> Result<T, CapError>,
    ) -> Result<T, CapError> {
        self.lending_at(parent, || normalized(path), name, op)
    }

    /// [`CapDir::lending`] with the object's normalized path made by `path`, only when
    /// a loan is needed.
    fn lending_at<T>(
        &self,
        parent: &Dir,
        path: impl FnOnce() -> Result<Vec<u8>, CapError>,
        name: Option<&OsStr>,
        mut op: impl FnMut() -> Result<T, CapError>,
    ) -> Result<T, CapError> {
        let first = op();
        let Some(loans) = &self.loans else {
            return first;
        };
        if !matches!(first, Err(CapError::PermissionDenied)) {
            return first;
        }
        let path = path()?;
        let parent_path = match name {
            Some(_) => path
                .iter()
                .rposition(|&b| b == b'/')
                .map_or(&path[..0], |i| &path[..i]),
            None => &path[..],
        };
        if loans.lend_dir(parent.as_fd(), parent_path)? {
            match op() {
                Err(CapError::PermissionDenied) => {}
                other => return other,
            }
        }
        let Some(name) = name else {
            return Err(CapError::PermissionDenied);
        };
        let Ok(object) = lend::open_path(parent, name) else {
            return Err(CapError::PermissionDenied);
        };
        if loans.lend_dir(object.as_fd(), &path)? {
            return op();
        }
        loans
            .with_file(object.as_fd(), op)?
            .ok_or(CapError::PermissionDenied)
    }

    /// Every entry of the directory at `path`, with metadata.
    pub fn read_dir(&self, path: &[u8]) -> Result<Vec<Entry>, CapError> {
        Ok(self
            .list(path, false)?
            .into_iter()
            .map(|(e, _)| e)
            .collect())
    }

    /// [`CapDir::read_dir`] with the extended attributes of each regular file and
    /// directory (other kinds get none).
    pub fn read_dir_xattrs(&self, path: &[u8]) -> Result<Vec<(Entry, xattr::Xattrs)>, CapError> {
        self.list(path, true)
    }

    /// The entries of the directory at `path`, with their attributes if `xattrs`.
    fn list(&self, path: &[u8], xattrs: bool) -> Result<Vec<(Entry, xattr::Xattrs)>, CapError> {
        let dir = self.open_dir(&path::components(path)?)?;
        let base = normalized(path)?;
        let child = |name: &[u8]| {
            let mut p = Vec::with_capacity(base.len() + 1 + name.len());
            p.extend_from_slice(&base);
            if !p.is_empty() {
                p.push(b'/');
            }
            p.extend_from_slice(name);
            Ok(p)
        };
        let names = self.lending(&dir, path, None, || read_names(&dir))?;
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let os = OsStr::from_bytes(name.as_bytes());
            let stat = self.lending_at(
                &dir,
                || child(name.as_bytes()),
                Some(os),
                || {
                    Ok(rustix::fs::statat(
                        &*dir,
                        &*name,
                        AtFlags::SYMLINK_NOFOLLOW,
                    )?)
                },
            )?;
            let mut meta = meta::from_stat(&stat);
            self.real_mode(|| child(name.as_bytes()), &mut meta)?;
            let attrs = match meta.kind {
                Kind::Regular | Kind::Directory if xattrs => self.lending_at(
                    &dir,
                    || child(name.as_bytes()),
                    Some(os),
                    || xattr::list_at(&dir, os),
                )?,
                _ => Vec::new(),
            };
            let entry = Entry {
                name: name.into_bytes(),
                meta,
            };
            out.push((entry, attrs));
        }
        Ok(out)
    }

    /// The target of the symlink at `path`, verbatim.
    pub fn read_link(&self, path: &[u8]) -> Result<Vec<u8>, CapError> {
        match self.target(path)? {
            Target::Root => Err(CapError::NotSupported),
            Target::Child(parent, name) => {
                let meta = self.lending(&parent, path, Some(name), || {
                    Ok(parent.symlink_metadata(name)?)
                })?;
                if !meta.file_type().is_symlink() {
                    return Err(CapError::NotSupported);
                }
                // EINVAL: it stopped being a symlink since the check above.
                match parent.read_link_contents(name) {
                    Ok(target) => Ok(target.into_os_string().into_vec()),
                    Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
                        Err(CapError::NotSupported)
                    }
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// Extended attributes of `path` in listing order (not following a final symlink).
    pub fn xattrs(&self, path: &[u8]) -> Result<xattr::Xattrs, CapError> {
        match self.target(path)? {
            Target::Root => self.lending(&self.root, path, None, || {
                xattr::list_at(&self.root, OsStr::new("."))
            }),
            Target::Child(parent, name) => {
                self.lending(&parent, path, Some(name), || xattr::list_at(&parent, name))
            }
        }
    }

    /// Open the regular file at `path` for reading, never following a symlink and never
    /// opening anything else: the name is opened with `O_PATH` (which opens nothing, so
    /// no fifo blocks and no device driver runs), checked to be a regular file, and
    /// only then reopened for reading (see [`crate::handle::open`]).
    pub fn open_read(&self, path: &[u8]) -> Result<File, CapError> {
        let Target::Child(parent, name) = self.target(path)? else {
            return Err(CapError::NotSupported);
        };
        // Without root, a file the owner cannot read is lent `u+r` for the reopen.
        let file = self.lending(&parent, path, Some(name), || {
            let (fd, stat) = crate::handle::open::open_path(&*parent, name).map_err(|e| {
                if is_symlink(&parent, name) {
                    CapError::NotSupported
                } else {
                    CapError::from(e)
                }
            })?;
            if rustix::fs::FileType::from_raw_mode(stat.st_mode)
                != rustix::fs::FileType::RegularFile
            {
                return Err(CapError::NotSupported);
            }
            Ok(crate::handle::open::reopen(
                &*parent,
                name,
                &fd,
                &stat,
                rustix::fs::OFlags::RDONLY,
            )?)
        })?;
        Ok(File::from_std(file))
    }

    /// The digest taken while this handle wrote the regular file at `path`, if it did
    /// and the file is still that one (same inode and size).
    pub fn written_digest(&self, path: &[u8]) -> Result<Option<[u8; 32]>, CapError> {
        if !self.writable || self.written.is_empty() {
            return Ok(None);
        }
        let m = self.metadata(path)?;
        let known = self.written.get(&normalized(path)?, m.ino, m.size);
        Ok(known.filter(|_| m.kind == Kind::Regular))
    }

    /// SHA-256 of the contents of the regular file at `path`: for a file this handle
    /// wrote, the digest taken while it was written; otherwise read and hashed.
    pub fn digest(&self, path: &[u8]) -> Result<[u8; 32], CapError> {
        match self.written_digest(path)? {
            Some(digest) => Ok(digest),
            None => self.digest_contents(path),
        }
    }

    /// SHA-256 of the contents of the regular file at `path`, read and hashed.
    pub fn digest_contents(&self, path: &[u8]) -> Result<[u8; 32], CapError> {
        let mut file = self.open_read(path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hasher.finalize().into())
    }
}

/// Remove the tree at the ambient `path` (a rootfs after a failed unpack) through a
/// handle on its parent: no symlink is followed, and without root, directories left
/// without owner bits are lent them on the way.
pub fn remove_tree(path: &Path) -> Result<(), CapError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or(CapError::NotSupported)?;
    CapDir::open_ambient_writable(parent)?.remove(name.as_bytes())
}

impl Drop for CapDir {
    fn drop(&mut self) {
        if let Err(e) = self.restore_modes() {
            tracing::warn!("putting back directory modes after owner bits were lent: {e}");
        }
    }
}

/// `path` with its components joined by single slashes (the key of [`Written`]).
fn normalized(path: &[u8]) -> Result<Vec<u8>, CapError> {
    Ok(join(&path::components(path)?))
}

/// Components joined by single slashes.
fn join(components: &[&OsStr]) -> Vec<u8> {
    components
        .iter()
        .map(|c| c.as_bytes())
        .collect::<Vec<_>>()
        .join(&b'/')
}

/// The names in the directory `dir`, but `.` and `..`: read from a descriptor of its
/// own (cap-std keeps directories open with `O_PATH`, which cannot be read), with one
/// large buffer, so that most directories take one `getdents64` and the one that says
/// the end.
fn read_names(dir: &Dir) -> Result<Vec<CString>, CapError> {
    let fd = rustix::fs::openat(
        dir,
        c".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut buf = Vec::with_capacity(32 << 10);
    let mut raw = RawDir::new(&fd, buf.spare_capacity_mut());
    let mut names = Vec::new();
    while let Some(entry) = raw.next() {
        let entry = entry?;
        let name = entry.file_name();
        if name != c"." && name != c".." {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// Whether `name` in `parent` is a symlink: explains why a no-follow open failed.
fn is_symlink(parent: &Dir, name: &OsStr) -> bool {
    parent
        .symlink_metadata(name)
        .is_ok_and(|m| m.file_type().is_symlink())
}

#[cfg(test)]
mod tests;
