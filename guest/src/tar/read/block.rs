//! One header block as Go's `archive/tar` reads it: checksum, format, numeric fields
//! (octal or base-256) and the name with its USTAR or star prefix.

use super::super::BLOCK;
use super::super::fields::*;

/// A raw header block.
pub type Block = [u8; BLOCK];

/// Which header layout a block uses (by its magic, version and trailer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Unix V7: no magic, no owner names, no prefix.
    V7,
    /// POSIX USTAR (also PAX): magic `ustar\0`, a 155-byte prefix.
    Ustar,
    /// Schily's star: USTAR magic and a `tar\0` trailer, a 131-byte prefix.
    Star,
    /// GNU: magic `ustar ` and version ` \0`; atime, ctime and the old sparse map
    /// where USTAR has its prefix.
    Gnu,
}

/// The fields Go reads from every header block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    pub format: Format,
    pub typeflag: u8,
    /// The name, its prefix joined on when the format has one.
    pub name: Vec<u8>,
    pub linkname: Vec<u8>,
    pub mode: i64,
    pub uid: i64,
    pub gid: i64,
    /// The data size the block states (for an old-GNU sparse file: the stored bytes).
    pub size: i64,
    pub mtime: i64,
    pub devmajor: i64,
    pub devminor: i64,
}

const STAR_PREFIX: Field = (345, 131);
const STAR_TRAILER: Field = (508, 4);
const GNU_ATIME: Field = (345, 12);
const GNU_CTIME: Field = (357, 12);

pub fn field(block: &[u8], (at, len): Field) -> &[u8] {
    &block[at..at + len]
}

/// Go's `parseString`: the bytes up to the first NUL.
pub fn string(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |i| &b[..i])
}

/// Go's `parseOctal`: octal digits between leading and trailing spaces and NULs (the
/// digits themselves end at a NUL); nothing at all is 0.
pub fn octal(b: &[u8]) -> Option<i64> {
    let trim = |c: &u8| *c == b' ' || *c == 0;
    let start = b.iter().position(|c| !trim(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !trim(c)).map_or(start, |i| i + 1);
    let digits = string(&b[start..end]);
    if digits.is_empty() {
        return Some(0);
    }
    let mut value: u64 = 0;
    for &c in digits {
        if !(b'0'..=b'7').contains(&c) {
            return None;
        }
        value = value.checked_mul(8)?.checked_add(u64::from(c - b'0'))?;
    }
    // Go parses as uint64 and converts: fields are too short to reach the sign bit.
    Some(value as i64)
}

/// Go's `parseNumeric`: base-256 (two's complement, big-endian) when the first byte
/// has its top bit set, octal otherwise.
pub fn numeric(b: &[u8]) -> Option<i64> {
    let Some(&first) = b.first() else {
        return Some(0);
    };
    if first & 0x80 == 0 {
        return octal(b);
    }
    let inv: u8 = if first & 0x40 != 0 { 0xff } else { 0 };
    let mut x: u64 = 0;
    for (i, &c) in b.iter().enumerate() {
        let mut c = c ^ inv;
        if i == 0 {
            c &= 0x7f;
        }
        if x >> 56 > 0 {
            return None;
        }
        x = (x << 8) | u64::from(c);
    }
    if x >> 63 > 0 {
        return None;
    }
    let x = x as i64;
    Some(if inv == 0xff { !x } else { x })
}

/// The block's format, or `None` when its checksum is wrong (Go's `getFormat`).
pub fn format(block: &Block) -> Option<Format> {
    let stored = octal(field(block, CHKSUM))?;
    let (unsigned, signed) = checksums(block);
    if stored != unsigned && stored != signed {
        return None;
    }
    let magic = field(block, MAGIC);
    Some(
        if magic == b"ustar\0" && field(block, STAR_TRAILER) == b"tar\0" {
            Format::Star
        } else if magic == b"ustar\0" {
            Format::Ustar
        } else if magic == b"ustar " && field(block, VERSION) == b" \0" {
            Format::Gnu
        } else {
            Format::V7
        },
    )
}

/// The block's sum with the checksum field taken as spaces, bytes read unsigned and
/// signed (some old writers summed signed bytes).
fn checksums(block: &Block) -> (i64, i64) {
    let (at, len) = CHKSUM;
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &c) in block.iter().enumerate() {
        let c = if (at..at + len).contains(&i) { b' ' } else { c };
        unsigned += i64::from(c);
        signed += i64::from(c as i8);
    }
    (unsigned, signed)
}

/// Everything Go reads from a block whose checksum is right (Go's `readHeader`), or
/// the name of the first field that does not parse.
pub fn parse(block: &Block, format: Format) -> Result<Fields, &'static str> {
    let num = |f: Field, what: &'static str| numeric(field(block, f)).ok_or(what);
    let mut fields = Fields {
        format,
        typeflag: block[TYPEFLAG],
        name: string(field(block, NAME)).to_vec(),
        linkname: string(field(block, LINKNAME)).to_vec(),
        size: num(SIZE, "size")?,
        mode: num(MODE, "mode")?,
        uid: num(UID, "uid")?,
        gid: num(GID, "gid")?,
        mtime: num(MTIME, "mtime")?,
        devmajor: 0,
        devminor: 0,
    };
    if format == Format::V7 {
        return Ok(fields);
    }
    fields.devmajor = num(DEVMAJOR, "devmajor")?;
    fields.devminor = num(DEVMINOR, "devminor")?;
    let prefix: &[u8] = match format {
        Format::Ustar => string(field(block, PREFIX)),
        Format::Star => string(field(block, STAR_PREFIX)),
        Format::Gnu => gnu_prefix(block),
        Format::V7 => b"",
    };
    if !prefix.is_empty() {
        fields.name = [prefix, b"/", &fields.name].concat();
    }
    Ok(fields)
}

/// GNU headers have no prefix, but Go before 1.8 wrote one there; Go still reads it as
/// a prefix when the atime or ctime it would otherwise hold does not parse and it is
/// ASCII.
fn gnu_prefix(block: &Block) -> &[u8] {
    let times_parse = [GNU_ATIME, GNU_CTIME].into_iter().all(|f| {
        let b = field(block, f);
        b[0] == 0 || numeric(b).is_some()
    });
    let prefix = string(field(block, PREFIX));
    if times_parse || !prefix.is_ascii() {
        b""
    } else {
        prefix
    }
}
