//! `unpack`: an image from a layout into a runtime bundle. The request, option,
//! outcome and error types, and the bundle helpers, are [`crate::unpack`]'s.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;

use cap_std::fs::Dir;
use rustix::fs::{AtFlags, Mode};

use super::Repacker;
use super::unpack_layers::BundleTexts;
use crate::bindings::{LayerInfo, MapOptions, MtreeHeader, UnpackOptions};
use crate::bundle::meta::{self, MapOptions as BundleMaps};
use crate::bundle::{self, Bundle, BundleError, IdMap};
use crate::capability::CapDir;
use crate::handle;
use crate::header;
use crate::layout::BlobReader;
use crate::runtime_config;
use crate::sandbox::{Limits, TextSink, wit_mappings};
use crate::unpack::{
    Image, OpenLayer, Options, Outcome, Request, UnpackError, corrupt_layer, filetime_epoch,
    open_bundle_dir, runtime, to_host,
};

impl Repacker {
    /// Unpack an image into a new bundle (see the module documentation).
    pub fn unpack(&self, request: &Request, limits: &Limits) -> Result<Outcome, UnpackError> {
        let image = Image::load(&request.image, request.options.platform.as_ref())?;
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
        meta::check_maps(&uid_maps, "--uid-map").map_err(UnpackError::Invalid)?;
        meta::check_maps(&gid_maps, "--gid-map").map_err(UnpackError::Invalid)?;

        let path = &request.bundle;
        if fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
            return Err(UnpackError::Invalid(format!(
                "{}: is a file; the bundle must be a directory or a new path",
                path.display()
            )));
        }
        let dir = open_bundle_dir(path)?;
        let io = |name: &str| {
            let p = path.join(name);
            move |e: std::io::Error| UnpackError::Bundle(BundleError::from_io(&p, e))
        };
        for existing in ["rootfs", "config.json"] {
            if rustix::fs::statat(&dir, existing, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                return Err(UnpackError::Invalid(format!(
                    "{}: already exists; unpack needs a bundle without it",
                    path.join(existing).display()
                )));
            }
        }
        // Made private, then given its owner and mode through its own descriptor: the
        // name is never used again for anything but the removal after a failure.
        rustix::fs::mkdirat(&dir, "rootfs", Mode::from_raw_mode(0o700))
            .map_err(|e| io("rootfs")(e.into()))?;
        let result = handle::dir_at(&dir, "rootfs")
            .map_err(io("rootfs"))
            .and_then(|rootfs| {
                self.fill(
                    request,
                    &dir,
                    rootfs,
                    (image, open),
                    (&uid_maps, &gid_maps),
                    limits,
                )
            });
        if result.is_err() {
            // Without recursion, and without root through directories the layers left
            // without owner bits (a 0000 directory with children).
            if let Err(e) = handle::remove_tree(&dir, OsStr::new("rootfs")) {
                tracing::warn!(
                    "{}: not removed after the failure: {e}",
                    path.join("rootfs").display()
                );
            }
            let _ = rustix::fs::unlinkat(&dir, "config.json", AtFlags::empty());
        }
        result
    }

    fn fill(
        &self,
        request: &Request,
        dir: &Dir,
        rootfs_dir: Dir,
        (image, open): (&Image, &OpenLayer),
        (uid_maps, gid_maps): (&[IdMap], &[IdMap]),
        limits: &Limits,
    ) -> Result<Outcome, UnpackError> {
        let bundle = &request.bundle;
        let rootfs = bundle.join("rootfs");
        let rootfs_err = |e: std::io::Error| BundleError::from_io(&rootfs, e);
        let cap = CapDir::from_dir(rootfs_dir.try_clone().map_err(rootfs_err)?);
        let mut stats = crate::stats::Stats::default();
        // Written as the walk makes them; named only once the rootfs is complete.
        let staged =
            || handle::Staged::create(dir, 0o644).map_err(|e| BundleError::from_io(bundle, e));
        let texts = BundleTexts {
            manifest: TextSink::staged(staged()?),
            stat_cache: TextSink::staged(staged()?),
            header: MtreeHeader {
                user: header::user_name(),
                machine: header::machine_name(),
                tree: rootfs.display().to_string(),
                date: header::date_now(),
            },
        };
        let (texts, warnings) = self.fill_rootfs(
            &rootfs,
            rootfs_dir,
            (image, open),
            &request.options,
            (uid_maps, gid_maps),
            Some(texts),
            limits,
            &mut stats,
        )?;
        let texts = texts.expect("texts asked for are returned");
        let start = std::time::Instant::now();

        let (runtime, _) = runtime::generate(
            image,
            Some((&rootfs, &cap)),
            (uid_maps, gid_maps),
            request.options.rootless,
        )?;
        bundle::write_atomic(
            dir,
            bundle,
            "config.json",
            &runtime_config::encode(&runtime),
            0o644,
        )?;
        texts
            .stat_cache
            .commit(OsStr::new(bundle::STAT_CACHE))
            .map_err(|e| BundleError::from_io(&bundle.join(bundle::STAT_CACHE), e))?;
        let maps = BundleMaps {
            uid_mappings: (!uid_maps.is_empty()).then(|| uid_maps.to_vec()),
            gid_mappings: (!gid_maps.is_empty()).then(|| gid_maps.to_vec()),
            rootless: request.options.rootless,
        };
        let dir = dir
            .try_clone()
            .map_err(|e| BundleError::from_io(bundle, e))?;
        Bundle::create(dir, bundle, &image.walk, maps, |name| {
            texts.manifest.commit(OsStr::new(name))
        })?;
        stats.lap("bundle", start);
        let manifest = image.walk.last().expect("walks are never empty");
        Ok(Outcome {
            manifest: manifest.digest.to_string(),
            layers: image.layers.len(),
            warnings,
            stats,
        })
    }

    /// Apply the image's layers to the empty directory `rootfs_dir` (at `rootfs`, for
    /// messages): its owner becomes the mapped root, its mode 0755, its times the
    /// epoch. Writes the result's manifest and stat cache to `texts` when given, and
    /// returns them (to be committed) with the guest's warnings; where the time went
    /// is added to `stats`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fill_rootfs(
        &self,
        rootfs: &Path,
        rootfs_dir: Dir,
        (image, open): (&Image, &OpenLayer),
        options: &Options,
        (uid_maps, gid_maps): (&[IdMap], &[IdMap]),
        texts: Option<BundleTexts>,
        limits: &Limits,
        stats: &mut crate::stats::Stats,
    ) -> Result<(Option<BundleTexts>, Vec<String>), UnpackError> {
        let root_owner = (to_host(0, uid_maps), to_host(0, gid_maps));
        let (Some(uid), Some(gid)) = root_owner else {
            return Err(UnpackError::Invalid(
                "container uid/gid 0 has no mapping; the rootfs needs an owner".into(),
            ));
        };
        let rootfs_err = |e: std::io::Error| BundleError::from_io(rootfs, e);
        if !options.rootless || rustix::process::geteuid().is_root() {
            rustix::fs::fchown(
                &rootfs_dir,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
            )
            .map_err(|e| rootfs_err(e.into()))?;
        }
        rustix::fs::fchmod(&rootfs_dir, Mode::from_raw_mode(0o755))
            .map_err(|e| rootfs_err(e.into()))?;

        let mut sources = Vec::with_capacity(image.layers.len());
        for (layer, diff_id) in image.layers.iter().zip(&image.diff_ids) {
            sources.push((
                open(&image.layout, layer)?,
                LayerInfo {
                    media_type: layer.media_type.clone(),
                    diff_id: diff_id.clone(),
                    decompressed: false,
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
        let writable = CapDir::from_dir_writable(rootfs_dir.try_clone().map_err(rootfs_err)?);
        // The rootfs root's time: the epoch, whatever the layers did to it.
        let epoch = filetime_epoch(&rootfs_dir);
        let out = self
            .unpack_layers(
                writable,
                rootfs,
                sources,
                &unpack_options,
                texts,
                limits,
                stats,
            )
            .map_err(|e| corrupt_layer(&image.layout, &image.layers).unwrap_or_else(|| e.into()))?;
        epoch.map_err(rootfs_err)?;
        Ok(out)
    }
}
