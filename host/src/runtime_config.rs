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
//! The module does no I/O of its own except in [`generate`] for a rootless config, which
//! reads the mount flags of the host's `/etc/resolv.conf`; [`generate_with_resolv_conf`]
//! takes them as an argument instead.

use std::collections::BTreeMap;
use std::io;

use serde_json::{Map, Value};
use thiserror::Error;

#[cfg(test)]
mod tests;

/// `ociVersion` of the generated configuration (what umoci 0.4.7 writes).
pub const OCI_VERSION: &str = "1.0.0";

/// The host file a rootless bundle bind-mounts for name resolution.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

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
) -> Result<Value, RuntimeConfigError> {
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
) -> Result<(Value, Option<String>), RuntimeConfigError> {
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
) -> Result<Value, RuntimeConfigError> {
    let image = ImageConfig::read(image_config)?;
    if image.os != "linux" {
        return Err(RuntimeConfigError::UnsupportedOs(image.os.to_owned()));
    }

    // Process environment: the template's, then the image's (replacing in place).
    let mut env: Vec<String> = TEMPLATE_ENV.iter().map(|s| (*s).to_owned()).collect();
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

    // Labels first; the image-spec annotations take precedence (0.4.7's order). A Go map
    // is written with its keys sorted, as a BTreeMap iterates.
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

    let mut mounts = template_mounts();
    for volume in &image.volumes {
        mounts.push(Mount {
            destination: volume.clone(),
            kind: "tmpfs".to_owned(),
            source: "none".to_owned(),
            options: strings(&["rw", "nosuid", "nodev", "noexec", "relatime"]),
        });
    }

    let mut namespaces: Vec<&str> = TEMPLATE_NAMESPACES.to_vec();
    if !opts.uid_mappings.is_empty() || !opts.gid_mappings.is_empty() {
        namespaces.retain(|ns| *ns != "user");
        namespaces.push("user");
    }

    let mut additional_gids: Vec<u32> = user.sgids.iter().map(|&g| go_uint32(g)).collect();
    let mut resources = true;
    if opts.rootless {
        additional_gids.clear();
        namespaces.retain(|ns| *ns != "network" && *ns != "user");
        namespaces.push("user");
        // umoci drops every mount whose destination merely starts with "/sys" (a volume
        // "/sysroot" included); kept for identical output.
        mounts.retain(|m| !m.destination.starts_with("/sys"));
        for m in &mut mounts {
            m.options
                .retain(|o| !o.starts_with("gid=") && !o.starts_with("uid="));
        }
        mounts.push(Mount {
            destination: "/sys".to_owned(),
            kind: "bind".to_owned(),
            source: "/sys".to_owned(),
            options: strings(&["rbind", "nosuid", "noexec", "nodev", "ro"]),
        });
        if let Some(flags) = resolv_conf_flags {
            let mut options = strings(flags);
            options.extend(strings(&["rbind", "ro"]));
            mounts.push(Mount {
                destination: RESOLV_CONF.to_owned(),
                kind: "bind".to_owned(),
                source: RESOLV_CONF.to_owned(),
                options,
            });
        }
        resources = false;
    }

    // Assemble in the runtime-spec structs' field order, leaving out what Go's
    // `omitempty` leaves out.
    let mut user_obj = Map::new();
    user_obj.insert("uid".into(), go_uint32(user.uid).into());
    user_obj.insert("gid".into(), go_uint32(user.gid).into());
    if !additional_gids.is_empty() {
        user_obj.insert("additionalGids".into(), additional_gids.into());
    }

    let caps = Value::from(strings(TEMPLATE_CAPS));
    let mut capabilities = Map::new();
    for set in [
        "bounding",
        "effective",
        "inheritable",
        "permitted",
        "ambient",
    ] {
        capabilities.insert(set.into(), caps.clone());
    }

    let mut rlimit = Map::new();
    rlimit.insert("type".into(), "RLIMIT_NOFILE".into());
    rlimit.insert("hard".into(), 1024.into());
    rlimit.insert("soft".into(), 1024.into());

    let mut process = Map::new();
    process.insert("terminal".into(), true.into());
    process.insert("user".into(), user_obj.into());
    process.insert("args".into(), args.into());
    process.insert("env".into(), env.into());
    process.insert("cwd".into(), cwd.into());
    process.insert("capabilities".into(), capabilities.into());
    process.insert("rlimits".into(), vec![Value::Object(rlimit)].into());
    process.insert("noNewPrivileges".into(), true.into());

    let mut root = Map::new();
    root.insert("path".into(), "rootfs".into());

    let mut linux = Map::new();
    if !opts.uid_mappings.is_empty() {
        linux.insert("uidMappings".into(), id_mappings(&opts.uid_mappings));
    }
    if !opts.gid_mappings.is_empty() {
        linux.insert("gidMappings".into(), id_mappings(&opts.gid_mappings));
    }
    if resources {
        let mut device = Map::new();
        device.insert("allow".into(), false.into());
        device.insert("access".into(), "rwm".into());
        let mut res = Map::new();
        res.insert("devices".into(), vec![Value::Object(device)].into());
        linux.insert("resources".into(), res.into());
    }
    let namespaces: Vec<Value> = namespaces
        .iter()
        .map(|ns| {
            let mut o = Map::new();
            o.insert("type".into(), (*ns).into());
            Value::Object(o)
        })
        .collect();
    linux.insert("namespaces".into(), namespaces.into());
    linux.insert("maskedPaths".into(), strings(MASKED_PATHS).into());
    linux.insert("readonlyPaths".into(), strings(READONLY_PATHS).into());

    let mut spec = Map::new();
    spec.insert("ociVersion".into(), OCI_VERSION.into());
    spec.insert("process".into(), process.into());
    spec.insert("root".into(), root.into());
    spec.insert("hostname".into(), "umoci-default".into());
    spec.insert(
        "mounts".into(),
        mounts.into_iter().map(Mount::into_value).collect(),
    );
    spec.insert(
        "annotations".into(),
        annotations
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v)))
            .collect::<Map<_, _>>()
            .into(),
    );
    spec.insert("linux".into(), linux.into());
    Ok(Value::Object(spec))
}

/// The mount options of the host's `/etc/resolv.conf` that a bind mount inside a user
/// namespace must keep (the flags the kernel locks), in a fixed order; `None` when the
/// host has no `/etc/resolv.conf`.
///
/// Like umoci this never reports `relatime`: umoci tests the statfs flags against
/// `MS_RELATIME`, a bit statfs does not use, so the option never appears in its output.
pub fn host_resolv_conf_flags() -> Result<Option<Vec<&'static str>>, RuntimeConfigError> {
    use rustix::fs::StatVfsMountFlags as F;
    let stat = match rustix::fs::statvfs(RESOLV_CONF) {
        Ok(stat) => stat,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(e) => return Err(RuntimeConfigError::ResolvConf(e.into())),
    };
    let known = [
        (F::RDONLY, "ro"),
        (F::NODEV, "nodev"),
        (F::NOEXEC, "noexec"),
        (F::NOSUID, "nosuid"),
        (F::NOATIME, "noatime"),
        (F::NODIRATIME, "nodiratime"),
    ];
    Ok(Some(
        known
            .into_iter()
            .filter(|(flag, _)| stat.f_flag.contains(*flag))
            .map(|(_, name)| name)
            .collect(),
    ))
}

/// The file bytes: JSON indented with tabs and a final newline, as Go's encoder writes
/// it (`<`, `>`, `&`, U+2028 and U+2029 escaped, control characters other than `\t`,
/// `\n` and `\r` as `\u00XX`). Numbers are written as serde_json prints them; a
/// generated configuration only holds integers, which both print alike.
pub fn encode(config: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(&mut out, config, 0);
    out.push(b'\n');
    out
}

// ---------------------------------------------------------------------------------
// The template.

const TEMPLATE_ENV: &[&str] = &[
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "TERM=xterm",
];

const TEMPLATE_CAPS: &[&str] = &["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

const TEMPLATE_NAMESPACES: &[&str] = &["pid", "network", "ipc", "uts", "mount"];

const MASKED_PATHS: &[&str] = &[
    "/proc/kcore",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
];

const READONLY_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

struct Mount {
    destination: String,
    kind: String,
    source: String,
    options: Vec<String>,
}

impl Mount {
    fn new(destination: &str, kind: &str, source: &str, options: &[&str]) -> Self {
        Mount {
            destination: destination.to_owned(),
            kind: kind.to_owned(),
            source: source.to_owned(),
            options: strings(options),
        }
    }

    fn into_value(self) -> Value {
        let mut o = Map::new();
        o.insert("destination".into(), self.destination.into());
        o.insert("type".into(), self.kind.into());
        o.insert("source".into(), self.source.into());
        if !self.options.is_empty() {
            o.insert("options".into(), self.options.into());
        }
        Value::Object(o)
    }
}

fn template_mounts() -> Vec<Mount> {
    vec![
        Mount::new("/proc", "proc", "proc", &[]),
        Mount::new(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        Mount::new(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        Mount::new(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        Mount::new(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        Mount::new(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        Mount::new(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ),
    ]
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn id_mappings(maps: &[(u32, u32, u32)]) -> Value {
    maps.iter()
        .map(|&(container, host, size)| {
            let mut o = Map::new();
            o.insert("containerID".into(), container.into());
            o.insert("hostID".into(), host.into());
            o.insert("size".into(), size.into());
            Value::Object(o)
        })
        .collect()
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

/// Go's `uint32(int)`: keep the low 32 bits.
fn go_uint32(v: i64) -> u32 {
    v as u32
}

// ---------------------------------------------------------------------------------
// Reading the image configuration as Go's decoder does.

/// The fields of an image configuration the runtime configuration uses.
struct ImageConfig<'a> {
    /// Already in Go's RFC 3339 rendering (`0001-01-01T00:00:00Z` when absent).
    created: String,
    author: &'a str,
    architecture: &'a str,
    os: &'a str,
    user: &'a str,
    /// Sorted.
    exposed_ports: Vec<String>,
    env: Vec<String>,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    /// Sorted.
    volumes: Vec<String>,
    working_dir: &'a str,
    labels: BTreeMap<String, String>,
    stop_signal: &'a str,
}

impl<'a> ImageConfig<'a> {
    fn read(image: &'a Map<String, Value>) -> Result<Self, RuntimeConfigError> {
        let top = [image];
        // `config` is a struct: every occurrence is decoded into the same value, so
        // fields are looked up across all of them.
        let mut config = Vec::new();
        for v in matches(&top, "config") {
            match v {
                Value::Null => {}
                Value::Object(o) => config.push(o),
                _ => return Err(invalid("config", "an object")),
            }
        }
        let created = match matches(&top, "created").last() {
            None | Some(Value::Null) => "0001-01-01T00:00:00Z".to_owned(),
            Some(Value::String(s)) => {
                go_rfc3339(s).ok_or_else(|| RuntimeConfigError::InvalidCreated(s.clone()))?
            }
            Some(_) => return Err(invalid("created", "a string")),
        };
        Ok(ImageConfig {
            created,
            author: string_field(&top, "author", "")?,
            architecture: string_field(&top, "architecture", "")?,
            os: string_field(&top, "os", "")?,
            user: string_field(&config, "User", "config.")?,
            exposed_ports: set_field(&config, "ExposedPorts")?,
            env: strings_field(&config, "Env")?,
            entrypoint: strings_field(&config, "Entrypoint")?,
            cmd: strings_field(&config, "Cmd")?,
            volumes: set_field(&config, "Volumes")?,
            working_dir: string_field(&config, "WorkingDir", "config.")?,
            labels: labels_field(&config)?,
            stop_signal: string_field(&config, "StopSignal", "config.")?,
        })
    }
}

fn invalid(field: &str, expected: &'static str) -> RuntimeConfigError {
    RuntimeConfigError::InvalidField {
        field: field.to_owned(),
        expected,
    }
}

/// Every value whose key matches `name` (ASCII case-insensitively, as Go's decoder
/// matches struct fields), in document order.
fn matches<'a>(objects: &[&'a Map<String, Value>], name: &str) -> Vec<&'a Value> {
    objects
        .iter()
        .flat_map(|o| o.iter())
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .collect()
}

/// A string field: the last non-null value (Go leaves a string alone on `null`).
fn string_field<'a>(
    objects: &[&'a Map<String, Value>],
    name: &str,
    prefix: &str,
) -> Result<&'a str, RuntimeConfigError> {
    let mut out = "";
    for v in matches(objects, name) {
        match v {
            Value::Null => {}
            Value::String(s) => out = s,
            _ => return Err(invalid(&format!("{prefix}{name}"), "a string")),
        }
    }
    Ok(out)
}

/// A `[]string` field: the last value; `null` empties it, `null` elements are "".
fn strings_field(
    objects: &[&Map<String, Value>],
    name: &str,
) -> Result<Vec<String>, RuntimeConfigError> {
    let wrong = || invalid(&format!("config.{name}"), "an array of strings");
    match matches(objects, name).last() {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::Null => Ok(String::new()),
                Value::String(s) => Ok(s.clone()),
                _ => Err(wrong()),
            })
            .collect(),
        Some(_) => Err(wrong()),
    }
}

/// A map field: objects merge into it, `null` clears it.
fn map_field<'a>(
    objects: &[&'a Map<String, Value>],
    name: &str,
) -> Result<BTreeMap<String, &'a Value>, RuntimeConfigError> {
    let mut out = BTreeMap::new();
    for v in matches(objects, name) {
        match v {
            Value::Null => out.clear(),
            Value::Object(o) => out.extend(o.iter().map(|(k, v)| (k.clone(), v))),
            _ => return Err(invalid(&format!("config.{name}"), "an object")),
        }
    }
    Ok(out)
}

/// A `map[string]struct{}` field (ExposedPorts, Volumes): its keys, sorted.
fn set_field(
    objects: &[&Map<String, Value>],
    name: &str,
) -> Result<Vec<String>, RuntimeConfigError> {
    let map = map_field(objects, name)?;
    if map
        .values()
        .any(|v| !matches!(v, Value::Null | Value::Object(_)))
    {
        return Err(invalid(
            &format!("config.{name}"),
            "an object of empty objects",
        ));
    }
    Ok(map.into_keys().collect())
}

/// `Labels`: a `map[string]string` (`null` values are "").
fn labels_field(
    objects: &[&Map<String, Value>],
) -> Result<BTreeMap<String, String>, RuntimeConfigError> {
    map_field(objects, "Labels")?
        .into_iter()
        .map(|(k, v)| match v {
            Value::Null => Ok((k, String::new())),
            Value::String(s) => Ok((k, s.clone())),
            _ => Err(invalid("config.Labels", "an object of strings")),
        })
        .collect()
}

/// Parse an RFC 3339 time as Go 1.19's `time.Parse(time.RFC3339)` does and render it as
/// `Format(time.RFC3339Nano)` would: the offset kept (`Z` when zero), fractional seconds
/// truncated to nanoseconds and stripped of trailing zeros. Lenient where that Go was:
/// a one-digit hour, `,` before the fraction, any two-digit offset fields.
fn go_rfc3339(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let num = |s: &[u8]| -> Option<u32> {
        s.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if b.len() < 10 || !at(4, b'-') || !at(7, b'-') || !at(10, b'T') {
        return None;
    }
    let year = num(&b[0..4])?;
    let month = num(&b[5..7])?;
    let day = num(&b[8..10])?;
    // Hour: one or two digits.
    let hour_len = match (b.get(11), b.get(12)) {
        (Some(d1), Some(d2)) if d1.is_ascii_digit() && d2.is_ascii_digit() => 2,
        (Some(d1), _) if d1.is_ascii_digit() => 1,
        _ => return None,
    };
    let hour = num(&b[11..11 + hour_len])?;
    let mut i = 11 + hour_len;
    if !at(i, b':') || !at(i + 3, b':') || b.len() < i + 6 {
        return None;
    }
    let minute = num(&b[i + 1..i + 3])?;
    let second = num(&b[i + 4..i + 6])?;
    i += 6;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut fraction = String::new();
    if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        fraction = text[i + 1..i + 1 + digits.min(9)]
            .trim_end_matches('0')
            .to_owned();
        i += 1 + digits;
    }
    let zone = &b[i..];
    let offset_minutes: i64 = match zone {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let minutes = i64::from(num(&[*h1, *h2])?) * 60 + i64::from(num(&[*m1, *m2])?);
            if *sign == b'-' { -minutes } else { minutes }
        }
        _ => return None,
    };
    let mut out = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(&fraction);
    }
    if offset_minutes == 0 {
        out.push('Z');
    } else {
        let sign = if offset_minutes < 0 { '-' } else { '+' };
        let m = offset_minutes.abs();
        out.push_str(&format!("{sign}{:02}:{:02}", m / 60, m % 60));
    }
    Some(out)
}

// ---------------------------------------------------------------------------------
// User resolution, as runc's libcontainer/user `GetExecUser` does it.

const MAX_ID: i64 = (1 << 31) - 1;

/// The longest line Go's `bufio.Scanner` accepts; a longer one ends the scan silently.
const MAX_LINE: usize = 64 * 1024 - 1;

#[derive(Debug, PartialEq, Eq)]
struct ExecUser<'a> {
    uid: i64,
    gid: i64,
    sgids: Vec<i64>,
    home: &'a str,
}

/// The lines of a file as `bufio.Scanner` splits them: at `\n`, one trailing `\r`
/// dropped, no empty last line after a final newline; scanning stops at an overlong line.
fn scan_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let t = rest.take().filter(|t| !t.is_empty())?;
        let (line, next) = match t.split_once('\n') {
            Some((line, next)) => (line, Some(next)),
            None => (t, None),
        };
        if line.len() > MAX_LINE {
            return None;
        }
        rest = next;
        Some(line.strip_suffix('\r').unwrap_or(line))
    })
}

/// Go's `strconv.Atoi`: `Err` carries the value Go returns alongside its error (0 for
/// a syntax error, the clamped value on overflow).
fn go_atoi(s: &str) -> Result<i64, i64> {
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(0);
    }
    s.parse::<i64>()
        .map_err(|_| if negative { i64::MIN } else { i64::MAX })
}

/// A numeric field of passwd/group: errors ignored, as runc does.
fn lenient_int(s: Option<&str>) -> i64 {
    s.map_or(0, |s| match go_atoi(s) {
        Ok(v) | Err(v) => v,
    })
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: i64,
    gid: i64,
    home: &'a str,
}

fn passwd_entries(passwd: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    scan_lines(passwd)
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            // name:password:uid:gid:gecos:home:shell
            let mut f = line.split(':');
            let name = f.next().unwrap_or("");
            let _password = f.next();
            let uid = lenient_int(f.next());
            let gid = lenient_int(f.next());
            let _gecos = f.next();
            let home = f.next().unwrap_or("");
            PasswdEntry {
                name,
                uid,
                gid,
                home,
            }
        })
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: i64,
    members: Vec<&'a str>,
}

fn group_entries(group: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    // Unlike passwd lines, group lines are not trimmed.
    scan_lines(group)
        .filter(|line| !line.is_empty())
        .map(|line| {
            // name:password:gid:member,member
            let mut f = line.split(':');
            let name = f.next().unwrap_or("");
            let _password = f.next();
            let gid = lenient_int(f.next());
            let members = match f.next() {
                Some(list) if !list.is_empty() => list.split(',').collect(),
                _ => Vec::new(),
            };
            GroupEntry { name, gid, members }
        })
}

/// Resolve `spec` ("", "user", "uid", "user:group", "uid:gid", mixed; anything after a
/// second `:` ignored). A user found in passwd gives uid, gid and home; a numeric user
/// not found is taken as is. Without an explicit group, the groups listing the user
/// become the supplementary groups; an explicit group replaces the gid.
fn resolve_user<'a>(
    spec: &str,
    passwd: Option<&'a str>,
    group: Option<&'a str>,
) -> Result<ExecUser<'a>, RuntimeConfigError> {
    let mut parts = spec.split(':');
    let user_arg = parts.next().unwrap_or("");
    let group_arg = parts.next().unwrap_or("");
    let uid_arg = go_atoi(user_arg).ok();
    let gid_arg = go_atoi(group_arg).ok();

    let mut user = ExecUser {
        uid: 0,
        gid: 0,
        sgids: Vec::new(),
        home: "",
    };
    let found = passwd.and_then(|p| {
        passwd_entries(p).find(|e| match uid_arg {
            _ if user_arg.is_empty() => e.uid == 0,
            Some(uid) => e.uid == uid,
            None => e.name == user_arg,
        })
    });
    let mut matched_name = "";
    if let Some(e) = found {
        matched_name = e.name;
        user.uid = e.uid;
        user.gid = e.gid;
        user.home = e.home;
    } else if !user_arg.is_empty() {
        let Some(uid) = uid_arg else {
            return Err(RuntimeConfigError::UserNotFound {
                spec: spec.to_owned(),
                user: user_arg.to_owned(),
            });
        };
        if !(0..=MAX_ID).contains(&uid) {
            return Err(RuntimeConfigError::IdOutOfRange(spec.to_owned()));
        }
        user.uid = uid;
    }

    if !group_arg.is_empty() || !matched_name.is_empty() {
        let groups: Vec<GroupEntry> = group
            .map(|g| {
                group_entries(g)
                    .filter(|g| match gid_arg {
                        _ if group_arg.is_empty() => g.members.contains(&matched_name),
                        Some(gid) => g.gid == gid,
                        None => g.name == group_arg,
                    })
                    .collect()
            })
            .unwrap_or_default();
        if group_arg.is_empty() {
            user.sgids = groups.iter().map(|g| g.gid).collect();
        } else if let Some(g) = groups.first() {
            user.gid = g.gid;
        } else {
            let Some(gid) = gid_arg else {
                return Err(RuntimeConfigError::GroupNotFound {
                    spec: spec.to_owned(),
                    group: group_arg.to_owned(),
                });
            };
            if !(0..=MAX_ID).contains(&gid) {
                return Err(RuntimeConfigError::IdOutOfRange(spec.to_owned()));
            }
            user.gid = gid;
        }
    }
    Ok(user)
}

// ---------------------------------------------------------------------------------
// Encoding.

fn newline_indent(out: &mut Vec<u8>, depth: usize) {
    out.push(b'\n');
    out.extend(std::iter::repeat_n(b'\t', depth));
}

fn write_value(out: &mut Vec<u8>, value: &Value, depth: usize) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_string(out, s),
        Value::Array(items) if items.is_empty() => out.extend_from_slice(b"[]"),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline_indent(out, depth + 1);
                write_value(out, item, depth + 1);
            }
            newline_indent(out, depth);
            out.push(b']');
        }
        Value::Object(map) if map.is_empty() => out.extend_from_slice(b"{}"),
        Value::Object(map) => {
            out.push(b'{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline_indent(out, depth + 1);
                write_string(out, key);
                out.extend_from_slice(b": ");
                write_value(out, item, depth + 1);
            }
            newline_indent(out, depth);
            out.push(b'}');
        }
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let short: &[u8] = match c {
            '"' => b"\\\"",
            '\\' => b"\\\\",
            '\n' => b"\\n",
            '\r' => b"\\r",
            '\t' => b"\\t",
            '\u{2028}' => b"\\u2028",
            '\u{2029}' => b"\\u2029",
            '<' | '>' | '&' => b"",
            c if c < ' ' => b"",
            _ => continue,
        };
        out.extend_from_slice(&s.as_bytes()[start..i]);
        if short.is_empty() {
            let b = c as u8;
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(short);
        }
        start = i + c.len_utf8();
    }
    out.extend_from_slice(&s.as_bytes()[start..]);
    out.push(b'"');
}
