//! An image in a layout, as every command that builds on one sees it: `run`, `unpack`,
//! `config`, `stat`, `init`, `insert` and `raw add-layer`.
//!
//! - [`base`]: the base image and the commit of a new one on top of it.
//! - [`history`]: history entries, times, `SOURCE_DATE_EPOCH`.
//! - [`layer`]: storing a new layer blob and committing an image that adds it.
//! - [`compression`]: which compression a new layer gets.

pub mod base;
pub mod compression;
pub mod history;
pub mod layer;

pub use base::{Addition, BaseImage, commit, commit_config};
pub use compression::{CompressionChoice, auto_compression};
pub use history::HistoryRequest;
pub use layer::{LayerInfo, commit_added_layer, store_layer};
