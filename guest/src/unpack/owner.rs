//! Image owners to host owners when extracting, and the rootless owner attribute.

use crate::ids::{IdMapping, MapOptions};

/// Map an image id to the host through `mappings` (empty: identity).
pub fn to_host(id: u64, mappings: &[IdMapping]) -> Option<u32> {
    let id = u32::try_from(id).ok()?;
    if mappings.is_empty() {
        return Some(id);
    }
    mappings.iter().find_map(|m| {
        let offset = id.checked_sub(m.container_id)?;
        (offset < m.size).then(|| m.host_id.checked_add(offset))?
    })
}

/// The host owner for an image owner, or a one-line reason.
pub fn host_owner(map: &MapOptions, uid: u64, gid: u64) -> Result<(u32, u32), String> {
    let u = to_host(uid, &map.uid_mappings)
        .ok_or_else(|| format!("uid {uid} has no mapping in the uid mappings"))?;
    let g = to_host(gid, &map.gid_mappings)
        .ok_or_else(|| format!("gid {gid} has no mapping in the gid mappings"))?;
    Ok((u, g))
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The `user.rootlesscontainers` value recording an image owner (`None` when both are
/// 0): a protobuf message, field 1 the uid, field 2 the gid, 0 written as 0xFFFFFFFF.
pub fn rootless_xattr(uid: u64, gid: u64) -> Option<Vec<u8>> {
    if uid == 0 && gid == 0 {
        return None;
    }
    let noop = |v: u64| if v == 0 { 0xFFFF_FFFF } else { v };
    let mut out = Vec::new();
    out.push(0x08);
    varint(noop(uid), &mut out);
    out.push(0x10);
    varint(noop(gid), &mut out);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rootless_values_match_umoci() {
        assert_eq!(
            rootless_xattr(992, 123).unwrap(),
            [0x08, 0xe0, 0x07, 0x10, 0x7b]
        );
        assert_eq!(
            rootless_xattr(0, 456).unwrap(),
            [0x08, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x10, 0xc8, 0x03]
        );
        assert_eq!(
            rootless_xattr(98, 0).unwrap(),
            [0x08, 0x62, 0x10, 0xff, 0xff, 0xff, 0xff, 0x0f]
        );
        assert_eq!(rootless_xattr(0, 0), None);
    }

    #[test]
    fn image_ids_map_to_the_host() {
        let maps = [IdMapping {
            container_id: 0,
            host_id: 4000,
            size: 65536,
        }];
        assert_eq!(to_host(663, &maps), Some(4663));
        assert_eq!(to_host(70000, &maps), None);
        assert_eq!(to_host(7, &[]), Some(7));
        assert_eq!(to_host(1 << 40, &[]), None);
    }
}
