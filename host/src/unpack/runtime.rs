//! The runtime configuration (`config.json`) of an image: what `unpack` writes into the
//! bundle, and what `raw runtime-config` writes on its own (umoci's
//! `UnpackRuntimeJSON`).

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use oci_spec::runtime::Spec;

use super::{IdMap, Image, UnpackError, account_file};
use crate::capability::CapDir;
use crate::runtime_config::{self, RuntimeOptions};

/// The configuration for `image` with these (effective) id mappings. Its `root.path`
/// is the last component of `rootfs` (`.` without one), as umoci writes it.
///
/// With a `rootfs`, the image's user is resolved against its `/etc/passwd` and
/// `/etc/group` (read inside it, never following a symlink) and a name it does not
/// list is an error. Without one, as umoci does, a numeric user is taken as it is and
/// a name becomes root:root with the warning returned alongside.
pub fn generate(
    image: &Image,
    rootfs: Option<(&Path, &CapDir)>,
    (uid_maps, gid_maps): (&[IdMap], &[IdMap]),
    rootless: bool,
) -> Result<(Spec, Option<String>), UnpackError> {
    let triple = |m: &[IdMap]| {
        m.iter()
            .map(|m| (m.container_id, m.host_id, m.size))
            .collect()
    };
    let options = RuntimeOptions {
        uid_mappings: triple(uid_maps),
        gid_mappings: triple(gid_maps),
        rootless,
    };
    let config = &image.base.config;
    let generated = match rootfs {
        Some((_, cap)) => {
            let passwd = account_file(cap, b"etc/passwd");
            let group = account_file(cap, b"etc/group");
            runtime_config::generate(config, passwd.as_deref(), group.as_deref(), &options)
                .map(|c| (c, None))
        }
        None => runtime_config::generate_without_rootfs(config, &options),
    };
    let (mut generated, warning) =
        generated.map_err(|e| UnpackError::Invalid(format!("config.json: {e}")))?;
    if let Some(root) = generated.root_mut() {
        root.set_path(base_name(rootfs.map(|(path, _)| path)).into());
    }
    Ok((generated, warning))
}

/// The last component of `path` as Go's `filepath.Base` gives it: trailing slashes
/// dropped, `.` for an empty path, `/` for one of slashes only.
fn base_name(path: Option<&Path>) -> String {
    let text = path.map(|p| p.as_os_str().as_bytes()).unwrap_or_default();
    let trimmed = match text.iter().rposition(|&b| b != b'/') {
        Some(end) => &text[..=end],
        None if text.is_empty() => return ".".into(),
        None => return "/".into(),
    };
    let start = trimmed
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(0, |i| i + 1);
    String::from_utf8_lossy(&trimmed[start..]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_names_are_go_s() {
        let base = |p: &str| base_name(Some(Path::new(p)));
        assert_eq!(base_name(None), ".");
        assert_eq!(base(""), ".");
        assert_eq!(base("/"), "/");
        assert_eq!(base("//"), "/");
        assert_eq!(base("rootfs"), "rootfs");
        assert_eq!(base("/a/b/rr/"), "rr");
        assert_eq!(base("bundle/rootfs"), "rootfs");
    }
}
