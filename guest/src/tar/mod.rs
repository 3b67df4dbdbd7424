//! Tar archives as Go's `archive/tar` writes and reads them (the layers umoci makes and
//! reads).
//!
//! [`encode_header`] turns one [`Header`] into its header block(s): a plain USTAR block
//! when every field fits one, otherwise a PAX extended header (typeflag `x`) followed by
//! the USTAR block. The caller writes the entry's data after the header,
//! then [`padding`] zero bytes, and ends the archive with [`END_OF_ARCHIVE`].
//! [`read`] reads archives (any layer: USTAR, PAX, GNU, sparse files).

mod fields;
mod pax;
pub mod read;

use fields::{
    CHKSUM, DEVMAJOR, DEVMINOR, Field, GID, LINKNAME, MAGIC, MODE, MTIME, NAME, PREFIX, SIZE,
    TYPEFLAG, UID, VERSION,
};

/// The size of one tar block in bytes.
pub const BLOCK: usize = 512;

/// The end-of-archive marker: exactly two zero blocks (no padding to a 10240-byte record).
pub const END_OF_ARCHIVE: [u8; 1024] = [0; 1024];

/// The type of one archive entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryType {
    /// A regular file (typeflag `0`).
    Regular,
    /// A hard link to an earlier entry (typeflag `1`).
    Hardlink,
    /// A symbolic link (typeflag `2`).
    Symlink,
    /// A character device (typeflag `3`).
    CharDevice,
    /// A block device (typeflag `4`).
    BlockDevice,
    /// A directory (typeflag `5`).
    Directory,
    /// A named pipe (typeflag `6`).
    Fifo,
}

impl EntryType {
    /// The typeflag byte that stands for this type in a header block.
    pub fn typeflag(self) -> u8 {
        match self {
            EntryType::Regular => b'0',
            EntryType::Hardlink => b'1',
            EntryType::Symlink => b'2',
            EntryType::CharDevice => b'3',
            EntryType::BlockDevice => b'4',
            EntryType::Directory => b'5',
            EntryType::Fifo => b'6',
        }
    }
}

/// Everything one archive entry says, before encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The name exactly as it goes into the archive: the caller already adds a trailing
    /// `/` for directories, and the root is `.`.
    pub name: Vec<u8>,
    /// What kind of entry this is.
    pub entry_type: EntryType,
    /// Permission bits plus setuid, setgid and sticky; anything above `0o7777` is ignored.
    pub mode: u32,
    /// The owner's user id.
    pub uid: u64,
    /// The owner's group id.
    pub gid: u64,
    /// How many data bytes follow the header (0 for anything but a regular file).
    pub size: u64,
    /// Modification time in whole seconds since the epoch; may be negative or huge.
    pub mtime: i64,
    /// The target of a symlink, or the name of a hard link's target; empty otherwise.
    pub linkname: Vec<u8>,
    /// The device's major number (0 for anything but a device).
    pub devmajor: u32,
    /// The device's minor number (0 for anything but a device).
    pub devminor: u32,
    /// Extended attributes as raw name and value; each becomes a PAX record
    /// `SCHILY.xattr.<name>`.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Header {
    /// An OCI whiteout entry named `name`: an empty regular file with mode 0, owner 0:0,
    /// mtime 0 and no xattrs.
    pub fn whiteout(name: Vec<u8>) -> Header {
        Header {
            name,
            entry_type: EntryType::Regular,
            mode: 0,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 0,
            linkname: Vec::new(),
            devmajor: 0,
            devminor: 0,
            xattrs: Vec::new(),
        }
    }
}

/// Why a header cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TarError {
    /// The entry name has a NUL byte.
    #[error("entry name {0:?} contains a NUL byte")]
    NulInName(String),
    /// The link target has a NUL byte.
    #[error("link target {0:?} contains a NUL byte")]
    NulInLinkname(String),
    /// A regular file, device or FIFO has a name ending in `/`.
    #[error("entry name {0:?} ends in '/' but the entry is not a directory or link")]
    TrailingSlash(String),
    /// An xattr name has a `=`, which would end the PAX record key early.
    #[error("xattr name {0:?} contains '='")]
    EqualsInXattrName(String),
    /// An xattr name has a NUL byte.
    #[error("xattr name {0:?} contains a NUL byte")]
    NulInXattrName(String),
    /// The same xattr name is given twice.
    #[error("xattr name {0:?} is given twice")]
    DuplicateXattr(String),
    /// A device number does not fit in 7 octal digits (Go would fall back to GNU format).
    #[error("device number {0} does not fit in a USTAR or PAX header")]
    DeviceNumberTooLarge(u32),
    /// The PAX extended header data would be larger than the 1 MiB Go allows.
    #[error("PAX extended header of {0} bytes is larger than 1 MiB")]
    PaxTooLarge(usize),
}

/// Number of zero bytes that pad `size` data bytes to a 512-byte boundary.
pub fn padding(size: u64) -> usize {
    let rest = (size % BLOCK as u64) as usize;
    if rest == 0 { 0 } else { BLOCK - rest }
}

/// Append the header block(s) of `h` to `out`: a PAX extended header (typeflag `x`)
/// with its data when needed, then the USTAR block.
///
/// Nothing is appended when an error is returned.
pub fn encode_header(h: &Header, out: &mut Vec<u8>) -> Result<(), TarError> {
    check(h)?;
    let h = &Normal::of(h);
    if let Some((prefix, suffix)) = ustar_split(h) {
        let mut block = main_block(h, suffix, &h.raw.linkname);
        block.put_str(PREFIX, prefix);
        out.extend_from_slice(&block.finish());
        return Ok(());
    }

    let data = pax::records(&pax::needed(h));
    if data.len() > pax::MAX_DATA {
        return Err(TarError::PaxTooLarge(data.len()));
    }
    let mut pax_block = Block::new(b'x');
    pax_block.put_str(NAME, &pax::header_name(&h.raw.name));
    pax_block.put_octal(MODE, 0);
    pax_block.put_octal(UID, 0);
    pax_block.put_octal(GID, 0);
    pax_block.put_octal(SIZE, data.len() as u64);
    pax_block.put_octal(MTIME, 0);
    out.extend_from_slice(&pax_block.finish());
    out.extend_from_slice(&data);
    out.resize(out.len() + padding(data.len() as u64), 0);

    let block = main_block(h, &to_ascii(&h.raw.name), &to_ascii(&h.raw.linkname));
    out.extend_from_slice(&block.finish());
    Ok(())
}

/// The largest value of a 7-digit octal field (mode, uid, gid, devmajor, devminor).
const MAX_OCTAL_7: u64 = 0o7777777;
/// The largest value of an 11-digit octal field (size, mtime).
const MAX_OCTAL_11: u64 = 0o77777777777;
/// Go's zero `time.Time` (1 January of year 1) in Unix seconds: Go writes it as mtime 0.
const GO_ZERO_TIME: i64 = -62_135_596_800;

/// A header with its mode masked and Go's zero time taken as the epoch.
#[derive(Debug)]
struct Normal<'a> {
    raw: &'a Header,
    mode: u64,
    mtime: i64,
}

impl<'a> Normal<'a> {
    fn of(raw: &'a Header) -> Self {
        let mtime = if raw.mtime == GO_ZERO_TIME {
            0
        } else {
            raw.mtime
        };
        Normal {
            raw,
            mode: u64::from(raw.mode & 0o7777),
            mtime,
        }
    }

    /// The mtime as an unsigned field value; a negative one becomes a value no field fits.
    fn mtime_field(&self) -> u64 {
        u64::try_from(self.mtime).unwrap_or(u64::MAX)
    }
}

/// Reject what neither USTAR nor PAX can say, as Go's Writer does.
fn check(h: &Header) -> Result<(), TarError> {
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if h.name.contains(&0) {
        return Err(TarError::NulInName(lossy(&h.name)));
    }
    if h.linkname.contains(&0) {
        return Err(TarError::NulInLinkname(lossy(&h.linkname)));
    }
    let file_like = matches!(
        h.entry_type,
        EntryType::Regular | EntryType::CharDevice | EntryType::BlockDevice | EntryType::Fifo
    );
    if file_like && h.name.ends_with(b"/") {
        return Err(TarError::TrailingSlash(lossy(&h.name)));
    }
    for dev in [h.devmajor, h.devminor] {
        if u64::from(dev) > MAX_OCTAL_7 {
            return Err(TarError::DeviceNumberTooLarge(dev));
        }
    }
    for (i, (name, _)) in h.xattrs.iter().enumerate() {
        if name.contains(&b'=') {
            return Err(TarError::EqualsInXattrName(lossy(name)));
        }
        if name.contains(&0) {
            return Err(TarError::NulInXattrName(lossy(name)));
        }
        if h.xattrs[..i].iter().any(|(earlier, _)| earlier == name) {
            return Err(TarError::DuplicateXattr(lossy(name)));
        }
    }
    Ok(())
}

/// Go's notion of ASCII: every byte below 0x80 and none NUL.
fn is_ascii(s: &[u8]) -> bool {
    s.iter().all(|&c| c != 0 && c < 0x80)
}

/// Go's best-effort ASCII: drop every byte that is NUL or 0x80 and above.
fn to_ascii(s: &[u8]) -> Vec<u8> {
    s.iter().copied().filter(|&c| c != 0 && c < 0x80).collect()
}

/// When `h` fits a plain USTAR block, the (prefix, name) pair its name is stored as.
fn ustar_split<'a>(h: &Normal<'a>) -> Option<(&'a [u8], &'a [u8])> {
    let raw = h.raw;
    let fits = is_ascii(&raw.linkname)
        && raw.linkname.len() <= NAME.1
        && raw.uid <= MAX_OCTAL_7
        && raw.gid <= MAX_OCTAL_7
        && raw.size <= MAX_OCTAL_11
        && h.mtime_field() <= MAX_OCTAL_11
        && raw.xattrs.is_empty();
    if !fits || !is_ascii(&raw.name) {
        return None;
    }
    if raw.name.len() <= NAME.1 {
        return Some((&[], &raw.name));
    }
    split_ustar_path(&raw.name)
}

/// Go's `splitUSTARPath`: split an ASCII name longer than 100 bytes at a `/` so that
/// the prefix (1..=155 bytes) and the rest (1..=100 bytes) each fit their field.
fn split_ustar_path(name: &[u8]) -> Option<(&[u8], &[u8])> {
    if name.len() <= NAME.1 || !is_ascii(name) {
        return None;
    }
    let window = if name.len() > PREFIX.1 + 1 {
        PREFIX.1 + 1
    } else if name.ends_with(b"/") {
        name.len() - 1
    } else {
        name.len()
    };
    let slash = name[..window].iter().rposition(|&c| c == b'/')?;
    let suffix_len = name.len() - slash - 1;
    if slash == 0 || suffix_len == 0 || suffix_len > NAME.1 || slash > PREFIX.1 {
        return None;
    }
    Some((&name[..slash], &name[slash + 1..]))
}

/// The entry's own block with `name` and `linkname` as given; numbers that do not fit
/// their field are written as 0 (a PAX record carries them).
fn main_block(h: &Normal, name: &[u8], linkname: &[u8]) -> Block {
    let raw = h.raw;
    let mut block = Block::new(raw.entry_type.typeflag());
    block.put_str(NAME, name);
    block.put_octal(MODE, h.mode);
    block.put_octal(UID, raw.uid);
    block.put_octal(GID, raw.gid);
    block.put_octal(SIZE, raw.size);
    block.put_octal(MTIME, h.mtime_field());
    block.put_str(LINKNAME, linkname);
    block.put_octal(DEVMAJOR, u64::from(raw.devmajor));
    block.put_octal(DEVMINOR, u64::from(raw.devminor));
    block
}

/// One header block being filled in; fields not written stay all NUL.
#[derive(Debug)]
struct Block([u8; BLOCK]);

impl Block {
    fn new(typeflag: u8) -> Self {
        let mut block = Block([0; BLOCK]);
        block.0[TYPEFLAG] = typeflag;
        block
    }

    /// Go's `formatString`: copy `s`, cut at the field's end, NUL-terminated when shorter.
    /// When cut and the field then ends in `/`, those trailing slashes become a NUL.
    fn put_str(&mut self, (at, len): Field, s: &[u8]) {
        let field = &mut self.0[at..at + len];
        let n = s.len().min(len);
        field[..n].copy_from_slice(&s[..n]);
        if s.len() > len && field[len - 1] == b'/' {
            let kept = field.iter().rposition(|&c| c != b'/').map_or(0, |i| i + 1);
            field[kept] = 0;
        }
    }

    /// Go's `formatOctal`: zero-padded octal in all but the last byte, then NUL; a value
    /// too large for the field is written as 0.
    fn put_octal(&mut self, (at, len): Field, value: u64) {
        let digits = len - 1;
        let mut rest = if value < 1 << (3 * digits) { value } else { 0 };
        for byte in self.0[at..at + digits].iter_mut().rev() {
            *byte = b'0' + (rest & 7) as u8;
            rest >>= 3;
        }
        self.0[at + digits] = 0;
    }

    /// Stamp the USTAR magic and version, then the checksum; return the finished block.
    fn finish(mut self) -> [u8; BLOCK] {
        self.0[MAGIC.0..MAGIC.0 + MAGIC.1].copy_from_slice(b"ustar\0");
        self.0[VERSION.0..VERSION.0 + VERSION.1].copy_from_slice(b"00");
        let (at, len) = CHKSUM;
        self.0[at..at + len].fill(b' ');
        let sum: u64 = self.0.iter().map(|&b| u64::from(b)).sum();
        self.put_octal((at, 7), sum);
        self.0[at + 7] = b' ';
        self.0
    }
}

#[cfg(test)]
mod tests;
