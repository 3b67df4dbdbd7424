//! `config.json` for an unpacked bundle: the OCI runtime-spec configuration that
//! `umoci unpack` derives from an image configuration, and its file encoding.
//!
//! What is generated is umoci 0.4.7's output: its runtime-spec template (hostname
//! `umoci-default`, a shell as the process, a minimal capability set, the usual mounts and
//! masked paths, a deny-all device cgroup), filled in from the image configuration, with
//! the image user resolved against the rootfs's `/etc/passwd` and `/etc/group` the way
//! runc's user lookup does it, then adjusted for id mappings and rootless use.
//!
//! Deliberate differences from umoci 0.4.7:
//!
//! * an explicit `HOME` in the image's `Env` is kept; 0.4.7 overwrote it with the home
//!   directory from `/etc/passwd` (newer umoci keeps it too);
//! * volumes become mounts in sorted order; 0.4.7 used Go's random map order (newer umoci
//!   sorts too);
//! * the mount flags copied onto the rootless `/etc/resolv.conf` bind mount come in a
//!   fixed order (umoci: random), and when the host has no `/etc/resolv.conf` the mount is
//!   left out instead of failing (newer umoci's intent).
//!
//! The configuration is built from `oci-spec`'s runtime types and written with serde
//! as Go's encoder writes it (tabs, Go's escaping, sets and maps sorted). Keys come in
//! `oci-spec`'s field order, not Go's, so the file equals umoci's as parsed JSON, not
//! byte for byte.
//!
//! - [`template`]: umoci's runtime-spec template.
//! - [`image_config`]: the image configuration read as Go's decoder reads it.
//! - [`user`]: the image's user resolved against `/etc/passwd` and `/etc/group`.
//! - [`resolv_conf`]: the host's `/etc/resolv.conf` mount flags (rootless).
//! - [`go`]: Go's number, line and time conversions.
//!
//! The module does no I/O of its own except in [`generate`] for a rootless config, which
//! reads the mount flags of the host's `/etc/resolv.conf`; [`generate_with_resolv_conf`]
//! takes them as an argument instead.

mod go;
mod image_config;
mod resolv_conf;
mod template;
mod user;

use std::collections::{BTreeMap, HashMap};
use std::io;

use oci_spec::runtime::{
    LinuxBuilder, LinuxCapabilities, LinuxDeviceCgroup, LinuxIdMapping, LinuxIdMappingBuilder,
    LinuxNamespace, LinuxNamespaceType, LinuxResources, PosixRlimitBuilder, PosixRlimitType,
    Process, Root, Spec, User,
};
use serde_json::{Map, Value};
use thiserror::Error;

use go::go_uint32;
use image_config::ImageConfig;
pub use resolv_conf::{RESOLV_CONF, host_resolv_conf_flags};
pub use template::OCI_VERSION;
use template::{mount, strings};
use user::resolve_user;

#[cfg(test)]
mod tests;

/// How the bundle's owners are mapped, as given to `unpack`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// uid ranges: (container id, host id, size). Used as given: the caller supplies the
    /// rootless default (`0:<euid>:1`) itself.
    pub uid_mappings: Vec<(u32, u32, u32)>,
    /// gid ranges: (container id, host id, size).
    pub gid_mappings: Vec<(u32, u32, u32)>,
    /// Rootless bundle: no network namespace, no `/sys` mounts but a bind of the host's,
    /// no additional groups, no cgroup resources.
    pub rootless: bool,
}

/// Why no configuration could be generated.
#[derive(Debug, Error)]
pub enum RuntimeConfigError {
    /// The image is not for Linux.
    #[error("unsupported os {0:?} in the image config (only linux images can be unpacked)")]
    UnsupportedOs(String),
    /// A field of the image configuration has the wrong JSON type.
    #[error("image config field {field} is not {expected}")]
    InvalidField {
        /// The field, e.g. `config.Env`.
        field: String,
        /// What it should be.
        expected: &'static str,
    },
    /// `created` is not an RFC 3339 time.
    #[error("image config created time {0:?} is not an RFC 3339 time")]
    InvalidCreated(String),
    /// An `Env` entry without `=` or with an empty name.
    #[error("image config Env entry {0:?} is not of the form NAME=value")]
    InvalidEnv(String),
    /// A user name that `/etc/passwd` does not list.
    #[error("cannot resolve user spec {spec:?}: user {user:?} not found in /etc/passwd")]
    UserNotFound {
        /// The image's `User`.
        spec: String,
        /// The user part of it.
        user: String,
    },
    /// A group name that `/etc/group` does not list.
    #[error("cannot resolve user spec {spec:?}: group {group:?} not found in /etc/group")]
    GroupNotFound {
        /// The image's `User`.
        spec: String,
        /// The group part of it.
        group: String,
    },
    /// A numeric uid or gid outside 0..=2147483647.
    #[error("cannot resolve user spec {0:?}: uids and gids must be in range 0-2147483647")]
    IdOutOfRange(String),
    /// The mount flags of the host's `/etc/resolv.conf` could not be read.
    #[error("cannot read the mount flags of the host's /etc/resolv.conf: {0}")]
    ResolvConf(io::Error),
    /// The runtime-spec types refused a value (a mount destination, say).
    #[error("runtime spec: {0}")]
    Spec(#[from] oci_spec::OciSpecError),
}

/// Generate the runtime configuration for an image.
///
/// `image_config` is the OCI image configuration object (`created`, `author`,
/// `architecture`, `os`, `config{User, ExposedPorts, Env, Entrypoint, Cmd, Volumes,
/// WorkingDir, Labels, StopSignal}`; other fields are ignored). Fields are read the way
/// Go's decoder reads them (ASCII-case-insensitive names, `null` as absent).
///
/// `passwd` and `group` are the contents of the rootfs's `/etc/passwd` and `/etc/group`
/// (`None` when missing); the caller reads them safely inside the rootfs.
///
/// For a rootless config this reads the mount flags of the host's `/etc/resolv.conf`
/// (see [`host_resolv_conf_flags`]).
pub fn generate(
    image_config: &Map<String, Value>,
    passwd: Option<&str>,
    group: Option<&str>,
    opts: &RuntimeOptions,
) -> Result<Spec, RuntimeConfigError> {
    let flags = if opts.rootless {
        host_resolv_conf_flags()?
    } else {
        None
    };
    generate_with_resolv_conf(image_config, passwd, group, opts, flags.as_deref())
}

/// [`generate`] with no rootfs to read `/etc/passwd` and `/etc/group` from (umoci's
/// `raw runtime-config` without `--rootfs`): a numeric user and group are taken as
/// they are, and a user spec that cannot be resolved (a name) becomes root:root, as
/// umoci does. Returns the configuration and, in that case, a warning.
pub fn generate_without_rootfs(
    image_config: &Map<String, Value>,
    opts: &RuntimeOptions,
) -> Result<(Spec, Option<String>), RuntimeConfigError> {
    match generate(image_config, None, None, opts) {
        Err(
            RuntimeConfigError::UserNotFound { spec, .. }
            | RuntimeConfigError::GroupNotFound { spec, .. }
            | RuntimeConfigError::IdOutOfRange(spec),
        ) => {
            let root = generate(&without_user(image_config), None, None, opts)?;
            let why = format!(
                "cannot resolve user spec {spec:?} without a rootfs: the process runs as root:root"
            );
            Ok((root, Some(why)))
        }
        other => other.map(|config| (config, None)),
    }
}

/// The image configuration with every `config.User` field removed (matched as Go's
/// decoder matches it, ASCII case-insensitively).
fn without_user(image_config: &Map<String, Value>) -> Map<String, Value> {
    let mut out = image_config.clone();
    for (key, value) in &mut out {
        if let (true, Value::Object(config)) = (key.eq_ignore_ascii_case("config"), value) {
            config.retain(|k, _| !k.eq_ignore_ascii_case("User"));
        }
    }
    out
}

/// [`generate`] without touching the host: `resolv_conf_flags` are the mount options
/// the rootless `/etc/resolv.conf` bind mount must keep (`None`: no such mount). Unused
/// unless `opts.rootless`.
pub fn generate_with_resolv_conf(
    image_config: &Map<String, Value>,
    passwd: Option<&str>,
    group: Option<&str>,
    opts: &RuntimeOptions,
    resolv_conf_flags: Option<&[&str]>,
) -> Result<Spec, RuntimeConfigError> {
    let image = ImageConfig::read(image_config)?;
    if image.os != "linux" {
        return Err(RuntimeConfigError::UnsupportedOs(image.os.to_owned()));
    }

    // Process environment: the template's, then the image's (replacing in place).
    let mut env = strings(template::ENV);
    for entry in &image.env {
        match entry.split_once('=') {
            Some((name, value)) if !name.is_empty() => set_env(&mut env, name, value, true),
            _ => return Err(RuntimeConfigError::InvalidEnv(entry.clone())),
        }
    }

    let mut args: Vec<String> = image.entrypoint.iter().chain(&image.cmd).cloned().collect();
    if args.is_empty() {
        args = vec!["sh".to_owned()];
    }

    let cwd = if image.working_dir.is_empty() {
        "/"
    } else {
        image.working_dir
    };

    // Labels first; the image-spec annotations take precedence (0.4.7's order).
    let mut annotations: BTreeMap<&str, String> = image
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    annotations.insert("org.opencontainers.image.os", image.os.to_owned());
    annotations.insert(
        "org.opencontainers.image.architecture",
        image.architecture.to_owned(),
    );
    annotations.insert("org.opencontainers.image.author", image.author.to_owned());
    annotations.insert("org.opencontainers.image.created", image.created.clone());
    annotations.insert(
        "org.opencontainers.image.stopSignal",
        image.stop_signal.to_owned(),
    );

    let user = resolve_user(image.user, passwd, group)?;
    if !user.home.is_empty() {
        // An explicit HOME in the image's Env wins (0.4.7 overwrote it).
        set_env(&mut env, "HOME", user.home, false);
    }

    let ports: Vec<&str> = image.exposed_ports.iter().map(String::as_str).collect();
    annotations.insert("org.opencontainers.image.exposedPorts", ports.join(","));

    let mut mounts = template::mounts();
    for volume in &image.volumes {
        mounts.push(mount(volume, "tmpfs", "none", template::VOLUME_OPTIONS));
    }

    let mut namespaces = template::NAMESPACES.to_vec();
    if !opts.uid_mappings.is_empty() || !opts.gid_mappings.is_empty() {
        namespaces.retain(|ns| *ns != LinuxNamespaceType::User);
        namespaces.push(LinuxNamespaceType::User);
    }

    let mut additional_gids: Vec<u32> = user.sgids.iter().map(|&g| go_uint32(g)).collect();
    let mut resources = true;
    if opts.rootless {
        additional_gids.clear();
        namespaces
            .retain(|ns| !matches!(ns, LinuxNamespaceType::Network | LinuxNamespaceType::User));
        namespaces.push(LinuxNamespaceType::User);
        // umoci drops every mount whose destination merely starts with "/sys" (a volume
        // "/sysroot" included); kept for identical output.
        mounts.retain(|m| !m.destination().to_string_lossy().starts_with("/sys"));
        for m in &mut mounts {
            if let Some(options) = m.options_mut() {
                options.retain(|o| !o.starts_with("gid=") && !o.starts_with("uid="));
            }
        }
        mounts.push(mount(
            "/sys",
            "bind",
            "/sys",
            template::ROOTLESS_SYS_OPTIONS,
        ));
        if let Some(flags) = resolv_conf_flags {
            let mut options = flags.to_vec();
            options.extend(["rbind", "ro"]);
            mounts.push(mount(RESOLV_CONF, "bind", RESOLV_CONF, &options));
        }
        resources = false;
    }

    let mut process_user = User::default();
    process_user.set_uid(go_uint32(user.uid));
    process_user.set_gid(go_uint32(user.gid));
    process_user.set_additional_gids((!additional_gids.is_empty()).then_some(additional_gids));

    let caps: oci_spec::runtime::Capabilities = template::CAPABILITIES.into_iter().collect();
    let mut capabilities = LinuxCapabilities::default();
    capabilities.set_bounding(Some(caps.clone()));
    capabilities.set_effective(Some(caps.clone()));
    capabilities.set_inheritable(Some(caps.clone()));
    capabilities.set_permitted(Some(caps.clone()));
    capabilities.set_ambient(Some(caps));

    let rlimit = PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitNofile)
        .hard(template::NOFILE)
        .soft(template::NOFILE)
        .build()?;

    let mut process = Process::default();
    process.set_terminal(Some(true));
    process.set_user(process_user);
    process.set_args(Some(args));
    process.set_env(Some(env));
    process.set_cwd(cwd.into());
    process.set_capabilities(Some(capabilities));
    process.set_rlimits(Some(vec![rlimit]));
    process.set_no_new_privileges(Some(true));

    let mut root = Root::default();
    root.set_path("rootfs".into());
    root.set_readonly(None);

    let mut linux = LinuxBuilder::default()
        .namespaces(
            namespaces
                .into_iter()
                .map(|typ| {
                    let mut ns = LinuxNamespace::default();
                    ns.set_typ(typ);
                    ns
                })
                .collect::<Vec<_>>(),
        )
        .masked_paths(strings(template::MASKED_PATHS))
        .readonly_paths(strings(template::READONLY_PATHS))
        .build()?;
    linux.set_uid_mappings(id_mappings(&opts.uid_mappings)?);
    linux.set_gid_mappings(id_mappings(&opts.gid_mappings)?);
    linux.set_resources(resources.then(|| {
        let mut device = LinuxDeviceCgroup::default();
        device.set_allow(false);
        device.set_access(Some(template::DENIED_DEVICE_ACCESS.to_owned()));
        let mut res = LinuxResources::default();
        res.set_devices(Some(vec![device]));
        res
    }));

    let mut spec = Spec::default();
    spec.set_version(OCI_VERSION.to_owned());
    spec.set_process(Some(process));
    spec.set_root(Some(root));
    spec.set_hostname(Some(template::HOSTNAME.to_owned()));
    spec.set_mounts(Some(mounts));
    spec.set_annotations(Some(
        annotations
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<HashMap<_, _>>(),
    ));
    spec.set_linux(Some(linux));
    Ok(spec)
}

/// The file bytes: the configuration serialized by serde, indented with tabs and
/// escaped as Go's encoder does, with a final newline. The runtime types keep
/// capability sets and annotations in hash containers; both are written sorted, so
/// the same configuration always gives the same bytes.
pub fn encode(config: &Spec) -> Vec<u8> {
    let mut value = serde_json::to_value(config).expect("a runtime spec serializes");
    if let Some(annotations) = value.get_mut("annotations").and_then(Value::as_object_mut) {
        annotations.sort_keys();
    }
    let sets = value
        .pointer_mut("/process/capabilities")
        .and_then(Value::as_object_mut);
    for set in sets.into_iter().flat_map(|c| c.values_mut()) {
        if let Value::Array(items) = set {
            items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        }
    }
    crate::go_json::encode_indented(&value).expect("a JSON value serializes")
}

/// The runtime spec's id mappings; `None` (left out) when there are none.
fn id_mappings(
    maps: &[(u32, u32, u32)],
) -> Result<Option<Vec<LinuxIdMapping>>, RuntimeConfigError> {
    if maps.is_empty() {
        return Ok(None);
    }
    let maps = maps
        .iter()
        .map(|&(container, host, size)| {
            LinuxIdMappingBuilder::default()
                .container_id(container)
                .host_id(host)
                .size(size)
                .build()
        })
        .collect::<Result<_, _>>()?;
    Ok(Some(maps))
}

/// Set `name` in `env`: replace the first `name=` entry in place (or keep it, without
/// `clobber`), else append.
fn set_env(env: &mut Vec<String>, name: &str, value: &str, clobber: bool) {
    let entry = format!("{name}={value}");
    let prefix = format!("{name}=");
    match env.iter_mut().find(|e| e.starts_with(&prefix)) {
        Some(existing) => {
            if clobber {
                *existing = entry;
            }
        }
        None => env.push(entry),
    }
}
