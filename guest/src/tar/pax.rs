//! PAX extended headers: which records an entry needs, their encoding, and the name of
//! the `x` entry that carries them.

use super::{MAX_OCTAL_7, MAX_OCTAL_11, NAME, Normal, is_ascii, to_ascii};

/// The most PAX data Go's Writer accepts for one entry (its `maxSpecialFileSize`).
pub(super) const MAX_DATA: usize = 1 << 20;

/// The records `h` needs when it does not fit plain USTAR, sorted by key bytewise.
///
/// `path` is included whenever the name is non-ASCII or longer than 100 bytes, even when
/// a USTAR prefix split would have been possible, as Go does.
pub(super) fn needed(h: &Normal) -> Vec<(Vec<u8>, Vec<u8>)> {
    let raw = h.raw;
    let mut records = Vec::new();
    let long = |s: &[u8]| !is_ascii(s) || s.len() > NAME.1;
    if long(&raw.name) {
        records.push((b"path".to_vec(), raw.name.clone()));
    }
    if long(&raw.linkname) {
        records.push((b"linkpath".to_vec(), raw.linkname.clone()));
    }
    if raw.uid > MAX_OCTAL_7 {
        records.push((b"uid".to_vec(), raw.uid.to_string().into_bytes()));
    }
    if raw.gid > MAX_OCTAL_7 {
        records.push((b"gid".to_vec(), raw.gid.to_string().into_bytes()));
    }
    if raw.size > MAX_OCTAL_11 {
        records.push((b"size".to_vec(), raw.size.to_string().into_bytes()));
    }
    if h.mtime_field() > MAX_OCTAL_11 {
        records.push((b"mtime".to_vec(), h.mtime.to_string().into_bytes()));
    }
    for (name, value) in &raw.xattrs {
        let key = [b"SCHILY.xattr.".as_slice(), name].concat();
        records.push((key, value.clone()));
    }
    records.sort();
    records
}

/// The PAX data for `records`, one record after another.
pub(super) fn records(records: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    records.iter().flat_map(|(k, v)| record(k, v)).collect()
}

/// One record, `"<len> <key>=<value>\n"`, where `<len>` counts the whole record
/// including its own digits.
pub(super) fn record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + decimal_digits(rest);
    // Adding the digits may add a digit (98 + 2 = 100 needs 3): settle on a fixed point.
    while rest + decimal_digits(len) != len {
        len = rest + decimal_digits(len);
    }
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
    debug_assert_eq!(out.len(), len);
    out
}

fn decimal_digits(n: usize) -> usize {
    n.to_string().len()
}

/// The name of the `x` entry for an entry named `name`: Go's
/// `path.Join(dir, "PaxHeaders.0", file)` of `path.Split(name)`, made ASCII, cut to
/// 100 bytes, with trailing slashes trimmed.
pub(super) fn header_name(name: &[u8]) -> Vec<u8> {
    let cut = name.iter().rposition(|&c| c == b'/').map_or(0, |i| i + 1);
    let (dir, file) = name.split_at(cut);
    let parts: [&[u8]; 3] = [dir, b"PaxHeaders.0", file];
    let joined: Vec<u8> = parts
        .iter()
        .filter(|part| !part.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(&b'/');
    let mut out = to_ascii(&clean(&joined));
    out.truncate(NAME.1);
    while out.ends_with(b"/") {
        out.pop();
    }
    out
}

/// Go's `path.Clean`: the shortest equivalent path, by purely lexical processing
/// (collapse slashes, drop `.` elements, resolve `..` against earlier elements).
pub(super) fn clean(path: &[u8]) -> Vec<u8> {
    if path.is_empty() {
        return b".".to_vec();
    }
    let rooted = path[0] == b'/';
    let mut out = Vec::with_capacity(path.len());
    // `out[..floor]` is never taken back by `..`: the root, or leading `..` elements.
    let mut floor = 0;
    if rooted {
        out.push(b'/');
        floor = 1;
    }
    for element in path.split(|&c| c == b'/') {
        match element {
            b"" | b"." => {}
            b".." => {
                if out.len() > floor {
                    let start = out[floor..].iter().rposition(|&c| c == b'/');
                    out.truncate(start.map_or(floor, |i| floor + i));
                } else if !rooted {
                    if !out.is_empty() {
                        out.push(b'/');
                    }
                    out.extend_from_slice(b"..");
                    floor = out.len();
                }
            }
            _ => {
                if out.len() > usize::from(rooted) {
                    out.push(b'/');
                }
                out.extend_from_slice(element);
            }
        }
    }
    if out.is_empty() {
        out.push(b'.');
    }
    out
}
