//! The host's `/etc/resolv.conf`, which a rootless bundle bind-mounts: the mount flags
//! the kernel locks inside a user namespace, so the bind mount must repeat them.

use super::RuntimeConfigError;

/// The host file a rootless bundle bind-mounts for name resolution.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

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
