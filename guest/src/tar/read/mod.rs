//! Reading layer archives as Go's `archive/tar` Reader (and so umoci) reads them.
//!
//! [`Reader::next_entry`] returns each entry with its PAX records and GNU long names
//! applied, its sparse map read, and what it is refused for checked before the caller
//! sees it; [`Reader::read_chunk`] then hands out the entry's contents as data and
//! holes. Compared with Go, a few things readers disagree on are refused instead of
//! picked one way: a PAX key given twice, two extended headers or long names for one
//! entry, and a global header between an extended header and its entry.
//!
//! - [`block`]: one header block (checksum, format, fields).
//! - [`pax`]: PAX records, walked by their declared length.
//! - [`sparse`]: GNU sparse maps (old GNU, PAX 0.0, 0.1 and 1.0).

mod block;
mod pax;
mod sparse;

use std::io::{self, Read};

use thiserror::Error;

use super::BLOCK;
use block::{Block, Format};
pub use sparse::Region;

/// What an entry is, by its typeflag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `0`, the legacy `\0` for a name without a trailing `/`, and the old-GNU sparse
    /// file `S`.
    Regular,
    /// `7`: a regular file in every reader we know of.
    Contiguous,
    /// `1`.
    Hardlink,
    /// `2`.
    Symlink,
    /// `3`.
    CharDevice,
    /// `4`.
    BlockDevice,
    /// `5`, and the legacy `\0` for a name with a trailing `/`.
    Directory,
    /// `6`.
    Fifo,
    /// Anything else (GNU's `D`, `M`, `V`, vendor types).
    Other(u8),
}

impl Kind {
    /// Types Go never gives data to, whatever their size field says.
    fn header_only(typeflag: u8) -> bool {
        matches!(typeflag, b'1'..=b'6')
    }
}

/// One archive entry with everything its headers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// The name as archived (PAX `path`, GNU long name or sparse name applied).
    pub name: Vec<u8>,
    /// The link target of a symlink or hardlink.
    pub linkname: Vec<u8>,
    pub mode: i64,
    pub uid: i64,
    pub gid: i64,
    /// Modification time: seconds and nanoseconds.
    pub mtime: (i64, u32),
    pub devmajor: i64,
    pub devminor: i64,
    /// The contents' length (a sparse file's real size, holes included).
    pub size: u64,
    /// Extended attributes from `SCHILY.xattr.*` records, in archive order (records
    /// with an empty value are skipped, as Go skips them).
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// The data regions of a sparse file; `None` for a file stored whole.
    pub sparse: Option<Vec<Region>>,
}

impl Entry {
    /// Bytes of the contents that are holes (0 unless sparse).
    pub fn holes(&self) -> u64 {
        self.sparse.as_ref().map_or(0, |regions| {
            self.size - regions.iter().map(|r| r.length).sum::<u64>()
        })
    }
}

/// A piece of an entry's contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// This many bytes were read into the buffer.
    Data(usize),
    /// This many bytes are a hole.
    Hole(u64),
    /// The contents are complete.
    End,
}

/// Why an archive could not be read.
#[derive(Debug, Error)]
pub enum ReadError {
    /// Reading the stream failed (decompression, the size limit, the host).
    #[error("{0}")]
    Io(#[from] io::Error),
    /// A block is not a header we can read.
    #[error("the header at byte {offset}: {message}")]
    Header { offset: u64, message: String },
    /// An entry's headers or contents are refused; nothing of it was applied before.
    #[error("{message}")]
    Entry { name: Vec<u8>, message: String },
}

/// Where the contents of the current entry stand.
#[derive(Debug, Default)]
struct Cursor {
    /// The entry's name, for errors.
    name: Vec<u8>,
    /// Data regions still to hand out (a file stored whole is one region).
    regions: Vec<Region>,
    next: usize,
    /// Position in the contents.
    pos: u64,
    size: u64,
}

/// A tar archive read front to back from `R`.
#[derive(Debug)]
pub struct Reader<R> {
    inner: R,
    /// Bytes consumed so far.
    offset: u64,
    /// Stored bytes of the current entry not yet consumed, and the padding after them.
    remaining: u64,
    pad: u64,
    cursor: Cursor,
    ended: bool,
}

impl<R: Read> Reader<R> {
    /// A reader at the start of an archive.
    pub fn new(inner: R) -> Self {
        Reader {
            inner,
            offset: 0,
            remaining: 0,
            pad: 0,
            cursor: Cursor::default(),
            ended: false,
        }
    }

    /// The stream being read.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The next entry, after skipping what is left of the current one; `None` at the
    /// end of the archive (two zero blocks, or the end of the stream between entries).
    pub fn next_entry(&mut self) -> Result<Option<Entry>, ReadError> {
        self.skip(self.remaining + self.pad)?;
        (self.remaining, self.pad) = (0, 0);
        self.cursor = Cursor::default();
        if self.ended {
            return Ok(None);
        }
        let mut pending = Pending::default();
        loop {
            let start = self.offset;
            let Some(block) = self.header_block()? else {
                self.ended = true;
                return Ok(None);
            };
            let header_err = |message: String| ReadError::Header {
                offset: start,
                message,
            };
            let format = block::format(&block)
                .ok_or_else(|| header_err("checksum mismatch (not a tar header)".into()))?;
            let fields = block::parse(&block, format)
                .map_err(|field| header_err(format!("malformed {field} field")))?;
            let stored = u64::try_from(fields.size)
                .map_err(|_| header_err(format!("negative size {}", fields.size)))?;
            let special = |this: &mut Self| {
                this.special(stored).map_err(|e| match e {
                    ReadError::Header { message, .. } => header_err(message),
                    other => other,
                })
            };
            match fields.typeflag {
                b'x' | b'g' => {
                    let data = special(self)?;
                    let global = fields.typeflag == b'g';
                    if pending.pax.is_some() || (global && pending.any()) {
                        let what = if global { "a global" } else { "a second" };
                        return Err(header_err(format!(
                            "{what} PAX extended header before the entry the last one is for"
                        )));
                    }
                    let records = pax::parse(&data).map_err(&header_err)?;
                    if !global {
                        pending.pax = Some(records);
                    }
                }
                b'L' | b'K' => {
                    let data = special(self)?;
                    let slot = if fields.typeflag == b'L' {
                        &mut pending.long_name
                    } else {
                        &mut pending.long_link
                    };
                    if slot.is_some() {
                        return Err(header_err("a second GNU long name for one entry".into()));
                    }
                    *slot = Some(block::string(&data).to_vec());
                }
                _ => return self.entry(&block, fields, pending).map(Some),
            }
        }
    }

    /// The next piece of the current entry's contents, data read into `buf`.
    pub fn read_chunk(&mut self, buf: &mut [u8]) -> Result<Chunk, ReadError> {
        let c = &mut self.cursor;
        while c.regions.get(c.next).is_some_and(|r| r.length == 0) {
            c.next += 1;
        }
        let Some(region) = c.regions.get(c.next).copied() else {
            if c.pos < c.size {
                let hole = c.size - c.pos;
                c.pos = c.size;
                return Ok(Chunk::Hole(hole));
            }
            if self.remaining > 0 {
                return Err(self.entry_err("the archive holds more data than its sparse map uses"));
            }
            return Ok(Chunk::End);
        };
        if c.pos < region.offset {
            let hole = region.offset - c.pos;
            c.pos = region.offset;
            return Ok(Chunk::Hole(hole));
        }
        let want = usize::try_from(region.end() - c.pos)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        if want > 0 && self.remaining == 0 {
            return Err(self.entry_err("the sparse map uses more data than the archive holds"));
        }
        let want = want.min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 && want > 0 {
            return Err(self.entry_err("the archive ends inside this entry's data"));
        }
        self.offset += n as u64;
        self.remaining -= n as u64;
        let c = &mut self.cursor;
        c.pos += n as u64;
        if c.pos == region.end() {
            c.next += 1;
        }
        Ok(Chunk::Data(n))
    }

    fn entry_err(&self, message: &str) -> ReadError {
        ReadError::Entry {
            name: self.cursor.name.clone(),
            message: message.to_owned(),
        }
    }

    /// Finish an entry from its own header block and what came before it (Go's
    /// `mergePAX`, long names, `handleRegularFile` and `handleSparseFile`).
    fn entry(
        &mut self,
        block: &Block,
        fields: block::Fields,
        pending: Pending,
    ) -> Result<Entry, ReadError> {
        let mut entry = Entry {
            kind: Kind::Other(fields.typeflag),
            name: fields.name,
            linkname: fields.linkname,
            mode: fields.mode,
            uid: fields.uid,
            gid: fields.gid,
            mtime: (fields.mtime, 0),
            devmajor: fields.devmajor,
            devminor: fields.devminor,
            size: 0,
            xattrs: Vec::new(),
            sparse: None,
        };
        let mut size = fields.size;
        let records = pending.pax.unwrap_or_default();
        let fail = |entry: &Entry, message: String| ReadError::Entry {
            name: entry.name.clone(),
            message,
        };
        merge_pax(&mut entry, &mut size, &records).map_err(|m| fail(&entry, m))?;
        if let Some(name) = pending.long_name {
            entry.name = name;
        }
        if let Some(link) = pending.long_link {
            entry.linkname = link;
        }
        let mut typeflag = fields.typeflag;
        if typeflag == 0 {
            typeflag = if entry.name.ends_with(b"/") {
                b'5'
            } else {
                b'0'
            };
        }
        let stored = if Kind::header_only(typeflag) { 0 } else { size };
        let stored =
            u64::try_from(stored).map_err(|_| fail(&entry, format!("negative size {size}")))?;
        self.remaining = stored;
        self.pad = super::padding(stored) as u64;

        let regions = if typeflag == b'S' {
            if fields.format != Format::Gnu {
                return Err(fail(
                    &entry,
                    "an old-GNU sparse entry in a non-GNU header".into(),
                ));
            }
            let (real, regions) =
                sparse::read_old_gnu(block, || self.raw_block()).map_err(|m| fail(&entry, m))?;
            size = real;
            Some(regions)
        } else {
            self.pax_sparse(&mut entry, &mut size, &records)
                .map_err(|m| fail(&entry, m))?
        };
        if let Some(regions) = regions {
            if Kind::header_only(typeflag) {
                return Err(fail(&entry, "a sparse map on an entry without data".into()));
            }
            entry.sparse = Some(sparse::validate(&regions, size).map_err(|m| fail(&entry, m))?);
        }
        entry.size = if Kind::header_only(typeflag) {
            0
        } else {
            u64::try_from(size).map_err(|_| fail(&entry, format!("negative size {size}")))?
        };
        entry.kind = match typeflag {
            b'0' | b'S' => Kind::Regular,
            b'1' => Kind::Hardlink,
            b'2' => Kind::Symlink,
            b'3' => Kind::CharDevice,
            b'4' => Kind::BlockDevice,
            b'5' => Kind::Directory,
            b'6' => Kind::Fifo,
            b'7' => Kind::Contiguous,
            other => Kind::Other(other),
        };
        self.cursor = Cursor {
            name: entry.name.clone(),
            regions: entry.sparse.clone().unwrap_or_else(|| {
                vec![Region {
                    offset: 0,
                    length: entry.size,
                }]
            }),
            next: 0,
            pos: 0,
            size: entry.size,
        };
        Ok(entry)
    }

    /// The sparse map of a PAX sparse file (reading a format 1.0 map from the data),
    /// with the name and real size it gives the entry.
    fn pax_sparse(
        &mut self,
        entry: &mut Entry,
        size: &mut i64,
        records: &pax::Records,
    ) -> Result<Option<Vec<(i64, i64)>>, String> {
        let (name, real, regions) = match sparse::from_pax(records)? {
            sparse::PaxSparse::None => return Ok(None),
            sparse::PaxSparse::Map {
                name,
                size,
                regions,
            } => (name, size, regions),
            sparse::PaxSparse::Data { name, size } => {
                let (regions, blocks) = sparse::read_map_1x0(|| {
                    if self.remaining < BLOCK as u64 {
                        return Err("the sparse map runs past the entry's data".to_owned());
                    }
                    self.remaining -= BLOCK as u64;
                    self.raw_block()
                })?;
                debug_assert!(blocks > 0);
                (name, size, regions)
            }
        };
        if let Some(name) = name {
            entry.name = name;
        }
        if let Some(real) = real {
            *size = real;
        }
        Ok(Some(regions))
    }

    /// The data of an extended header or long name (at most 1 MiB), with its padding.
    fn special(&mut self, size: u64) -> Result<Vec<u8>, ReadError> {
        if size > pax::MAX_DATA {
            return Err(ReadError::Header {
                offset: 0,
                message: format!("{size} bytes of extended header data (more than 1 MiB)"),
            });
        }
        let mut data = vec![0u8; size as usize];
        self.fill(&mut data)?;
        self.skip(super::padding(size) as u64)?;
        Ok(data)
    }

    /// A header block; `None` at the end of the archive.
    fn header_block(&mut self) -> Result<Option<Block>, ReadError> {
        let Some(block) = self.block_or_end()? else {
            return Ok(None);
        };
        if block != [0; BLOCK] {
            return Ok(Some(block));
        }
        match self.block_or_end()? {
            None => Ok(None),
            Some(b) if b == [0; BLOCK] => Ok(None),
            Some(_) => Err(ReadError::Header {
                offset: self.offset - BLOCK as u64,
                message: "a header after a single zero block".into(),
            }),
        }
    }

    /// One block, or `None` when the stream ends right here.
    fn block_or_end(&mut self) -> Result<Option<Block>, ReadError> {
        let mut block = [0u8; BLOCK];
        let mut got = 0;
        while got < BLOCK {
            let n = self.inner.read(&mut block[got..])?;
            if n == 0 {
                break;
            }
            got += n;
        }
        self.offset += got as u64;
        match got {
            0 => Ok(None),
            BLOCK => Ok(Some(block)),
            _ => Err(ReadError::Header {
                offset: self.offset - got as u64,
                message: "the archive ends inside a header block".into(),
            }),
        }
    }

    /// One block that must be there (sparse extension headers and maps).
    fn raw_block(&mut self) -> Result<Block, String> {
        let mut block = [0u8; BLOCK];
        self.fill(&mut block).map_err(|e| e.to_string())?;
        Ok(block)
    }

    fn fill(&mut self, buf: &mut [u8]) -> Result<(), ReadError> {
        let mut got = 0;
        while got < buf.len() {
            let n = self.inner.read(&mut buf[got..])?;
            if n == 0 {
                return Err(ReadError::Header {
                    offset: self.offset,
                    message: "the archive ends inside an entry".into(),
                });
            }
            got += n;
            self.offset += n as u64;
        }
        Ok(())
    }

    fn skip(&mut self, n: u64) -> Result<(), ReadError> {
        let copied = io::copy(&mut (&mut self.inner).take(n), &mut io::sink())?;
        self.offset += copied;
        if copied < n {
            return Err(ReadError::Header {
                offset: self.offset,
                message: "the archive ends inside an entry".into(),
            });
        }
        Ok(())
    }
}

/// Extended headers and long names read for the entry that follows them.
#[derive(Debug, Default)]
struct Pending {
    pax: Option<pax::Records>,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
}

impl Pending {
    fn any(&self) -> bool {
        self.pax.is_some() || self.long_name.is_some() || self.long_link.is_some()
    }
}

/// Apply PAX records to an entry as Go's `mergePAX` does: an empty value keeps the
/// header's, a malformed number or time is an error.
fn merge_pax(entry: &mut Entry, size: &mut i64, records: &pax::Records) -> Result<(), String> {
    for (key, value) in records.iter() {
        if value.is_empty() {
            continue;
        }
        let malformed = || {
            format!(
                "malformed PAX {} {:?}",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(value)
            )
        };
        let number = || pax::decimal(value).ok_or_else(malformed);
        match key {
            b"path" => entry.name = value.to_vec(),
            b"linkpath" => entry.linkname = value.to_vec(),
            b"uid" => entry.uid = number()?,
            b"gid" => entry.gid = number()?,
            b"size" => *size = number()?,
            b"mtime" => entry.mtime = pax::time(value).ok_or_else(malformed)?,
            b"atime" | b"ctime" => {
                pax::time(value).ok_or_else(malformed)?;
            }
            _ => {
                if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                    entry.xattrs.push((name.to_vec(), value.to_vec()));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
