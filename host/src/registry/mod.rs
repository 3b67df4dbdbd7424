//! OCI distribution registries: pulling into a layout, pushing from one, and unpacking
//! straight from a registry while the layers land in a layout.
//!
//! A small blocking client on `ureq` (rustls): one connection pool per repository,
//! anonymous, Basic or Bearer-token authentication, a custom CA directory, plain HTTP
//! with `--tls-verify=false`, and every request retried with backoff on 429, 5xx and
//! dropped connections.
//!
//! - [`reference`]: registry references (`docker://HOST/REPO:TAG`).
//! - [`auth`]: credentials and challenges.
//! - [`tls`]: CA bundles and certificate directories.
//! - [`client`]: requests, authentication, retries.
//! - [`blobs`]: resumable downloads, `HEAD`, mounts, uploads.
//! - [`stream`]: a blob written into the layout as it is read.
//! - [`platform`]: `--platform` and index entries.
//! - [`pull`], [`push`], [`unpack`]: the commands' work.

pub mod auth;
pub mod blobs;
pub mod client;
pub mod error;
pub mod platform;
pub mod pull;
pub mod push;
pub mod reference;
pub mod stream;
pub mod tls;
pub mod unpack;

use std::path::PathBuf;

pub use auth::Credentials;
pub use error::RegistryError;
pub use platform::Platform;
pub use reference::RemoteRef;

/// Blobs larger than this are uploaded in chunks of this size.
pub const DEFAULT_CHUNK: u64 = 16 << 20;

/// How to reach a registry.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--creds USER:PASS`; else the auth files are searched.
    pub creds: Option<Credentials>,
    /// `--authfile`: the only auth file read.
    pub auth_file: Option<PathBuf>,
    /// `--cert-dir`: CA certificates (`*.crt`) and a client certificate.
    pub cert_dir: Option<PathBuf>,
    /// `--tls-verify`: false also allows plain HTTP.
    pub tls_verify: bool,
    /// How many times a failed request is tried again.
    pub retries: u32,
    /// Upload chunk size.
    pub chunk_size: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            creds: None,
            auth_file: None,
            cert_dir: None,
            tls_verify: true,
            retries: 3,
            chunk_size: DEFAULT_CHUNK,
        }
    }
}
