//! Fingerprints: 128-bit hashes naming one state of an object (its path and status)
//! and one manifest text, in the stat cache.
//!
//! Not cryptographic, and need not be: the cache only says what its own bundle looked
//! like, and whoever can write the bundle can change it outright. What matters is that
//! two different states almost never share a fingerprint by accident (two independent
//! 64-bit lanes: about 2^-128 a pair) and that the value never changes between
//! versions; a new function means a new cache format number.
//!
//! Bytes are taken eight at a time, little-endian, so a fingerprint costs a few
//! instructions a word. Text handed over in pieces gets the fingerprint it would get
//! whole.

use crate::tree::{Kind, Metadata};

/// Multipliers of the two lanes (odd, with well-spread bits).
const M: [u64; 2] = [0x9e37_79b9_7f4a_7c15, 0xc2b2_ae3d_27d4_eb4f];
/// Starting values of the two lanes.
const SEED: [u64; 2] = [0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344];

/// A 128-bit fingerprint.
pub type Fingerprint = [u64; 2];

/// A fingerprint being taken.
#[derive(Debug, Clone)]
pub struct Fingerprinter {
    lanes: [u64; 2],
    /// Bytes of a word not yet complete.
    carry: [u8; 8],
    carried: usize,
    len: u64,
}

impl Default for Fingerprinter {
    fn default() -> Self {
        Fingerprinter {
            lanes: SEED,
            carry: [0; 8],
            carried: 0,
            len: 0,
        }
    }
}

impl Fingerprinter {
    /// Start a fingerprint.
    pub fn new() -> Self {
        Self::default()
    }

    fn absorb(&mut self, w: u64) {
        self.lanes[0] = (self.lanes[0].rotate_left(23) ^ w).wrapping_mul(M[0]);
        self.lanes[1] = (self.lanes[1].rotate_left(41) ^ w.rotate_left(32)).wrapping_mul(M[1]);
    }

    /// Take in `bytes`.
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.len = self.len.wrapping_add(bytes.len() as u64);
        if self.carried > 0 {
            let take = (8 - self.carried).min(bytes.len());
            self.carry[self.carried..self.carried + take].copy_from_slice(&bytes[..take]);
            self.carried += take;
            bytes = &bytes[take..];
            if self.carried < 8 {
                return;
            }
            self.absorb(u64::from_le_bytes(self.carry));
            self.carried = 0;
        }
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.absorb(u64::from_le_bytes(w.try_into().expect("eight bytes")));
        }
        let rest = words.remainder();
        self.carry[..rest.len()].copy_from_slice(rest);
        self.carried = rest.len();
    }

    /// The fingerprint of everything taken in.
    pub fn finish(mut self) -> Fingerprint {
        if self.carried > 0 {
            let mut last = [0u8; 8];
            last[..self.carried].copy_from_slice(&self.carry[..self.carried]);
            self.absorb(u64::from_le_bytes(last));
        }
        let len = self.len;
        self.absorb(len);
        self.lanes.map(mix)
    }
}

/// MurmurHash3's 64-bit finalizer: every input bit reaches every output bit.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The fingerprint of a text (a manifest).
pub fn text(text: &str) -> Fingerprint {
    let mut f = Fingerprinter::new();
    f.update(text.as_bytes());
    f.finish()
}

/// The fingerprint of the object at `path` in the state `meta` describes: its path,
/// kind, inode, size, mode, owner, link count, device numbers, mtime and ctime.
pub fn object(path: &[u8], meta: &Metadata) -> Fingerprint {
    // Whole words only: the path's length first, its last word padded with zeros.
    let mut f = Fingerprinter::new();
    f.absorb(path.len() as u64);
    let mut words = path.chunks_exact(8);
    for w in &mut words {
        f.absorb(u64::from_le_bytes(w.try_into().expect("eight bytes")));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        f.absorb(u64::from_le_bytes(last));
    }
    let kind = match meta.kind {
        Kind::Regular => 1,
        Kind::Directory => 2,
        Kind::Symlink => 3,
        Kind::CharDevice => 4,
        Kind::BlockDevice => 5,
        Kind::Fifo => 6,
        Kind::Socket => 7,
    };
    for n in [
        kind,
        meta.ino,
        meta.size,
        u64::from(meta.mode),
        u64::from(meta.uid),
        u64::from(meta.gid),
        meta.nlink,
        u64::from(meta.rdev_major),
        u64::from(meta.rdev_minor),
        meta.mtime_sec as u64,
        u64::from(meta.mtime_nsec),
        meta.ctime_sec as u64,
        u64::from(meta.ctime_nsec),
    ] {
        f.absorb(n);
    }
    f.lanes.map(mix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::mem::meta;

    #[test]
    fn text_in_pieces_has_the_fingerprint_of_the_whole() {
        let whole: String = (0..200)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let expected = text(&whole);
        for cut in [0, 1, 3, 7, 8, 9, 15, 16, 17, 199, 200] {
            for second in [0, 1, 5, 8, 13] {
                let b = (cut + second).min(whole.len());
                let mut f = Fingerprinter::new();
                f.update(&whole.as_bytes()[..cut]);
                f.update(&whole.as_bytes()[cut..b]);
                f.update(&whole.as_bytes()[b..]);
                assert_eq!(f.finish(), expected, "cut at {cut} and {b}");
            }
        }
    }

    #[test]
    fn values_are_fixed() {
        // The cache format depends on these exact values.
        assert_eq!(text(""), text(""));
        assert_ne!(text(""), text("\0"));
        assert_ne!(text("a"), text("a\0"));
        assert_eq!(
            text("repack"),
            [0x2734_9310_b75e_96d2, 0xde1d_f2a1_5d58_b1dc]
        );
        assert_eq!(
            object(b"etc/passwd", &meta(Kind::Regular, 0o644)),
            [0x7ea7_952c_1164_878c, 0xff63_d395_e591_234c]
        );
    }

    #[test]
    fn every_field_of_the_state_counts() {
        let base = meta(Kind::Regular, 0o644);
        let fp = object(b"a/b", &base);
        assert_eq!(fp, object(b"a/b", &base));
        assert_ne!(fp, object(b"a/c", &base));
        assert_ne!(fp, object(b"a/b\0", &base));
        let changes: [fn(&mut Metadata); 12] = [
            |m| m.kind = Kind::Symlink,
            |m| m.ino += 1,
            |m| m.size += 1,
            |m| m.mode ^= 1,
            |m| m.uid += 1,
            |m| m.gid += 1,
            |m| m.nlink += 1,
            |m| m.rdev_minor += 1,
            |m| m.mtime_sec += 1,
            |m| m.mtime_nsec += 1,
            |m| m.ctime_sec += 1,
            |m| m.ctime_nsec += 1,
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut m = base;
            change(&mut m);
            assert_ne!(object(b"a/b", &m), fp, "change {i}");
        }
    }
}
