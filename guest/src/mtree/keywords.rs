//! The ten keywords umoci records for every object, computed from its metadata.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::vis;
use crate::tree::{FsError, Kind, Metadata, Tree};

/// umoci's keyword set, in the order entries carry them.
pub const KEYWORDS: [&str; 10] = [
    "size",
    "type",
    "uid",
    "gid",
    "mode",
    "link",
    "nlink",
    "tar_time",
    "sha256digest",
    "xattr",
];

/// The mtree `type` value of an object kind.
pub fn type_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Regular => "file",
        Kind::Directory => "dir",
        Kind::Symlink => "link",
        Kind::Fifo => "fifo",
        Kind::Socket => "socket",
        Kind::CharDevice => "char",
        Kind::BlockDevice => "block",
    }
}

/// The mtree `mode` value: permission, setuid, setgid and sticky bits in C's `%#o`
/// form (`0755`, `04755`, and `0` for no bits at all).
pub fn mode_value(mode: u32) -> String {
    let bits = mode & 0o7777;
    if bits == 0 {
        "0".to_owned()
    } else {
        format!("0{bits:o}")
    }
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// Append the decimal digits of `n` (what `format!("{n}")` gives, without the
/// formatting machinery: a walk formats half a million numbers).
pub fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        out.push(char::from(d));
    }
}

/// [`push_u64`] for signed numbers.
pub fn push_i64(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    push_u64(out, n.unsigned_abs());
}

/// `key` followed by the digits of `n`.
fn numeric(key: &str, n: u64) -> String {
    let mut kv = String::with_capacity(key.len() + 20);
    kv.push_str(key);
    push_u64(&mut kv, n);
    kv
}

/// All keywords of the object at `path` with metadata `meta` and extended attributes
/// `xattrs`, each as `key=value`, in [`KEYWORDS`] order (one `xattr.<name>=<base64>` per
/// attribute). Keywords that do not apply to the object's type are left out.
/// A symlink's target is `link` when the caller has read it already, else read here.
pub fn keywords(
    tree: &dyn Tree,
    path: &[u8],
    meta: &Metadata,
    xattrs: &[(Vec<u8>, Vec<u8>)],
    link: Option<&[u8]>,
) -> Result<Vec<String>, FsError> {
    let mut out = Vec::with_capacity(10);
    out.push(numeric("size=", meta.size));
    out.push(["type=", type_name(meta.kind)].concat());
    out.push(numeric("uid=", meta.uid.into()));
    out.push(numeric("gid=", meta.gid.into()));
    out.push(["mode=", &mode_value(meta.mode)].concat());
    if meta.kind == Kind::Symlink {
        let mut kv = String::from("link=");
        match link {
            Some(target) => vis::encode_into(target, &mut kv),
            None => vis::encode_into(&tree.read_link(path)?, &mut kv),
        }
        out.push(kv);
    }
    out.push(numeric("nlink=", meta.nlink));
    let mut tar_time = String::with_capacity(40);
    tar_time.push_str("tar_time=");
    push_i64(&mut tar_time, meta.mtime_sec);
    tar_time.push_str(".000000000");
    out.push(tar_time);
    if meta.kind == Kind::Regular {
        out.push(["sha256digest=", &hex(&tree.digest(path)?)].concat());
    }
    if meta.kind.lists_xattrs() {
        for (name, value) in xattrs {
            let mut kv = String::from("xattr.");
            vis::encode_into(name, &mut kv);
            kv.push('=');
            kv.push_str(&BASE64.encode(value));
            out.push(kv);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::mem::{MemTree, meta};

    #[test]
    fn numbers_print_as_format_does() {
        for n in [0u64, 7, 10, 99, 1_000_000_007, u64::MAX] {
            let mut out = String::new();
            push_u64(&mut out, n);
            assert_eq!(out, n.to_string());
        }
        for n in [0i64, -1, 42, -1_234_567_890, i64::MIN, i64::MAX] {
            let mut out = String::from("x");
            push_i64(&mut out, n);
            assert_eq!(out, format!("x{n}"));
        }
    }

    #[test]
    fn mode_is_printed_like_c_alternate_octal() {
        assert_eq!(mode_value(0o755), "0755");
        assert_eq!(mode_value(0o4755), "04755");
        assert_eq!(mode_value(0o1777), "01777");
        assert_eq!(mode_value(0), "0");
        assert_eq!(mode_value(0o100644), "0644", "file-type bits are dropped");
    }

    #[test]
    fn symlink_has_link_and_target_size_but_no_digest_or_xattrs() {
        let mut tree = MemTree::new();
        tree.insert(b"sh", meta(Kind::Symlink, 0o777), b"../x y")
            .xattrs
            .push((b"user.a".to_vec(), b"b".to_vec()));
        let m = tree.metadata(b"sh").unwrap();
        let kws = keywords(&tree, b"sh", &m, &tree.xattrs(b"sh").unwrap(), None).unwrap();
        assert_eq!(
            kws,
            [
                "size=6",
                "type=link",
                "uid=0",
                "gid=0",
                "mode=0777",
                "link=../x\\040y",
                "nlink=1",
                "tar_time=1000.000000000"
            ]
        );
    }

    #[test]
    fn regular_file_has_digest_and_xattrs_in_listing_order() {
        let mut tree = MemTree::new();
        let node = tree.insert(b"f", meta(Kind::Regular, 0o4755), b"\x01\x02");
        node.xattrs
            .push((b"user.with space".to_vec(), b"v".to_vec()));
        node.xattrs.push((b"security.capability".to_vec(), vec![]));
        let m = tree.metadata(b"f").unwrap();
        let kws = keywords(&tree, b"f", &m, &tree.xattrs(b"f").unwrap(), None).unwrap();
        assert_eq!(kws[4], "mode=04755");
        assert_eq!(kws[7], format!("sha256digest=0102{}", "0".repeat(60)));
        assert_eq!(kws[8], "xattr.user.with\\040space=dg==");
        assert_eq!(kws[9], "xattr.security.capability=");
    }

    #[test]
    fn devices_and_fifos_carry_neither_digest_nor_xattrs() {
        let mut tree = MemTree::new();
        tree.insert(b"null", meta(Kind::CharDevice, 0o666), b"")
            .xattrs
            .push((b"user.a".to_vec(), b"b".to_vec()));
        let m = tree.metadata(b"null").unwrap();
        let kws = keywords(&tree, b"null", &m, &tree.xattrs(b"null").unwrap(), None).unwrap();
        assert_eq!(kws.len(), 7);
        assert_eq!(kws[1], "type=char");
    }
}
