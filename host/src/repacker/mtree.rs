//! `mtree`: the manifest of a rootfs, in umoci's format, made by the guest.

use super::{JobError, MtreeRequest, Repacker};
use crate::bindings::MtreeHeader;
use crate::capability::CapDir;
use crate::sandbox::Limits;

impl Repacker {
    /// The mtree manifest of a rootfs, in umoci's format.
    pub fn mtree(&self, request: &MtreeRequest, limits: &Limits) -> Result<String, JobError> {
        let rootfs = CapDir::open_ambient(&request.rootfs).map_err(|source| JobError::Grant {
            path: request.rootfs.clone(),
            source,
        })?;
        let mut job = self.sandbox.job(limits)?;
        let root = job.grant(rootfs)?;
        let header = MtreeHeader {
            user: request.user.clone(),
            machine: request.machine.clone(),
            tree: request.tree.clone(),
            date: request.date.clone(),
        };
        let outcome = job
            .world
            .repack_bundle_layer()
            .call_mtree(&mut job.store, root, &header);
        job.finish(outcome, limits)?
            .map_err(|f| JobError::guest(&request.rootfs, f))
    }
}
