//! Runtime bundles as umoci lays them out: `rootfs/`, `<alg>_<hex>.mtree` and
//! `umoci.json`.
//!
//! - [`meta`]: the `umoci.json` document.

pub mod meta;

pub use meta::{BundleMeta, IdMap};

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use cap_std::fs::Dir;
use thiserror::Error;

use crate::handle;
use crate::layout::Digest;

/// A bundle file that is missing or wrong.
#[derive(Debug, Error)]
#[error("{}: {why}", path.display())]
pub struct BundleError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub why: String,
}

impl BundleError {
    fn at(path: &Path) -> impl FnOnce(String) -> BundleError + '_ {
        move |why| BundleError {
            path: path.to_owned(),
            why,
        }
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
        move |e| Self::from_io(path, e)
    }

    /// An I/O error on `path`.
    pub fn from_io(path: &Path, e: std::io::Error) -> BundleError {
        BundleError {
            path: path.to_owned(),
            why: e.to_string(),
        }
    }
}

/// The bundle's stat cache file (see the guest's `statcache` module): digests of the
/// rootfs's files by inode, size and times, so unchanged files are not hashed again.
pub const STAT_CACHE: &str = "repack.statcache";

/// The most bytes `umoci.json` may have.
pub const MAX_META: u64 = 16 << 20;

/// The manifest file name for an image manifest digest: `sha256_<hex>.mtree`.
pub fn mtree_name(digest: &Digest) -> String {
    format!("sha256_{}.mtree", digest.hex())
}

/// An opened bundle.
///
/// The directory is opened once (as the user named it); its files are reached from
/// that handle by name, never following a symlink, and only regular files are read.
#[derive(Debug)]
pub struct Bundle {
    /// The bundle directory, for messages.
    pub path: PathBuf,
    dir: Dir,
    /// Its `umoci.json`.
    pub meta: BundleMeta,
}

impl Bundle {
    /// Read and check `umoci.json` of the bundle at `path`.
    pub fn open(path: &Path) -> Result<Self, BundleError> {
        let dir = handle::ambient_dir(path, true).map_err(BundleError::io(path))?;
        let meta_path = path.join(meta::FILE);
        let bytes = handle::read_regular(&dir, meta::FILE, MAX_META)
            .map_err(BundleError::io(&meta_path))?;
        let meta = BundleMeta::parse(&bytes).map_err(BundleError::at(&meta_path))?;
        Ok(Bundle {
            path: path.to_owned(),
            dir,
            meta,
        })
    }

    /// Record an already populated `rootfs` in the bundle directory `dir` (at `path`)
    /// as a bundle of the image reached by `walk`: `place_mtree` puts its manifest in
    /// place under the name it is given, then `umoci.json` is written.
    pub fn create(
        dir: Dir,
        path: &Path,
        walk: &[crate::layout::Descriptor],
        map_options: meta::MapOptions,
        place_mtree: impl FnOnce(&str) -> std::io::Result<()>,
    ) -> Result<Self, BundleError> {
        let digest = &walk
            .last()
            .ok_or_else(|| BundleError::at(path)("empty descriptor walk".into()))?
            .digest;
        let meta = BundleMeta::new(walk, map_options);
        let bundle = Bundle {
            path: path.to_owned(),
            dir,
            meta,
        };
        let name = mtree_name(digest);
        place_mtree(&name).map_err(BundleError::io(&path.join(&name)))?;
        bundle.write_file(meta::FILE, &bundle.meta.encode(), 0o644)?;
        Ok(bundle)
    }

    /// The rootfs directory's handle, refusing one that is a symlink (it would lead out
    /// of the bundle); the handle is the directory checked, whatever happens to the
    /// name later.
    pub fn rootfs(&self) -> Result<Dir, BundleError> {
        handle::dir_at(&self.dir, "rootfs").map_err(|e| {
            let why = if e.to_string().contains("symlink") {
                "is a symlink; refusing to follow it out of the bundle".into()
            } else {
                e.to_string()
            };
            BundleError::at(&self.path.join("rootfs"))(why)
        })
    }

    /// The rootfs path, for messages and manifest headers.
    pub fn rootfs_path(&self) -> PathBuf {
        self.path.join("rootfs")
    }

    /// The name of the manifest file the bundle's metadata names.
    pub fn mtree_name(&self) -> Result<String, BundleError> {
        let digest = self
            .meta
            .manifest_digest()
            .map_err(BundleError::at(&self.path))?;
        Ok(mtree_name(&digest))
    }

    /// The manifest text.
    pub fn read_mtree(&self) -> Result<String, BundleError> {
        let name = self.mtree_name()?;
        let path = self.path.join(&name);
        let bytes =
            handle::read_regular(&self.dir, &name, u64::MAX).map_err(BundleError::io(&path))?;
        String::from_utf8(bytes)
            .map_err(|_| BundleError::at(&path)("not a text file (invalid UTF-8)".into()))
    }

    /// The stat cache text, if the bundle has a readable one (a regular file).
    pub fn read_stat_cache(&self) -> Option<String> {
        let bytes = handle::read_regular(&self.dir, STAT_CACHE, u64::MAX).ok()?;
        String::from_utf8(bytes).ok()
    }

    /// Write `bytes` to the bundle file `name` atomically (see [`write_atomic`]).
    pub fn write_file(&self, name: &str, bytes: &[u8], mode: u32) -> Result<(), BundleError> {
        write_atomic(&self.dir, &self.path, name, bytes, mode)
    }

    /// A new file in the bundle, written in pieces and put in place under its name
    /// when committed (see [`handle::Staged`]).
    pub fn staged_file(&self) -> Result<handle::Staged, BundleError> {
        handle::Staged::create(&self.dir, 0o644).map_err(BundleError::io(&self.path))
    }

    /// Remove the bundle file `name` (a symlink is removed, not followed).
    pub fn remove_file(&self, name: &str) -> Result<(), BundleError> {
        rustix::fs::unlinkat(&self.dir, name, rustix::fs::AtFlags::empty())
            .map_err(|e| BundleError::io(&self.path.join(name))(e.into()))
    }
}

/// Replace `name` in the bundle directory `dir` (at `path`, for messages) atomically:
/// a temp file created with `mode` less the umask, fsync, rename onto `name` (which
/// replaces a symlink there rather than writing through it), directory fsync.
pub fn write_atomic(
    dir: &Dir,
    path: &Path,
    name: &str,
    bytes: &[u8],
    mode: u32,
) -> Result<(), BundleError> {
    handle::write_atomic(dir, dir, OsStr::new(name), bytes, mode, None)
        .map_err(BundleError::io(&path.join(name)))
}
