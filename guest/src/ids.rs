//! Image owners from on-disk owners: the bundle's uid/gid mappings, and rootless
//! bundles' `user.rootlesscontainers` attribute.

use crate::tree::Metadata;

/// The xattr in which rootless bundles keep an object's owner inside the image.
pub const ROOTLESS_XATTR: &[u8] = b"user.rootlesscontainers";

/// The protobuf value that means "owner 0" (no change) in [`ROOTLESS_XATTR`].
const NOOP_ID: u64 = 0xFFFF_FFFF;

/// One mapped range: host ids `host_id .. host_id + size` are `container_id ..`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMapping {
    /// First id inside the image.
    pub container_id: u32,
    /// First id on the host.
    pub host_id: u32,
    /// Number of ids.
    pub size: u32,
}

/// A bundle's `map_options`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapOptions {
    /// uid ranges; empty is identity.
    pub uid_mappings: Vec<IdMapping>,
    /// gid ranges; empty is identity.
    pub gid_mappings: Vec<IdMapping>,
    /// Whether the bundle is rootless.
    pub rootless: bool,
}

/// The image's owner of one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// uid inside the image.
    pub uid: u64,
    /// gid inside the image.
    pub gid: u64,
}

/// Map a host id into the image through `mappings` (`None`: not mapped).
pub fn to_container(id: u32, mappings: &[IdMapping]) -> Option<u32> {
    if mappings.is_empty() {
        return Some(id);
    }
    mappings.iter().find_map(|m| {
        let offset = id.checked_sub(m.host_id)?;
        (offset < m.size).then(|| m.container_id.checked_add(offset))?
    })
}

impl MapOptions {
    /// The image owner of an object with metadata `meta` and the given
    /// `user.rootlesscontainers` value (if it has one). Errors are one-line causes.
    pub fn owner(&self, meta: &Metadata, rootless_xattr: Option<&[u8]>) -> Result<Owner, String> {
        if self.rootless {
            let (uid, gid) = match rootless_xattr {
                Some(value) => decode_rootless(value)?,
                None => (0, 0),
            };
            return Ok(Owner { uid, gid });
        }
        let uid = to_container(meta.uid, &self.uid_mappings).ok_or_else(|| {
            format!(
                "uid {} has no mapping in the bundle's uid_mappings",
                meta.uid
            )
        })?;
        let gid = to_container(meta.gid, &self.gid_mappings).ok_or_else(|| {
            format!(
                "gid {} has no mapping in the bundle's gid_mappings",
                meta.gid
            )
        })?;
        Ok(Owner {
            uid: uid.into(),
            gid: gid.into(),
        })
    }
}

/// Decode a `user.rootlesscontainers` value: a protobuf message whose field 1 is the
/// uid and field 2 the gid (varints), `0xFFFFFFFF` meaning 0.
pub fn decode_rootless(value: &[u8]) -> Result<(u64, u64), String> {
    let bad = |why: &str| format!("malformed user.rootlesscontainers attribute: {why}");
    let mut input = value;
    let (mut uid, mut gid) = (0, 0);
    while !input.is_empty() {
        let key = varint(&mut input).ok_or_else(|| bad("truncated field key"))?;
        match key & 7 {
            0 => {
                let v = varint(&mut input).ok_or_else(|| bad("truncated varint"))?;
                let v = if v == NOOP_ID { 0 } else { v };
                match key >> 3 {
                    1 => uid = v,
                    2 => gid = v,
                    _ => {}
                }
            }
            1 => input = input.get(8..).ok_or_else(|| bad("truncated fixed64"))?,
            5 => input = input.get(4..).ok_or_else(|| bad("truncated fixed32"))?,
            2 => {
                let len = varint(&mut input).ok_or_else(|| bad("truncated length"))?;
                let len = usize::try_from(len).map_err(|_| bad("length too large"))?;
                input = input.get(len..).ok_or_else(|| bad("truncated field"))?;
            }
            _ => return Err(bad("unknown wire type")),
        }
    }
    if uid > u64::from(u32::MAX) || gid > u64::from(u32::MAX) {
        return Err(bad("owner out of range"));
    }
    Ok((uid, gid))
}

/// Read one protobuf varint from the front of `input`.
fn varint(input: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, byte) in input.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *input = &input[i + 1..];
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Kind;
    use crate::tree::mem::meta;

    #[test]
    fn rootless_values_from_umoci_tests_decode() {
        assert_eq!(
            decode_rootless(&[0x08, 0xe0, 0x07, 0x10, 0x7b]),
            Ok((992, 123))
        );
        assert_eq!(
            decode_rootless(&[0x08, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x10, 0xc8, 0x03]),
            Ok((0, 456))
        );
        assert_eq!(
            decode_rootless(&[0x08, 0x62, 0x10, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            Ok((98, 0))
        );
        assert_eq!(decode_rootless(&[]), Ok((0, 0)));
        assert!(decode_rootless(&[0x08, 0xff]).is_err());
        assert!(decode_rootless(&[0x0b]).is_err());
    }

    #[test]
    fn host_ids_map_into_the_image() {
        let maps = [IdMapping {
            container_id: 0,
            host_id: 1337,
            size: 65535,
        }];
        assert_eq!(to_container(2000, &maps), Some(663));
        assert_eq!(to_container(1337, &maps), Some(0));
        assert_eq!(to_container(1336, &maps), None);
        assert_eq!(to_container(1337 + 65535, &maps), None);
        assert_eq!(to_container(42, &[]), Some(42));
    }

    #[test]
    fn rootless_owner_comes_from_the_xattr_or_is_root() {
        let opts = MapOptions {
            rootless: true,
            ..MapOptions::default()
        };
        let mut m = meta(Kind::Regular, 0o644);
        m.uid = 1000;
        m.gid = 1000;
        assert_eq!(opts.owner(&m, None), Ok(Owner { uid: 0, gid: 0 }));
        assert_eq!(
            opts.owner(&m, Some(&[0x08, 0xe0, 0x07, 0x10, 0x7b])),
            Ok(Owner { uid: 992, gid: 123 })
        );
    }

    #[test]
    fn unmapped_owner_is_an_error() {
        let opts = MapOptions {
            uid_mappings: vec![IdMapping {
                container_id: 0,
                host_id: 100_000,
                size: 10,
            }],
            ..MapOptions::default()
        };
        let m = meta(Kind::Regular, 0o644);
        assert_eq!(
            opts.owner(&m, None).unwrap_err(),
            "uid 0 has no mapping in the bundle's uid_mappings"
        );
    }
}
