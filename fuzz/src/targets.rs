//! One module per fuzz target, each with `run(data)`.

pub mod decompress;
pub mod json_loaders;
pub mod mtree_parse;
pub mod unpack_layer;
