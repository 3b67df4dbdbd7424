//! Host-side bindings of the `repack:bundle` WIT world.
//!
//! The `fs.dir` resource is a [`CapDir`](crate::capability::CapDir) and `fs.file` a
//! cap-std [`File`](cap_std::fs::File), both kept in the job's resource table. Every
//! import may trap, so a broken handle is a trap, never a host panic.

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "repacker",
        imports: { default: trappable },
        with: {
            "repack:bundle/fs.dir": crate::capability::CapDir,
            "repack:bundle/fs.file": cap_std::fs::File,
            "repack:bundle/fs.file-writer": crate::capability::FileWriter,
            "repack:bundle/blobs.blob-writer": crate::layout::BlobWriter,
            "repack:bundle/blobs.blob-reader": crate::layout::BlobReader,
            "repack:bundle/blobs.hasher": crate::sandbox::Hasher,
            "repack:bundle/blobs.text-writer": crate::sandbox::TextSink,
        },
    });
}

pub use generated::Repacker as RepackerWorld;
pub use generated::RepackerPre as RepackerWorldPre;
pub use generated::exports::repack::bundle::layer::{
    Failure, IdMapping, LayerInfo, MapOptions, MtreeHeader, RepackOptions, RepackSummary,
    UnpackOptions,
};
pub use generated::repack::bundle::blobs;
pub use generated::repack::bundle::clock;
pub use generated::repack::bundle::fs;
