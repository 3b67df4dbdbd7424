//! The guest's `whiteout` call: a layer that deletes paths (`insert --whiteout`).

use std::path::Path;

use wasmtime::component::Resource;

use super::{JobError, Repacker};
use crate::layout::BlobWriter;
use crate::sandbox::Limits;

impl Repacker {
    /// Write a layer that deletes `paths` (relative to the image root) into `writer`:
    /// one whiteout entry each, then the end of the archive. Returns the writer.
    pub fn whiteout_layer(
        &self,
        paths: &[Vec<u8>],
        writer: BlobWriter,
        limits: &Limits,
    ) -> Result<BlobWriter, JobError> {
        let mut job = self.sandbox.job(limits)?;
        let sink = job.grant(writer)?;
        let sink_rep = sink.rep();
        let outcome = job.world.repack_bundle_layer().call_whiteout(
            &mut job.store,
            Resource::new_borrow(sink_rep),
            paths,
        );
        let outcome = job.finish(outcome, limits);
        let writer = job.take(Resource::<BlobWriter>::new_own(sink_rep))?;
        outcome?.map_err(|f| JobError::guest(Path::new(""), f))?;
        Ok(writer)
    }
}
