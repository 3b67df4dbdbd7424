//! The command line, as clap definitions only; bodies live in `commands/`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use repack_host::image::HistoryRequest;
use repack_host::sandbox::{parse_duration, parse_size};

pub mod registry;

/// Repack OCI image bundles in a WebAssembly sandbox (umoci's unpack and repack).
#[derive(Debug, Parser)]
#[command(
    name = "repack-host",
    version,
    max_term_width = 100,
    disable_version_flag = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Print the version (`-V` works too).
    #[arg(short = 'v', long, short_alias = 'V', action = ArgAction::Version)]
    pub version: Option<bool>,
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes (before or after the command name).
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Log level on stderr.
    #[arg(long, global = true, value_name = "LEVEL", conflicts_with = "verbose")]
    pub log: Option<LogLevel>,
    /// Log at info level (same as --log info).
    #[arg(long, global = true)]
    pub verbose: bool,
    /// Run this guest component instead of the built-in one.
    #[arg(long, global = true, value_name = "PATH")]
    pub component: Option<PathBuf>,
    /// Most linear memory the guest may use per job (e.g. 512M, 2G).
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size, default_value = "1G")]
    pub max_memory: u64,
    /// Longest a guest job may run (e.g. 90s, 10m, 1h; plain numbers are seconds).
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration, default_value = "1h")]
    pub timeout: Duration,
}

/// umoci's log levels.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogLevel {
    /// Everything.
    Debug,
    /// Progress.
    Info,
    /// Problems that do not stop the job (default).
    Warn,
    /// Failures only.
    Error,
    /// Failures only (umoci's name).
    Fatal,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Commit the changes made to a bundle's rootfs as a new layer and tag it.
    #[command(alias = "repack")]
    Run(RepackArgs),
    /// Unpack an image into a runtime bundle.
    Unpack(UnpackArgs),
    /// Create a new, empty OCI layout.
    Init(LayoutArgs),
    /// Create a new, empty image in a layout.
    New(ImageArgs),
    /// Point another tag at an image.
    Tag(TagArgs),
    /// List the tags of a layout.
    #[command(alias = "list")]
    Ls(LayoutArgs),
    /// Remove a tag.
    #[command(alias = "remove")]
    Rm(ImageArgs),
    /// Remove blobs no tag reaches.
    Gc(LayoutArgs),
    /// Show an image's history.
    Stat(StatArgs),
    /// Change an image's configuration (and manifest annotations) as a new image.
    Config(Box<ConfigArgs>),
    /// Add a file or directory from the host to an image as a new layer.
    Insert(Box<InsertArgs>),
    /// Low-level commands.
    #[command(subcommand)]
    Raw(RawCommand),
    /// Build a small image, unpack it, change it and repack it, all in a scratch directory.
    Demo(DemoArgs),
    /// Run many jobs (one JSON object per line) on one engine, N at a time.
    Batch(BatchArgs),
    /// Copy an image from a registry into a layout.
    Pull(registry::PullArgs),
    /// Copy an image from a layout to a registry, sending only the blobs it lacks.
    Push(registry::PushArgs),
    /// Print a shell completion script to stdout.
    Completions(CompletionsArgs),
    /// Print the manual page (roff) to stdout, or write one page per command.
    Man(ManArgs),
    /// Print the help of the command, or of a subcommand.
    #[command(alias = "h")]
    Help(HelpArgs),
    /// Write the guest component, its WIT and its sha256 into a directory, for other hosts.
    Component(crate::commands::ComponentArgs),
}

/// Low-level commands.
#[derive(Debug, Subcommand)]
pub enum RawCommand {
    /// Print the mtree manifest of a rootfs (umoci's format) to stdout.
    Mtree(MtreeArgs),
    /// Append an uncompressed tar archive to an image as a new layer.
    AddLayer(AddLayerArgs),
    /// Unpack an image into a root filesystem only (no config.json, manifest or umoci.json).
    Unpack(RawUnpackArgs),
    /// Write the runtime configuration (config.json) an unpack of the image would have.
    #[command(alias = "config")]
    RuntimeConfig(RuntimeConfigArgs),
}

/// `raw unpack` arguments, as umoci's.
#[derive(Debug, Args)]
pub struct RawUnpackArgs {
    /// The image to unpack.
    #[command(flatten)]
    pub image: ImageArgs,
    /// The directory to create (or an empty one) for the root filesystem.
    pub rootfs: PathBuf,
    /// How the layers are applied.
    #[command(flatten)]
    pub unpack: UnpackFlags,
}

/// `raw runtime-config` arguments, as umoci's.
#[derive(Debug, Args)]
pub struct RuntimeConfigArgs {
    /// The image.
    #[command(flatten)]
    pub image: ImageArgs,
    /// The file to write.
    pub config: PathBuf,
    /// A root filesystem to resolve the image's user and groups in (its /etc/passwd and
    /// /etc/group); without one a user name becomes root.
    #[arg(long, value_name = "ROOTFS")]
    pub rootfs: Option<PathBuf>,
    /// Owner mapping.
    #[command(flatten)]
    pub maps: MapArgs,
}

/// `--uid-map`, `--gid-map` and `--rootless`, as umoci's.
#[derive(Debug, Args)]
pub struct MapArgs {
    /// User id mapping `container:host[:size]` (repeatable).
    #[arg(long = "uid-map", value_name = "MAP")]
    pub uid_map: Vec<String>,
    /// Group id mapping `container:host[:size]` (repeatable).
    #[arg(long = "gid-map", value_name = "MAP")]
    pub gid_map: Vec<String>,
    /// Work without privileges: container root is the invoking user.
    #[arg(long)]
    pub rootless: bool,
}

/// `--platform`: which manifest of a multi-platform image.
#[derive(Debug, Args)]
pub struct PlatformArgs {
    /// The platform to pick from an image index, OS/ARCH[/VARIANT] (default: this
    /// machine's); a tag naming one manifest needs none.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
}

/// The flags `unpack` and `raw unpack` share.
#[derive(Debug, Args)]
pub struct UnpackFlags {
    /// Owner mapping.
    #[command(flatten)]
    pub maps: MapArgs,
    /// The manifest of a multi-platform image.
    #[command(flatten)]
    pub platform: PlatformArgs,
    /// Keep symlinks to directories when a layer has a directory at their path.
    #[arg(long)]
    pub keep_dirlinks: bool,
    /// Most bytes one layer may expand to when decompressed (a bomb stops here).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "64G")]
    pub max_layer_size: u64,
}

/// `batch` arguments.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// The jobs, one JSON object per line (`-`: standard input).
    #[arg(value_name = "JOBS.jsonl")]
    pub jobs_file: PathBuf,
    /// Most jobs at once (default: the number of cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
}

/// `completions` arguments.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// `man` arguments.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `repack-host.1` and one `repack-host-COMMAND.1` page per command here.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
}

/// `help` arguments.
#[derive(Debug, Args)]
pub struct HelpArgs {
    /// The (sub)command to describe, e.g. `raw unpack`.
    #[arg(value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// `insert` arguments, as umoci's.
#[derive(Debug, Args)]
pub struct InsertArgs {
    /// The image to extend.
    #[command(flatten)]
    pub image: ImageArgs,
    /// The manifest of a multi-platform image.
    #[command(flatten)]
    pub platform: PlatformArgs,
    /// Tag the result with this tag (default: the --image tag, moved).
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// SOURCE TARGET, or with --whiteout only TARGET.
    #[arg(value_name = "SOURCE TARGET", num_args = 1..=2, required = true)]
    pub paths: Vec<String>,
    /// Delete TARGET in the new layer instead of adding anything.
    #[arg(long)]
    pub whiteout: bool,
    /// Hide what the image has below TARGET (an opaque whiteout in it).
    #[arg(long, conflicts_with = "whiteout")]
    pub opaque: bool,
    /// Layer compression.
    #[arg(long, value_enum, default_value = "auto")]
    pub compress: Compression,
    /// The history entry.
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Owner mapping (rootless: owners are root unless `user.rootlesscontainers` says
    /// otherwise).
    #[command(flatten)]
    pub maps: MapArgs,
}

/// The history entry flags of `run`, `insert`, `raw add-layer` and `config`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Add no history entry.
    #[arg(long, conflicts_with_all = ["history_author", "history_comment", "history_created", "history_created_by"])]
    pub no_history: bool,
    /// History entry author (`run` and `config`: default the image's author).
    #[arg(long = "history.author", value_name = "AUTHOR")]
    pub history_author: Option<String>,
    /// History entry comment.
    #[arg(long = "history.comment", value_name = "COMMENT")]
    pub history_comment: Option<String>,
    /// History entry creation time (RFC 3339; default: SOURCE_DATE_EPOCH, else now).
    #[arg(long = "history.created", value_name = "TIME")]
    pub history_created: Option<String>,
    /// History entry `created_by`.
    #[arg(long = "history.created_by", value_name = "TEXT")]
    pub history_created_by: Option<String>,
}

impl HistoryArgs {
    /// The entry the flags ask for (none with `--no-history`); `created_by` is the
    /// command's own unless `--history.created_by` names another.
    pub fn request(&self, created_by: &str) -> Option<HistoryRequest> {
        (!self.no_history).then(|| HistoryRequest {
            author: self.history_author.clone(),
            comment: self.history_comment.clone(),
            created: self.history_created.clone(),
            created_by: self
                .history_created_by
                .clone()
                .unwrap_or_else(|| created_by.to_owned()),
        })
    }
}

/// `raw add-layer` arguments, as umoci's.
#[derive(Debug, Args)]
pub struct AddLayerArgs {
    /// The image to extend.
    #[command(flatten)]
    pub image: ImageArgs,
    /// Tag the result with this tag (default: the --image tag, moved).
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// The uncompressed layer archive.
    pub layer: PathBuf,
    /// Layer compression.
    #[arg(long, value_enum, default_value = "auto")]
    pub compress: Compression,
    /// The history entry.
    #[command(flatten)]
    pub history: HistoryArgs,
}

/// `raw mtree` arguments.
#[derive(Debug, Args)]
pub struct MtreeArgs {
    /// The directory to describe.
    pub rootfs: PathBuf,
}

/// `--image LAYOUT[:TAG]`.
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// The image: a layout path and a tag (default `latest`).
    #[arg(long, value_name = "LAYOUT[:TAG]")]
    pub image: String,
}

/// `--layout LAYOUT`.
#[derive(Debug, Args)]
pub struct LayoutArgs {
    /// The OCI layout directory.
    #[arg(long, value_name = "LAYOUT")]
    pub layout: PathBuf,
}

/// `tag` arguments.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// The source image.
    #[command(flatten)]
    pub image: ImageArgs,
    /// The new tag.
    pub tag: String,
}

/// `stat` arguments.
#[derive(Debug, Args)]
pub struct StatArgs {
    /// The image.
    #[command(flatten)]
    pub image: ImageArgs,
    /// The manifest of a multi-platform image.
    #[command(flatten)]
    pub platform: PlatformArgs,
    /// Print JSON (the stable format).
    #[arg(long)]
    pub json: bool,
}

/// `config` arguments, as umoci's. List flags are repeatable.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The image to start from.
    #[command(flatten)]
    pub image: ImageArgs,
    /// The manifest of a multi-platform image.
    #[command(flatten)]
    pub platform: PlatformArgs,
    /// Tag the new image with this tag (default: the --image tag, moved).
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// The user (and group) the process runs as.
    #[arg(long = "config.user", value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// Add an exposed port (e.g. 80/tcp).
    #[arg(long = "config.exposedports", value_name = "PORT")]
    pub exposed_ports: Vec<String>,
    /// Set an environment variable (replacing one of the same name).
    #[arg(long = "config.env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// The entrypoint, one argument per flag (replaces the old one).
    #[arg(
        long = "config.entrypoint",
        value_name = "ARG",
        allow_hyphen_values = true
    )]
    pub entrypoint: Vec<String>,
    /// The command, one argument per flag (replaces the old one).
    #[arg(long = "config.cmd", value_name = "ARG", allow_hyphen_values = true)]
    pub cmd: Vec<String>,
    /// Add a volume.
    #[arg(long = "config.volume", value_name = "PATH")]
    pub volume: Vec<String>,
    /// Set a label.
    #[arg(long = "config.label", value_name = "NAME=VALUE")]
    pub label: Vec<String>,
    /// The working directory.
    #[arg(long = "config.workingdir", value_name = "DIR")]
    pub working_dir: Option<String>,
    /// The stop signal.
    #[arg(long = "config.stopsignal", value_name = "SIGNAL")]
    pub stop_signal: Option<String>,
    /// The image's creation time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub created: Option<String>,
    /// The image's author.
    #[arg(long, value_name = "AUTHOR")]
    pub author: Option<String>,
    /// The image's operating system.
    #[arg(long = "platform.os", alias = "os", value_name = "OS")]
    pub os: Option<String>,
    /// The image's architecture.
    #[arg(long = "platform.arch", alias = "architecture", value_name = "ARCH")]
    pub architecture: Option<String>,
    /// The image's architecture variant.
    #[arg(long = "platform.variant", value_name = "VARIANT")]
    pub variant: Option<String>,
    /// Set a manifest annotation.
    #[arg(long = "manifest.annotation", value_name = "NAME=VALUE")]
    pub annotation: Vec<String>,
    /// Empty this before the other changes.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub clear: Vec<ClearKey>,
    /// The history entry.
    #[command(flatten)]
    pub history: HistoryArgs,
}

/// What `config --clear` empties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClearKey {
    /// The labels.
    #[value(name = "config.labels")]
    Labels,
    /// The manifest annotations.
    #[value(name = "manifest.annotations")]
    Annotations,
    /// The exposed ports.
    #[value(name = "config.exposedports")]
    ExposedPorts,
    /// The environment.
    #[value(name = "config.env")]
    Env,
    /// The volumes.
    #[value(name = "config.volume")]
    Volume,
    /// The command.
    #[value(name = "config.cmd")]
    Cmd,
    /// The entrypoint.
    #[value(name = "config.entrypoint")]
    Entrypoint,
}

/// `run` (repack) arguments, as umoci's `repack`.
#[derive(Debug, Args)]
pub struct RepackArgs {
    /// The destination image.
    #[command(flatten)]
    pub image: ImageArgs,
    /// The bundle to repack.
    pub bundle: PathBuf,
    /// Leave changes at or below this path out of the layer (repeatable).
    #[arg(long = "mask-path", value_name = "PATH")]
    pub mask_path: Vec<String>,
    /// Do not leave the image's volumes out of the layer.
    #[arg(long)]
    pub no_mask_volumes: bool,
    /// Make the bundle's manifest describe the new image afterwards.
    #[arg(long)]
    pub refresh_bundle: bool,
    /// Layer compression.
    #[arg(long, value_enum, default_value = "auto")]
    pub compress: Compression,
    /// The history entry.
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Print where the time went on stderr (phases, host calls, compression, memory).
    #[arg(long)]
    pub stats: bool,
    /// Then push the new image to docker://HOST[:PORT]/REPOSITORY[:TAG] (only the blobs
    /// the registry lacks).
    #[arg(long, value_name = "REF")]
    pub push: Option<String>,
    /// How to reach the registry of --push.
    #[command(flatten)]
    pub registry: registry::RegistryArgs,
}

/// Layer compression.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Compression {
    /// The compression of the image's last compressed layer, else gzip.
    Auto,
    /// Uncompressed tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

impl From<Compression> for repack_host::image::CompressionChoice {
    fn from(c: Compression) -> Self {
        use repack_host::image::CompressionChoice::{Auto, Fixed};
        use repack_host::layout::Compression as Algorithm;
        match c {
            Compression::Auto => Auto,
            Compression::None => Fixed(Algorithm::None),
            Compression::Gzip => Fixed(Algorithm::Gzip),
            Compression::Zstd => Fixed(Algorithm::Zstd),
        }
    }
}

/// `unpack` arguments, as umoci's.
#[derive(Debug, Args)]
pub struct UnpackArgs {
    /// The image to unpack (LAYOUT[:TAG], or docker://… with --layout).
    #[command(flatten)]
    pub image: ImageArgs,
    /// The bundle directory to create.
    pub bundle: PathBuf,
    /// How the layers are applied.
    #[command(flatten)]
    pub unpack: UnpackFlags,
    /// Print where the time went on stderr (phases, host calls, memory).
    #[arg(long)]
    pub stats: bool,
    /// Unpacking from a registry.
    #[command(flatten)]
    pub remote: registry::RemoteArgs,
}

/// `demo` arguments.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Work here instead of in a fresh temporary directory (kept afterwards).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3d").is_err());
    }

    #[test]
    fn config_flags_parse_like_umoci() {
        let cli = Cli::try_parse_from([
            "repack-host",
            "config",
            "--image",
            "oci:a",
            "--config.cmd",
            "sh",
            "--config.cmd",
            "-c",
            "--os",
            "linux",
            "--architecture",
            "arm64",
            "--clear",
            "config.env",
            "--clear",
            "manifest.annotations",
        ])
        .unwrap();
        let Command::Config(args) = cli.command else {
            panic!("not config")
        };
        assert_eq!(args.cmd, ["sh", "-c"]);
        assert_eq!(args.os.as_deref(), Some("linux"));
        assert_eq!(args.architecture.as_deref(), Some("arm64"));
        assert_eq!(args.clear, [ClearKey::Env, ClearKey::Annotations]);
        for bad in [
            &["--clear", "rootfs.diffids"][..],
            &["--no-history", "--history.comment", "c"],
            &["extra"],
        ] {
            let mut argv = vec!["repack-host", "config", "--image", "x"];
            argv.extend_from_slice(bad);
            assert!(Cli::try_parse_from(argv).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn umoci_style_flags_parse() {
        let cli = Cli::try_parse_from([
            "repack-host",
            "run",
            "--image",
            "oci:v2",
            "--history.author",
            "me",
            "bundle",
            "--max-memory",
            "256M",
        ])
        .unwrap();
        assert_eq!(cli.global.max_memory, 256 << 20);
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert_eq!(args.image.image, "oci:v2");
        assert_eq!(args.history.history_author.as_deref(), Some("me"));
        assert!(
            Cli::try_parse_from([
                "repack-host",
                "run",
                "--image",
                "x",
                "--no-history",
                "--history.author",
                "a",
                "b"
            ])
            .is_err()
        );
        assert!(
            Cli::try_parse_from([
                "repack-host",
                "--log",
                "info",
                "--verbose",
                "ls",
                "--layout",
                "x"
            ])
            .is_err()
        );
    }
}
