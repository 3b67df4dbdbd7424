//! `unpack`: an image from a layout into a runtime bundle umoci can repack (rootfs,
//! `config.json`, `sha256_<hex>.mtree`, `umoci.json`). The layers are applied by the
//! guest; the host verifies blobs, grants the new rootfs and writes the bundle files.
//! [`Repacker::unpack_rootfs`] (umoci's `raw unpack`) makes the rootfs alone, and
//! [`runtime::generate`] (`raw runtime-config`) the `config.json` alone.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;
use thiserror::Error;

use crate::bindings::{LayerInfo, MapOptions, MtreeHeader, UnpackOptions};
use crate::bundle::meta::{self, MapOptions as BundleMaps, wit_mappings};
use crate::bundle::{self, BundleError, BundleMeta, IdMap};
use crate::capability::CapDir;
use crate::header;
use crate::layout::{BlobReader, ImageRef, Layout, LayoutError};
use crate::repack::image::BaseImage;
use crate::repacker::{JobError, Repacker};
use crate::runtime_config;
use crate::sandbox::Limits;

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
    /// Resolve `image` (exactly one manifest) and read its manifest and config.
    pub fn load(image: &ImageRef) -> Result<Image, UnpackError> {
        let layout = Layout::open(&image.layout)?;
        let walk = layout.resolve_one(&image.tag)?;
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

fn to_host(id: u32, maps: &[IdMap]) -> Option<u32> {
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

impl Repacker {
    /// Unpack an image into a new bundle (see the module documentation).
    pub fn unpack(&self, request: &Request, limits: &Limits) -> Result<Outcome, UnpackError> {
        let image = Image::load(&request.image)?;
        self.unpack_image(request, &image, &BlobReader::open, limits)
    }

    /// Unpack `image`, reading each layer through `open` (a layout's blob, or one that
    /// streams from elsewhere as it lands in the layout).
    pub fn unpack_image(
        &self,
        request: &Request,
        image: &Image,
        open: &OpenLayer,
        limits: &Limits,
    ) -> Result<Outcome, UnpackError> {
        let (uid_maps, gid_maps) = request.options.effective_maps();

        let bundle = &request.bundle;
        let rootfs = bundle.join("rootfs");
        let config_path = bundle.join("config.json");
        let io = |p: &Path| {
            let p = p.to_owned();
            move |e: std::io::Error| {
                UnpackError::Bundle(BundleError {
                    path: p,
                    why: e.to_string(),
                })
            }
        };
        if fs::metadata(bundle).is_ok_and(|m| !m.is_dir()) {
            return Err(UnpackError::Invalid(format!(
                "{}: is a file; the bundle must be a directory or a new path",
                bundle.display()
            )));
        }
        for existing in [&rootfs, &config_path] {
            if fs::symlink_metadata(existing).is_ok() {
                return Err(UnpackError::Invalid(format!(
                    "{}: already exists; unpack needs a bundle without it",
                    existing.display()
                )));
            }
        }
        fs::create_dir_all(bundle).map_err(io(bundle))?;
        fs::set_permissions(bundle, fs::Permissions::from_mode(0o700)).map_err(io(bundle))?;
        fs::create_dir(&rootfs).map_err(io(&rootfs))?;

        let result = self.fill(request, image, open, (&uid_maps, &gid_maps), limits);
        if result.is_err() {
            // Through a handle: no symlink followed, and without root, owner bits lent
            // to directories the layers left without them (a 0000 directory with
            // children).
            if let Err(e) = crate::capability::remove_tree(&rootfs) {
                tracing::warn!("{}: not removed after the failure: {e}", rootfs.display());
            }
            let _ = fs::remove_file(&config_path);
        }
        result
    }

    fn fill(
        &self,
        request: &Request,
        image: &Image,
        open: &OpenLayer,
        (uid_maps, gid_maps): (&[IdMap], &[IdMap]),
        limits: &Limits,
    ) -> Result<Outcome, UnpackError> {
        let bundle = &request.bundle;
        let rootfs = bundle.join("rootfs");
        let (manifest_text, stat_cache, warnings) = self.fill_rootfs(
            &rootfs,
            image,
            open,
            &request.options,
            (uid_maps, gid_maps),
            limits,
        )?;

        let (runtime, _) = runtime::generate(
            image,
            Some(&rootfs),
            (uid_maps, gid_maps),
            request.options.rootless,
        )?;
        bundle::write_atomic(
            bundle,
            "config.json",
            &runtime_config::encode(&runtime),
            0o644,
        )?;

        let manifest = image.walk.last().expect("walks are never empty");
        bundle::write_atomic(
            bundle,
            &bundle::mtree_name(&manifest.digest),
            manifest_text.as_bytes(),
            0o644,
        )?;
        let maps = BundleMaps {
            uid_mappings: (!uid_maps.is_empty()).then(|| uid_maps.to_vec()),
            gid_mappings: (!gid_maps.is_empty()).then(|| gid_maps.to_vec()),
            rootless: request.options.rootless,
        };
        let meta = BundleMeta::new(&image.walk, maps);
        bundle::write_atomic(bundle, bundle::STAT_CACHE, stat_cache.as_bytes(), 0o644)?;
        bundle::write_atomic(bundle, meta::FILE, &meta.encode(), 0o644)?;
        Ok(Outcome {
            manifest: manifest.digest.to_string(),
            layers: image.layers.len(),
            warnings,
        })
    }

    /// Apply the image's layers to the empty directory `rootfs`: its owner is the
    /// mapped root, its mode 0755, its times the epoch. Returns the manifest of the
    /// result, its stat cache and the guest's warnings.
    fn fill_rootfs(
        &self,
        rootfs: &Path,
        image: &Image,
        open: &OpenLayer,
        options: &Options,
        (uid_maps, gid_maps): (&[IdMap], &[IdMap]),
        limits: &Limits,
    ) -> Result<(String, String, Vec<String>), UnpackError> {
        let root_owner = (to_host(0, uid_maps), to_host(0, gid_maps));
        let (Some(uid), Some(gid)) = root_owner else {
            return Err(UnpackError::Invalid(
                "container uid/gid 0 has no mapping; the rootfs needs an owner".into(),
            ));
        };
        let rootfs_err = |e: std::io::Error| BundleError {
            path: rootfs.to_owned(),
            why: e.to_string(),
        };
        if !options.rootless || rustix::process::geteuid().is_root() {
            rustix::fs::chown(
                rootfs,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
            )
            .map_err(|e| rootfs_err(e.into()))?;
        }
        fs::set_permissions(rootfs, fs::Permissions::from_mode(0o755)).map_err(rootfs_err)?;

        let mut sources = Vec::with_capacity(image.layers.len());
        for (layer, diff_id) in image.layers.iter().zip(&image.diff_ids) {
            sources.push((
                open(&image.layout, layer)?,
                LayerInfo {
                    media_type: layer.media_type.clone(),
                    diff_id: diff_id.clone(),
                },
            ));
        }
        let unpack_options = UnpackOptions {
            map_options: MapOptions {
                uid_mappings: wit_mappings(uid_maps),
                gid_mappings: wit_mappings(gid_maps),
                rootless: options.rootless,
            },
            keep_dirlinks: options.keep_dirlinks,
            max_layer_size: options.max_layer_size,
        };
        let header = MtreeHeader {
            user: header::user_name(),
            machine: header::machine_name(),
            tree: rootfs.display().to_string(),
            date: header::date_now(),
        };
        // The rootfs root's time: the epoch, whatever the layers did to it.
        let epoch = filetime_epoch(rootfs);
        let out = self
            .unpack_layers(rootfs, sources, &unpack_options, &header, limits)
            .map_err(|e| corrupt_layer(&image.layout, &image.layers).unwrap_or_else(|| e.into()))?;
        epoch.map_err(rootfs_err)?;
        Ok(out)
    }
}

/// After a failed layer: the first layer blob that does not match its descriptor.
/// A corrupt blob usually breaks the decompressor or the archive before its end is
/// reached and verified; the mismatch, not that symptom, is the error to report.
fn corrupt_layer(layout: &Layout, layers: &[crate::layout::Descriptor]) -> Option<UnpackError> {
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
fn filetime_epoch(rootfs: &Path) -> Result<(), std::io::Error> {
    let zero = rustix::fs::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        rootfs,
        &rustix::fs::Timestamps {
            last_access: zero,
            last_modification: zero,
        },
        rustix::fs::AtFlags::empty(),
    )
    .map_err(Into::into)
}
