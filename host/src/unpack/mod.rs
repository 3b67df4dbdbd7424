//! `unpack`: an image from a layout into a runtime bundle umoci can repack (rootfs,
//! `config.json`, `sha256_<hex>.mtree`, `umoci.json`). The layers are applied by the
//! guest; the host verifies blobs, grants the new rootfs and writes the bundle files.
//! [`Repacker::unpack_rootfs`](crate::Repacker::unpack_rootfs) (umoci's `raw unpack`)
//! makes the rootfs alone, and [`runtime::generate`] (`raw runtime-config`) the
//! `config.json` alone. This module holds their requests, options, errors and the
//! bundle helpers; the jobs are [`Repacker::unpack`](crate::Repacker::unpack) and
//! `unpack_rootfs`.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use cap_std::fs::Dir;
use rustix::fs::Mode;

use serde_json::Value;
use thiserror::Error;

use crate::bundle::{BundleError, IdMap};
use crate::capability::CapDir;
use crate::handle;
use crate::image::BaseImage;
use crate::layout::{BlobReader, ImageRef, Layout, LayoutError};
use crate::repacker::JobError;

pub mod rootfs;
pub mod runtime;

/// The most bytes read from the rootfs's `/etc/passwd` or `/etc/group`.
const MAX_ACCOUNT_FILE: u64 = 4 << 20;

/// Opens one layer blob of an image for the guest.
pub type OpenLayer = dyn Fn(&Layout, &crate::layout::Descriptor) -> Result<BlobReader, LayoutError>;

/// One unpack.
#[derive(Debug, Clone)]
pub struct Request {
    /// The image.
    pub image: ImageRef,
    /// The bundle directory to create (it may exist, but not its rootfs or config).
    pub bundle: PathBuf,
    /// How the layers are applied.
    pub options: Options,
}

/// How layers are applied: the flags `unpack` and `raw unpack` share.
#[derive(Debug, Clone)]
pub struct Options {
    /// uid mappings (`--uid-map`).
    pub uid_maps: Vec<IdMap>,
    /// gid mappings (`--gid-map`).
    pub gid_maps: Vec<IdMap>,
    /// Unpack without privileges.
    pub rootless: bool,
    /// Keep symlinks to directories.
    pub keep_dirlinks: bool,
    /// Most bytes one layer may expand to.
    pub max_layer_size: u64,
    /// Which manifest of an image index (`None`: this machine's, when there is a choice).
    pub platform: Option<crate::layout::Platform>,
}

impl Options {
    /// The uid and gid mappings to apply (see [`effective_maps`]).
    pub fn effective_maps(&self) -> (Vec<IdMap>, Vec<IdMap>) {
        effective_maps(&self.uid_maps, &self.gid_maps, self.rootless)
    }
}

/// The uid and gid mappings to apply: as given, but in rootless mode an empty list maps
/// container root to the effective id (umoci's default).
pub fn effective_maps(
    uid_maps: &[IdMap],
    gid_maps: &[IdMap],
    rootless: bool,
) -> (Vec<IdMap>, Vec<IdMap>) {
    let own = |maps: &[IdMap], id: u32| match maps {
        [] if rootless => vec![IdMap {
            container_id: 0,
            host_id: id,
            size: 1,
        }],
        _ => maps.to_vec(),
    };
    (
        own(uid_maps, rustix::process::geteuid().as_raw()),
        own(gid_maps, rustix::process::getegid().as_raw()),
    )
}

/// The image an unpack reads: its descriptor walk, manifest and config (verified), and
/// each layer with its diff_id.
#[derive(Debug)]
pub struct Image {
    /// The layout.
    pub layout: Layout,
    /// From the tagged descriptor down to the manifest.
    pub walk: Vec<crate::layout::Descriptor>,
    /// The manifest and config.
    pub base: BaseImage,
    /// The manifest's layers, in order.
    pub layers: Vec<crate::layout::Descriptor>,
    /// The config's diff_ids, at least one per layer.
    pub diff_ids: Vec<String>,
}

impl Image {
    /// Resolve `image` (one manifest, or the one for `platform` in an index) and read
    /// its manifest and config.
    pub fn load(
        image: &ImageRef,
        platform: Option<&crate::layout::Platform>,
    ) -> Result<Image, UnpackError> {
        let layout = Layout::open(&image.layout)?;
        let walk = layout.resolve_platform(&image.tag, platform)?;
        Self::from_walk(layout, walk)
    }

    /// The image at the end of `walk` (its manifest and config must be in the layout;
    /// its layers need not be yet).
    pub fn from_walk(
        layout: Layout,
        walk: Vec<crate::layout::Descriptor>,
    ) -> Result<Image, UnpackError> {
        let base = BaseImage::load(&layout, walk.clone())?;
        let layers = base.layers();
        let diff_ids: Vec<String> = base
            .config
            .get("rootfs")
            .and_then(|r| r.get("diff_ids"))
            .and_then(Value::as_array)
            .map(|ids| {
                ids.iter()
                    .filter_map(|d| d.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if diff_ids.len() < layers.len() {
            return Err(LayoutError::Malformed {
                what: format!("config blob {}", base.config_desc.digest),
                why: format!(
                    "{} layers but only {} diff_ids",
                    layers.len(),
                    diff_ids.len()
                ),
            }
            .into());
        }
        Ok(Image {
            layout,
            walk,
            base,
            layers,
            diff_ids,
        })
    }
}

/// What an unpack did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The manifest digest (the `.mtree` name).
    pub manifest: String,
    /// Layers applied.
    pub layers: usize,
    /// Things the guest worked around.
    pub warnings: Vec<String>,
    /// Where the time went (`--stats`).
    pub stats: crate::stats::Stats,
}

/// Why an unpack failed; the half-made rootfs is gone when one is returned.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum UnpackError {
    /// A bad option or bundle state.
    #[error("{0}")]
    Invalid(String),
    /// The layout or image is missing or broken.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// Writing a bundle file failed.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The guest or the sandbox failed.
    #[error(transparent)]
    Job(#[from] JobError),
}

/// Parse `container:host[:size]` (size defaults to 1).
pub fn parse_map(text: &str) -> Result<IdMap, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let num = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| format!("id mapping {text:?}: {s:?} is not a number"))
    };
    match parts.as_slice() {
        [c, h] => Ok(IdMap {
            container_id: num(c)?,
            host_id: num(h)?,
            size: 1,
        }),
        [c, h, s] => Ok(IdMap {
            container_id: num(c)?,
            host_id: num(h)?,
            size: num(s)?,
        }),
        _ => Err(format!("id mapping {text:?} is not container:host[:size]")),
    }
}

pub(crate) fn to_host(id: u32, maps: &[IdMap]) -> Option<u32> {
    if maps.is_empty() {
        return Some(id);
    }
    maps.iter().find_map(|m| {
        let off = id.checked_sub(m.container_id)?;
        (off < m.size).then(|| m.host_id.checked_add(off))?
    })
}

/// Read a small text file inside the rootfs without following any symlink.
fn account_file(rootfs: &CapDir, path: &[u8]) -> Option<String> {
    let file = rootfs.open_read(path).ok()?;
    let mut text = String::new();
    file.take(MAX_ACCOUNT_FILE).read_to_string(&mut text).ok()?;
    Some(text)
}

/// The bundle directory, created (with its parents) if missing, opened without
/// following a symlink, and made private (0700).
pub(crate) fn open_bundle_dir(path: &Path) -> Result<Dir, UnpackError> {
    let err = |e: std::io::Error| UnpackError::Bundle(BundleError::from_io(path, e));
    match fs::symlink_metadata(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent)
                    .map_err(|e| UnpackError::Bundle(BundleError::from_io(parent, e)))?;
            }
            match fs::create_dir(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(err(e)),
            }
        }
        Err(e) => return Err(err(e)),
    }
    let dir = handle::ambient_dir(path, false).map_err(err)?;
    rustix::fs::fchmod(&dir, Mode::from_raw_mode(0o700)).map_err(|e| err(e.into()))?;
    Ok(dir)
}

/// After a failed layer: the first layer blob that does not match its descriptor.
/// A corrupt blob usually breaks the decompressor or the archive before its end is
/// reached and verified; the mismatch, not that symptom, is the error to report.
pub(crate) fn corrupt_layer(
    layout: &Layout,
    layers: &[crate::layout::Descriptor],
) -> Option<UnpackError> {
    layers.iter().find_map(|layer| {
        let mut reader = BlobReader::open(layout, layer).ok()?;
        loop {
            match reader.read(1 << 20) {
                Ok(bytes) if bytes.is_empty() => return None,
                Ok(_) => {}
                Err(why) if why.contains("verified reader") => {
                    return Some(UnpackError::Invalid(why));
                }
                Err(_) => return None,
            }
        }
    })
}

/// Set the rootfs directory's times to the Unix epoch.
pub(crate) fn filetime_epoch(rootfs: &Dir) -> Result<(), std::io::Error> {
    let zero = rustix::fs::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    rustix::fs::futimens(
        rootfs,
        &rustix::fs::Timestamps {
            last_access: zero,
            last_modification: zero,
        },
    )
    .map_err(Into::into)
}
