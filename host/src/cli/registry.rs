//! The registry commands' flags (skopeo's names).

use std::path::PathBuf;

use clap::{ArgAction, Args};

use repack_host::sandbox::parse_size;

/// How to reach a registry.
#[derive(Debug, Args, Clone)]
pub struct RegistryArgs {
    /// Credentials for the registry (default: from auth.json or ~/.docker/config.json).
    #[arg(long, value_name = "USER:PASS")]
    pub creds: Option<String>,
    /// Read credentials from this file only (default: $REGISTRY_AUTH_FILE, else
    /// $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json,
    /// ~/.docker/config.json).
    #[arg(long, value_name = "PATH")]
    pub authfile: Option<PathBuf>,
    /// CA certificates (*.crt) and a client certificate (NAME.cert, NAME.key) for the
    /// registry.
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// Verify the registry's certificate; false also allows plain HTTP.
    #[arg(long, value_name = "BOOL", default_value = "true", action = ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub tls_verify: bool,
    /// How many times a request that failed with 429, 5xx or a dropped connection is
    /// tried again.
    #[arg(long, value_name = "N", default_value = "3")]
    pub retry_times: u32,
    /// Blobs larger than this are uploaded in chunks of this size.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "16M")]
    pub chunk_size: u64,
    /// The platform to take from a multi-platform image (default: this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
}

/// `pull` arguments.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// The image: docker://HOST[:PORT]/REPOSITORY[:TAG|@DIGEST].
    #[arg(value_name = "REF")]
    pub reference: String,
    /// Where to put it: a layout (created when missing) and a tag (default: the
    /// reference's tag, else latest).
    #[arg(long, value_name = "LAYOUT[:TAG]")]
    pub image: String,
    /// How to reach the registry.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `push` arguments.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The image to push: a layout and a tag (default `latest`).
    #[arg(long, value_name = "LAYOUT[:TAG]")]
    pub image: String,
    /// Where to: docker://HOST[:PORT]/REPOSITORY[:TAG|@DIGEST] (default tag: the
    /// image's).
    #[arg(value_name = "REF")]
    pub reference: String,
    /// How to reach the registry.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// The registry flags of `unpack` (with `--image docker://…`) and `run` (with
/// `--push`).
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// With --image docker://…: the layout (created when missing) that keeps the
    /// pulled image, as LAYOUT[:TAG] (default tag: the reference's, else latest).
    #[arg(long, value_name = "LAYOUT[:TAG]")]
    pub layout: Option<String>,
    /// How to reach the registry.
    #[command(flatten)]
    pub registry: RegistryArgs,
}
