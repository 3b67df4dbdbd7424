//! Runtime bundles as umoci lays them out: `rootfs/`, `<alg>_<hex>.mtree` and
//! `umoci.json`.
//!
//! - [`meta`]: the `umoci.json` document.

pub mod meta;

pub use meta::{BundleMeta, IdMap};

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

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
}

/// The bundle's stat cache file (see the guest's `statcache` module): digests of the
/// rootfs's files by inode, size and times, so unchanged files are not hashed again.
pub const STAT_CACHE: &str = "repack.statcache";

/// The manifest file name for an image manifest digest: `sha256_<hex>.mtree`.
pub fn mtree_name(digest: &Digest) -> String {
    format!("sha256_{}.mtree", digest.hex())
}

/// An opened bundle.
#[derive(Debug)]
pub struct Bundle {
    /// The bundle directory.
    pub path: PathBuf,
    /// Its `umoci.json`.
    pub meta: BundleMeta,
}

impl Bundle {
    /// Read and check `umoci.json` of the bundle at `path`.
    pub fn open(path: &Path) -> Result<Self, BundleError> {
        match fs::metadata(path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(BundleError::at(path)("not a directory".into())),
            Err(e) => return Err(BundleError::at(path)(e.to_string())),
        }
        let meta_path = path.join(meta::FILE);
        let bytes = fs::read(&meta_path).map_err(|e| BundleError::at(&meta_path)(e.to_string()))?;
        let meta = BundleMeta::parse(&bytes).map_err(BundleError::at(&meta_path))?;
        Ok(Bundle {
            path: path.to_owned(),
            meta,
        })
    }

    /// Record an already populated `path/rootfs` as a bundle of the image reached by
    /// `walk`: its manifest text and `umoci.json` (the bundle directory becomes 0700).
    pub fn create(
        path: &Path,
        walk: &[crate::layout::Descriptor],
        mtree: &str,
        map_options: meta::MapOptions,
    ) -> Result<Self, BundleError> {
        use std::os::unix::fs::PermissionsExt;
        let digest = &walk
            .last()
            .ok_or_else(|| BundleError::at(path)("empty descriptor walk".into()))?
            .digest;
        write_atomic(path, &mtree_name(digest), mtree.as_bytes(), 0o644)?;
        let meta = BundleMeta::new(walk, map_options);
        write_atomic(path, meta::FILE, &meta.encode(), 0o644)?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))
            .map_err(|e| BundleError::at(path)(e.to_string()))?;
        Ok(Bundle {
            path: path.to_owned(),
            meta,
        })
    }

    /// The rootfs directory, refusing one that is a symlink (it would lead out of the
    /// bundle).
    pub fn rootfs(&self) -> Result<PathBuf, BundleError> {
        let rootfs = self.path.join("rootfs");
        match fs::symlink_metadata(&rootfs) {
            Ok(m) if m.file_type().is_symlink() => Err(BundleError::at(&rootfs)(
                "is a symlink; refusing to follow it out of the bundle".into(),
            )),
            Ok(m) if m.is_dir() => Ok(rootfs),
            Ok(_) => Err(BundleError::at(&rootfs)("not a directory".into())),
            Err(e) => Err(BundleError::at(&rootfs)(e.to_string())),
        }
    }

    /// The manifest file the bundle's metadata names.
    pub fn mtree_path(&self) -> Result<PathBuf, BundleError> {
        let digest = self
            .meta
            .manifest_digest()
            .map_err(BundleError::at(&self.path))?;
        Ok(self.path.join(mtree_name(&digest)))
    }

    /// The manifest text.
    pub fn read_mtree(&self) -> Result<String, BundleError> {
        let path = self.mtree_path()?;
        let bytes = fs::read(&path).map_err(|e| BundleError::at(&path)(e.to_string()))?;
        String::from_utf8(bytes)
            .map_err(|_| BundleError::at(&path)("not a text file (invalid UTF-8)".into()))
    }

    /// The stat cache text, if the bundle has a readable one.
    pub fn read_stat_cache(&self) -> Option<String> {
        fs::read_to_string(self.path.join(STAT_CACHE)).ok()
    }

    /// Write `bytes` to the bundle file `name` atomically (temp file, fsync, rename,
    /// directory fsync).
    pub fn write_file(&self, name: &str, bytes: &[u8], mode: u32) -> Result<(), BundleError> {
        write_atomic(&self.path, name, bytes, mode)
    }
}

/// Write `dir/name` atomically with `mode`.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> Result<(), BundleError> {
    use std::os::unix::fs::PermissionsExt;
    let dest = dir.join(name);
    let err = |e: std::io::Error| BundleError::at(&dest)(e.to_string());
    let mut tmp = tempfile::Builder::new()
        .prefix(".repack-")
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(&dest).map_err(|e| err(e.error))?;
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(err)
}
