//! The stat cache: what a walk learned about each object of a rootfs, named by the
//! object's state, kept in the bundle so the next repack need not learn it again.
//!
//! For each object the cache keeps a [fingerprint](fingerprint::object) of its path
//! and status (kind, inode, size, mode, owner, link count, device numbers, mtime,
//! ctime), then what is known of that state:
//!
//! - whether it **agrees** with the bundle's manifest, the one whose text has the
//!   fingerprint named on the cache's last line: every keyword umoci compares is the
//!   manifest's. A later walk that finds the object in the same state, comparing with
//!   the same manifest, need not read its attributes, its link target or its digest,
//!   nor build and compare its keywords: it is unchanged.
//! - a regular file's **SHA-256**, reused whatever the manifest says.
//!
//! Nothing about an object can change without its ctime changing. The kernel stamps
//! ctime from a coarse clock, though: a change in the same tick as the one that set the
//! recorded ctime would leave it unchanged. An object is therefore only recorded when
//! its ctime is older than a time taken before the walk began by more than the racy
//! window the host passes (the "racy" case git also guards against). A missing, stale
//! or corrupt cache only costs the work it would have saved; it never changes a result.
//!
//! Text format: a first line `repack-statcache 2`; one line per object,
//! `<fingerprint> <=|-> [<sha256>]` (32 and 64 lowercase hex digits; `=` when it agrees
//! with the manifest, `-` when not); a last line `manifest <fingerprint>`.

pub mod cached;
pub mod fingerprint;

use crate::bytes;

pub use cached::{Cached, manifest_and_cache};
pub use fingerprint::Fingerprint;

/// The first line of a cache file.
pub const MAGIC: &str = "repack-statcache 2";

/// The label of the last line, naming the manifest.
const MANIFEST: &str = "manifest ";

/// No digest (in [`Record::digest`]).
const NO_DIGEST: u32 = u32::MAX;

/// One object's line: its fingerprint, whether it agrees, and where its digest is.
#[derive(Debug, Clone, Copy)]
struct Record {
    fingerprint: Fingerprint,
    /// Index into [`StatCache::digests`], or [`NO_DIGEST`].
    digest: u32,
    agrees: bool,
}

/// What the cache knows of one object state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// It agrees with the manifest the cache names.
    pub agrees: bool,
    /// Its SHA-256 (regular files).
    pub digest: Option<[u8; 32]>,
}

/// A parsed cache: records sorted by fingerprint, looked up by binary search (one
/// allocation for all records where a map costs one per node), and the digests apart
/// (most objects of a tree are no regular files, and have none).
#[derive(Debug, Default, Clone)]
pub struct StatCache {
    records: Vec<Record>,
    digests: Vec<[u8; 32]>,
    /// The fingerprint of the manifest the records agree with.
    manifest: Option<Fingerprint>,
}

/// The value of each hex digit byte (lowercase only), `0xff` for any other byte.
const NIBBLE: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Exactly `N` bytes from the hex digits of `text`.
fn parse_hex<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let mut bad = 0;
    for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (hi, lo) = (NIBBLE[usize::from(pair[0])], NIBBLE[usize::from(pair[1])]);
        bad |= hi | lo;
        *o = hi << 4 | (lo & 15);
    }
    (bad & 0xf0 == 0).then_some(out)
}

fn parse_fingerprint(text: &[u8]) -> Option<Fingerprint> {
    let bytes: [u8; 16] = parse_hex(text)?;
    let (a, b) = bytes.split_at(8);
    Some([
        u64::from_be_bytes(a.try_into().ok()?),
        u64::from_be_bytes(b.try_into().ok()?),
    ])
}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Write the hex digits of `bytes` at the start of `out`.
fn hex_into(out: &mut [u8], bytes: &[u8]) {
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 15)];
    }
}

/// Write the 32 hex digits of `f` at the start of `out`.
fn fingerprint_into(out: &mut [u8], f: &Fingerprint) {
    hex_into(&mut out[..16], &f[0].to_be_bytes());
    hex_into(&mut out[16..32], &f[1].to_be_bytes());
}

/// Append one object's line (made whole on the stack, then copied once).
fn push_line(out: &mut String, f: &Fingerprint, agrees: bool, digest: Option<&[u8; 32]>) {
    let mut line = [0u8; 100];
    fingerprint_into(&mut line, f);
    line[32] = b' ';
    line[33] = if agrees { b'=' } else { b'-' };
    let len = match digest {
        Some(d) => {
            line[34] = b' ';
            hex_into(&mut line[35..99], d);
            99
        }
        None => 34,
    };
    line[len] = b'\n';
    out.push_str(std::str::from_utf8(&line[..=len]).expect("ASCII"));
}

/// The last line, naming the manifest the records agree with.
fn push_trailer(out: &mut String, manifest: &Fingerprint) {
    let mut hex = [0u8; 32];
    fingerprint_into(&mut hex, manifest);
    out.push_str(MANIFEST);
    out.push_str(std::str::from_utf8(&hex).expect("ASCII"));
    out.push('\n');
}

impl StatCache {
    /// Parse cache text; anything malformed is a one-line reason (the caller then
    /// works without a cache).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bytes = text.as_bytes();
        let Some(body) = bytes
            .strip_prefix(MAGIC.as_bytes())
            .and_then(|rest| rest.strip_prefix(b"\n"))
        else {
            return Err("not a repack stat cache of this version (unknown first line)".into());
        };
        let mut cache = StatCache::default();
        // One allocation of the right size: a cache of millions of lines would
        // otherwise pass through doublings that hold up to twice the list. No line is
        // shorter than 35 bytes, so a corrupt text of newlines reserves no more than a
        // well-formed one of its size.
        let lines = bytes::count(body, b'\n').min(body.len() / 35 + 1);
        cache.records.reserve_exact(lines);
        // Lines have fixed widths: `<32 hex> <flag>` and an optional ` <64 hex>`, so
        // they are read in place, without searching for their ends.
        let ends = |line: &[u8], at: usize| matches!(line.get(at), Some(b'\n') | None);
        let mut rest = body;
        let mut number = 1;
        while !rest.is_empty() {
            number += 1;
            let bad = || format!("line {number}: malformed");
            if cache.manifest.is_some() {
                return Err(format!("line {number}: after the manifest line"));
            }
            if let Some(tail) = rest.strip_prefix(MANIFEST.as_bytes()) {
                let fingerprint = tail.get(..32).and_then(parse_fingerprint);
                if fingerprint.is_none() || !ends(tail, 32) {
                    return Err(bad());
                }
                cache.manifest = fingerprint;
                rest = tail.get(33..).unwrap_or_default();
                continue;
            }
            let fingerprint = rest.get(..32).and_then(parse_fingerprint).ok_or_else(bad)?;
            let agrees = match rest.get(32..34) {
                Some(b" =") => true,
                Some(b" -") => false,
                _ => return Err(bad()),
            };
            let (digest, length) = if ends(rest, 34) {
                (NO_DIGEST, 35)
            } else if rest.get(34) == Some(&b' ') && ends(rest, 99) {
                let hex = rest.get(35..99).and_then(parse_hex).ok_or_else(bad)?;
                cache.digests.push(hex);
                let index = u32::try_from(cache.digests.len() - 1).map_err(|_| bad())?;
                (index, 100)
            } else {
                return Err(bad());
            };
            cache.records.push(Record {
                fingerprint,
                digest,
                agrees,
            });
            rest = rest.get(length..).unwrap_or_default();
        }
        // A later line for the same state wins: reversed, a stable sort puts it first
        // of its run, where dedup keeps it.
        cache.records.reverse();
        cache.records.sort_by_key(|r| r.fingerprint);
        cache
            .records
            .dedup_by(|later, first| later.fingerprint == first.fingerprint);
        Ok(cache)
    }

    /// The fingerprint of the manifest the cache's records agree with.
    pub fn manifest(&self) -> Option<Fingerprint> {
        self.manifest
    }

    /// What is known of the object state `fingerprint`.
    pub fn get(&self, fingerprint: &Fingerprint) -> Option<Known> {
        let i = self
            .records
            .binary_search_by(|r| r.fingerprint.cmp(fingerprint))
            .ok()?;
        let r = self.records[i];
        Some(Known {
            agrees: r.agrees,
            digest: (r.digest != NO_DIGEST).then(|| self.digests[r.digest as usize]),
        })
    }
}

#[cfg(test)]
mod tests;
