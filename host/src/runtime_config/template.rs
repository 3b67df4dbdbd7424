//! umoci 0.4.7's runtime-spec template: what every generated configuration starts
//! from before the image configuration fills it in (hostname `umoci-default`, a shell
//! as the process, a minimal capability set, the usual mounts and masked paths, a
//! deny-all device cgroup).

use oci_spec::runtime::{Capability, LinuxNamespaceType, Mount};

/// `ociVersion` of the generated configuration (what umoci 0.4.7 writes).
pub const OCI_VERSION: &str = "1.0.0";

/// The container's host name.
pub(super) const HOSTNAME: &str = "umoci-default";

/// The process's environment before the image's `Env` is applied.
pub(super) const ENV: &[&str] = &[
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "TERM=xterm",
];

/// Every capability set (bounding, effective, inheritable, permitted, ambient) holds
/// these.
pub(super) const CAPABILITIES: [Capability; 3] = [
    Capability::AuditWrite,
    Capability::Kill,
    Capability::NetBindService,
];

/// The process's open-file limit, hard and soft.
pub(super) const NOFILE: u64 = 1024;

/// Namespaces, in order; `user` is added when owners are mapped.
pub(super) const NAMESPACES: [LinuxNamespaceType; 5] = [
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Mount,
];

/// Paths hidden from the container.
pub(super) const MASKED_PATHS: &[&str] = &[
    "/proc/kcore",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
];

/// Paths the container may only read.
pub(super) const READONLY_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The options of the tmpfs mounted at each of the image's volumes.
pub(super) const VOLUME_OPTIONS: &[&str] = &["rw", "nosuid", "nodev", "noexec", "relatime"];

/// The options of the host's `/sys` bound into a rootless container.
pub(super) const ROOTLESS_SYS_OPTIONS: &[&str] = &["rbind", "nosuid", "noexec", "nodev", "ro"];

/// Device cgroup access denied to every device.
pub(super) const DENIED_DEVICE_ACCESS: &str = "rwm";

/// A mount; no options leaves the field out, as Go's `omitempty` does.
pub(super) fn mount(destination: &str, kind: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(destination.into());
    m.set_typ(Some(kind.to_owned()));
    m.set_source(Some(source.into()));
    m.set_options((!options.is_empty()).then(|| strings(options)));
    m
}

/// The template's mounts, in order.
pub(super) fn mounts() -> Vec<Mount> {
    vec![
        mount("/proc", "proc", "proc", &[]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
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
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ),
    ]
}

/// Owned copies of `items`.
pub(super) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}
