//! `raw unpack`: an image's layers into a root filesystem directory alone, with no
//! bundle files (umoci's `UnpackRootfs`).

use std::fs;
use std::path::Path;

use super::Repacker;
use crate::bundle::BundleError;
use crate::capability::CapDir;
use crate::layout::ImageRef;
use crate::sandbox::Limits;
use crate::unpack::rootfs::check_target;
use crate::unpack::{Image, Options, Outcome, UnpackError};

impl Repacker {
    /// Apply the layers of `image` to `rootfs`, a directory that does not exist yet
    /// (its parent must) or is empty. It gets what `unpack` gives a bundle's rootfs:
    /// the mapped root as owner, mode 0755, the epoch as its times. The image is
    /// resolved and verified before anything is created, and on failure the directory
    /// is removed again (emptied, if it was there before).
    ///
    /// umoci also unpacks over a non-empty directory, or a file, and removes it
    /// whatever it was when a layer fails; both are refused here.
    pub fn unpack_rootfs(
        &self,
        image: &ImageRef,
        rootfs: &Path,
        options: &Options,
        limits: &Limits,
    ) -> Result<Outcome, UnpackError> {
        let image = Image::load(image, options.platform.as_ref())?;
        let maps = options.effective_maps();
        let existed = check_target(rootfs)?;
        if !existed {
            fs::create_dir(rootfs).map_err(|e| BundleError {
                path: rootfs.to_owned(),
                why: e.to_string(),
            })?;
        }
        let mut stats = crate::stats::Stats::default();
        let result = crate::handle::ambient_dir(rootfs, false)
            .map_err(|e| UnpackError::Bundle(BundleError::from_io(rootfs, e)))
            .and_then(|dir| {
                self.fill_rootfs(
                    rootfs,
                    dir,
                    (&image, &crate::layout::BlobReader::open),
                    options,
                    (&maps.0, &maps.1),
                    None,
                    limits,
                    &mut stats,
                )
            });
        match result {
            Ok((_, warnings)) => Ok(Outcome {
                manifest: image
                    .walk
                    .last()
                    .expect("walks are never empty")
                    .digest
                    .to_string(),
                layers: image.layers.len(),
                warnings,
                stats,
            }),
            Err(e) => {
                let removed = if existed {
                    CapDir::open_ambient_writable(rootfs).and_then(|d| d.remove_contents())
                } else {
                    crate::capability::remove_tree(rootfs)
                };
                if let Err(why) = removed {
                    tracing::warn!(
                        "{}: not cleaned up after the failure: {why}",
                        rootfs.display()
                    );
                }
                Err(e)
            }
        }
    }
}
