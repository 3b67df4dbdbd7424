//! Bytewise comparison of byte strings, eight bytes at a time.
//!
//! `<[u8] as Ord>::cmp` calls `memcmp`, which in the wasm build is wasi-libc's
//! byte-at-a-time loop behind a function call: comparing paths that share long
//! prefixes (every lookup and sort of a manifest's paths) then took half of a no-change
//! repack's guest time. Equal eight-byte words are skipped with one load each; only the
//! first word that differs is looked at byte by byte.

use std::cmp::Ordering;

const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The bytes of the eight-byte word `w` (little-endian) that equal `byte`, as the high
/// bit of each: exact, since no carry crosses a byte ((x & 0x7f) + 0x7f is at most
/// 0xfe).
fn matches(w: &[u8], byte: u8) -> u64 {
    let x = u64::from_le_bytes(w.try_into().expect("eight bytes")) ^ u64::from_le_bytes([byte; 8]);
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// The index of the first `byte` in `haystack`, looking at eight bytes at a time.
pub fn find(haystack: &[u8], byte: u8) -> Option<usize> {
    let mut words = haystack.chunks_exact(8);
    for (n, w) in (&mut words).enumerate() {
        let m = matches(w, byte);
        if m != 0 {
            return Some(n * 8 + (m.trailing_zeros() / 8) as usize);
        }
    }
    let done = haystack.len() - words.remainder().len();
    words
        .remainder()
        .iter()
        .position(|&b| b == byte)
        .map(|i| done + i)
}

/// How many bytes of `haystack` are `byte`, looking at eight bytes at a time.
pub fn count(haystack: &[u8], byte: u8) -> usize {
    let mut words = haystack.chunks_exact(8);
    let mut n = 0;
    for w in &mut words {
        n += matches(w, byte).count_ones() as usize;
    }
    n + words.remainder().iter().filter(|&&b| b == byte).count()
}

/// Compare `a` and `b` as `a.cmp(b)` does (bytewise, a prefix first).
pub fn cmp(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let (x, y) = (word(&a[i..i + 8]), word(&b[i..i + 8]));
        if x != y {
            break;
        }
        i += 8;
    }
    while i < n {
        if a[i] != b[i] {
            return a[i].cmp(&b[i]);
        }
        i += 1;
    }
    a.len().cmp(&b.len())
}

fn word(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(bytes);
    u64::from_ne_bytes(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_as_slices_do() {
        let words: [&[u8]; 12] = [
            b"",
            b"a",
            b"ab",
            b"abcdefgh",
            b"abcdefgh/",
            b"abcdefgh/x",
            b"abcdefgi",
            b"abcdefghijklmnopq",
            b"abcdefghijklmnopr",
            b"\xff\x00",
            b"usr/share/doc/libc6/changelog.Debian.gz",
            b"usr/share/doc/libc6/changelog.gz",
        ];
        for a in words {
            for b in words {
                assert_eq!(cmp(a, b), a.cmp(b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn finds_and_counts_as_a_byte_loop_does() {
        let mut text = Vec::new();
        for i in 0..1000u32 {
            text.push((i.wrapping_mul(2_654_435_761) >> 13) as u8);
            if i % 7 == 0 {
                text.push(b'\n');
            }
        }
        for byte in [b'\n', 0, 0x80, 0x8a, 0xff, b'a'] {
            for start in [0, 1, 5, 8, 9, 100, 990] {
                for end in [
                    start,
                    start + 1,
                    start + 7,
                    start + 8,
                    start + 17,
                    text.len(),
                ] {
                    let hay = &text[start..end.min(text.len())];
                    let naive = hay.iter().filter(|&&b| b == byte).count();
                    assert_eq!(count(hay, byte), naive, "{byte} in {start}..{end}");
                    assert_eq!(find(hay, byte), hay.iter().position(|&b| b == byte));
                }
            }
        }
        for b in 0..=255u8 {
            let run = [b; 17];
            assert_eq!(count(&run, b'\n'), if b == b'\n' { 17 } else { 0 }, "{b}");
            assert_eq!(find(&run, b), Some(0));
        }
    }
}
