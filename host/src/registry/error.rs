//! Registry errors: each one line naming the registry, the repository and, for a
//! refused request, what to do about it.

use std::path::PathBuf;

use thiserror::Error;

use crate::layout::LayoutError;

/// Why a registry operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// A malformed `docker://` reference or platform.
    #[error("{0}")]
    Reference(String),
    /// The registry answered with an error status.
    #[error("registry {registry}, repository {repository}: {request}: HTTP {status}: {advice}")]
    Status {
        /// `HOST[:PORT]`.
        registry: String,
        /// The repository.
        repository: String,
        /// What was asked, e.g. `GET manifest latest`.
        request: String,
        /// The HTTP status.
        status: u16,
        /// What it means and what to do.
        advice: String,
    },
    /// The registry could not be reached, or the connection failed past the retries.
    #[error("registry {registry}, repository {repository}: {request}: {why}")]
    Connection {
        /// `HOST[:PORT]`.
        registry: String,
        /// The repository.
        repository: String,
        /// What was asked.
        request: String,
        /// The transport error and what to do.
        why: String,
    },
    /// The registry sent something we refuse (bad digest, oversized or malformed
    /// document, an unknown media type).
    #[error("registry {registry}, repository {repository}: {why}")]
    Protocol {
        /// `HOST[:PORT]`.
        registry: String,
        /// The repository.
        repository: String,
        /// What is wrong.
        why: String,
    },
    /// A credentials file or certificate directory could not be used.
    #[error("{}: {why}", path.display())]
    Config {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The local layout.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// Unpacking what was pulled.
    #[error(transparent)]
    Unpack(#[from] crate::unpack::UnpackError),
}

/// The advice for an error status, for a request that needed `access` ("pull" or
/// "push") on the repository.
pub fn advice(status: u16, access: &str, tries: u32) -> String {
    match status {
        401 => "unauthorized: the registry wants credentials it did not get or refused; \
                pass --creds USER:PASS or log in (skopeo login) so auth.json has them"
            .into(),
        403 => format!(
            "forbidden: these credentials may not {access} this repository; use an account that may"
        ),
        404 => "not found: check the repository name and the tag or digest".into(),
        429 => format!(
            "too many requests: the registry is rate-limiting (tried {tries} times); wait and run again"
        ),
        500..=599 => format!(
            "the registry failed (tried {tries} times); run again later or check the registry's log"
        ),
        _ => format!("unexpected status for this request (tried {tries} times)"),
    }
}
