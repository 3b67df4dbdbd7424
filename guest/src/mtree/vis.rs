//! The `vis` encoding of names and link targets in mtree manifests.
//!
//! Writing follows BSD `strvis` with the white, octal and glob flags, byte by byte: every
//! printable ASCII byte stands for itself except the backslash (written `\\`) and the glob
//! and comment characters `*`, `?`, `[`, `#`; every other byte (space, controls, DEL,
//! anything at or above 0x80) is written as a three-digit octal escape `\ooo`. The output
//! is therefore plain ASCII without whitespace, and never contains UTF-8.
//!
//! Reading accepts the whole `strunvis` escape vocabulary, so manifests written by other
//! tools decode too.

use thiserror::Error;

/// A `vis`-encoded string that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UnvisError {
    /// A backslash at the very end of the input.
    #[error("dangling backslash at the end of {0:?}")]
    Dangling(String),
    /// An escape sequence `strunvis` does not know.
    #[error("unknown escape \\{1} in {0:?}")]
    Unknown(String, char),
}

/// Whether `byte` is written as itself.
fn is_literal(byte: u8) -> bool {
    byte.is_ascii_graphic() && !matches!(byte, b'\\' | b'*' | b'?' | b'[' | b'#')
}

/// Encode raw bytes into `out`.
pub fn encode_into(raw: &[u8], out: &mut String) {
    for &byte in raw {
        if is_literal(byte) {
            out.push(byte as char);
        } else if byte == b'\\' {
            out.push_str("\\\\");
        } else {
            out.push('\\');
            out.push((b'0' + (byte >> 6)) as char);
            out.push((b'0' + ((byte >> 3) & 7)) as char);
            out.push((b'0' + (byte & 7)) as char);
        }
    }
}

/// Encode raw bytes.
pub fn encode(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    encode_into(raw, &mut out);
    out
}

/// Decode a `vis`-encoded string back into raw bytes.
pub fn decode(text: &str) -> Result<Vec<u8>, UnvisError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let err_text = || text.to_owned();
    while i < bytes.len() {
        let byte = bytes[i];
        i += 1;
        if byte != b'\\' {
            out.push(byte);
            continue;
        }
        let Some(&esc) = bytes.get(i) else {
            return Err(UnvisError::Dangling(err_text()));
        };
        i += 1;
        match esc {
            b'0'..=b'7' => {
                // One to three octal digits.
                let mut value = u32::from(esc - b'0');
                let mut digits = 1;
                while digits < 3 {
                    match bytes.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            i += 1;
                            digits += 1;
                        }
                        _ => break,
                    }
                }
                out.push(value as u8);
            }
            b'\\' => out.push(b'\\'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'b' => out.push(0x08),
            b'a' => out.push(0x07),
            b'v' => out.push(0x0b),
            b'f' => out.push(0x0c),
            b's' => out.push(b' '),
            b'E' => out.push(0x1b),
            // Hidden marker and escaped newline: both stand for nothing.
            b'$' | b'\n' => {}
            b'M' => {
                // \M-c (meta) or \M^c (meta control).
                let (Some(&kind), Some(&c)) = (bytes.get(i), bytes.get(i + 1)) else {
                    return Err(UnvisError::Dangling(err_text()));
                };
                i += 2;
                match kind {
                    b'-' => out.push(c | 0x80),
                    b'^' => out.push(control(c) | 0x80),
                    _ => return Err(UnvisError::Unknown(err_text(), 'M')),
                }
            }
            b'^' => {
                let Some(&c) = bytes.get(i) else {
                    return Err(UnvisError::Dangling(err_text()));
                };
                i += 1;
                out.push(control(c));
            }
            other => return Err(UnvisError::Unknown(err_text(), other as char)),
        }
    }
    Ok(out)
}

/// The control character `^c` stands for (`^?` is DEL).
fn control(c: u8) -> u8 {
    if c == b'?' { 0x7f } else { c & 0x1f }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_umoci() {
        // Expected values are those umoci 0.4.7 wrote for the same names.
        assert_eq!(encode(b"a b"), "a\\040b");
        assert_eq!(encode(b"back\\slash"), "back\\\\slash");
        assert_eq!(encode(b"eq=sign"), "eq=sign");
        assert_eq!(encode(b"glob*?[#"), "glob\\052\\077\\133\\043");
        assert_eq!(encode(b"nl\nline"), "nl\\012line");
        assert_eq!(encode(b"tab\tc"), "tab\\011c");
        assert_eq!(encode("ütf8-ç".as_bytes()), "\\303\\274tf8-\\303\\247");
        assert_eq!(encode(b"../x y"), "../x\\040y");
        assert_eq!(encode(b"\x00\x7f\xff"), "\\000\\177\\377");
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        let encoded = encode(&all);
        assert!(encoded.bytes().all(|b| b.is_ascii_graphic()));
        assert_eq!(decode(&encoded).unwrap(), all);
    }

    #[test]
    fn decodes_other_escapes() {
        assert_eq!(decode("a\\sb\\tc\\nd").unwrap(), b"a b\tc\nd");
        assert_eq!(
            decode("\\M-a\\^A\\^?\\M^A").unwrap(),
            [0xe1, 0x01, 0x7f, 0x81]
        );
        assert_eq!(decode("x\\$y\\7z").unwrap(), b"xy\x07z");
    }

    #[test]
    fn rejects_broken_escapes() {
        assert!(matches!(decode("abc\\"), Err(UnvisError::Dangling(_))));
        assert!(matches!(decode("a\\qb"), Err(UnvisError::Unknown(_, 'q'))));
        assert!(matches!(decode("a\\M"), Err(UnvisError::Dangling(_))));
    }
}
