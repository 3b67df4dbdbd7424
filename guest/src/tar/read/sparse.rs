//! Sparse files as Go's `archive/tar` reads them: GNU tar's old-GNU type `S` (a map in
//! the header and its extension blocks) and its PAX formats 0.0 and 0.1 (a map in PAX
//! records) and 1.0 (a map at the start of the data).
//!
//! A map lists the file's data regions; everything between them is a hole. The
//! archive stores only the regions' bytes, one after another.

use super::block::{Block, field, numeric};
use super::pax::{self, Records};

/// One data region of a sparse file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Where it starts in the file.
    pub offset: u64,
    /// How many bytes it holds.
    pub length: u64,
}

impl Region {
    pub fn end(&self) -> u64 {
        self.offset + self.length
    }
}

/// The sparse map and real size a PAX header describes, as Go's
/// `readGNUSparsePAXHeaders` finds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaxSparse {
    /// Not a sparse file (or a version Go does not know, read as a plain file).
    None,
    /// Format 0.0 or 0.1: the map is in the records.
    Map {
        name: Option<Vec<u8>>,
        size: Option<i64>,
        regions: Vec<(i64, i64)>,
    },
    /// Format 1.0: the map opens the data.
    Data {
        name: Option<Vec<u8>>,
        size: Option<i64>,
    },
}

/// What the `GNU.sparse.*` records of an entry say.
pub fn from_pax(records: &Records) -> Result<PaxSparse, String> {
    let get = |k: &str| records.get(k.as_bytes()).unwrap_or_default();
    let (major, minor) = (get("GNU.sparse.major"), get("GNU.sparse.minor"));
    let one_zero = match (major, minor) {
        (b"0", b"0" | b"1") => false,
        (b"1", b"0") => true,
        _ if !major.is_empty() || !minor.is_empty() => return Ok(PaxSparse::None),
        _ if !get("GNU.sparse.map").is_empty() => false,
        _ => return Ok(PaxSparse::None),
    };
    let name = Some(get("GNU.sparse.name").to_vec()).filter(|n| !n.is_empty());
    let size = match get("GNU.sparse.size") {
        b"" => get("GNU.sparse.realsize"),
        size => size,
    };
    let size = match size {
        b"" => None,
        s => Some(pax::decimal(s).ok_or("malformed GNU.sparse.size")?),
    };
    if one_zero {
        return Ok(PaxSparse::Data { name, size });
    }
    let count = pax::decimal(get("GNU.sparse.numblocks"))
        .filter(|&n| n >= 0)
        .ok_or("malformed GNU.sparse.numblocks")?;
    let map = get(std::str::from_utf8(pax::SPARSE_MAP).unwrap_or_default());
    let numbers: Vec<&[u8]> = if map.is_empty() {
        Vec::new()
    } else {
        map.split(|&c| c == b',').collect()
    };
    if numbers.len() as u64 != 2 * count as u64 {
        return Err(format!(
            "GNU.sparse.map holds {} numbers for {count} regions",
            numbers.len()
        ));
    }
    let regions = numbers
        .chunks(2)
        .map(|pair| Some((pax::decimal(pair[0])?, pax::decimal(pair[1])?)))
        .collect::<Option<Vec<_>>>()
        .ok_or("malformed GNU.sparse.map")?;
    Ok(PaxSparse::Map {
        name,
        size,
        regions,
    })
}

/// Reads a format 1.0 map: decimal numbers, one a line (the count, then offset and
/// length of each region), padded to whole blocks. `next_block` hands out the data's
/// blocks, and no more of them than the map needs; returns the regions and how many
/// blocks the map took.
pub fn read_map_1x0(
    next_block: impl FnMut() -> Result<Block, String>,
) -> Result<(Vec<(i64, i64)>, u64), String> {
    let mut lines = Lines {
        next_block,
        text: Vec::new(),
        used: 0,
        newlines: 0,
        blocks: 0,
    };
    let count = lines.number()?;
    if count < 0 {
        return Err("malformed number in the sparse map".into());
    }
    let mut regions = Vec::new();
    for _ in 0..count {
        regions.push((lines.number()?, lines.number()?));
    }
    Ok((regions, lines.blocks))
}

/// The lines of a format 1.0 map, read a block at a time.
struct Lines<F> {
    next_block: F,
    text: Vec<u8>,
    used: usize,
    /// Newlines in `text[used..]`.
    newlines: usize,
    blocks: u64,
}

impl<F: FnMut() -> Result<Block, String>> Lines<F> {
    fn number(&mut self) -> Result<i64, String> {
        while self.newlines == 0 {
            self.blocks += 1;
            if self.blocks * 512 > pax::MAX_DATA {
                return Err("the sparse map is larger than 1 MiB".to_owned());
            }
            let block = (self.next_block)()?;
            self.newlines += block.iter().filter(|&&c| c == b'\n').count();
            self.text.extend_from_slice(&block);
        }
        self.newlines -= 1;
        let rest = &self.text[self.used..];
        let end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
        let number = pax::decimal(&rest[..end]);
        self.used += end + 1;
        number.ok_or_else(|| "malformed number in the sparse map".to_owned())
    }
}

/// Where the map of an old-GNU sparse header sits: four regions of 24 bytes from
/// byte 386, then the flag saying that extension blocks follow, then the real size.
const GNU_SPARSE: usize = 386;
const GNU_EXTENDED: usize = 482;
const GNU_REAL_SIZE: (usize, usize) = (483, 12);
/// An extension block: 21 regions from byte 0, its own flag at byte 504.
const EXT_ENTRIES: usize = 21;
const EXT_EXTENDED: usize = 504;

/// The real size and regions of an old-GNU sparse header `block`; `next_block` reads
/// the extension blocks that follow it.
pub fn read_old_gnu(
    block: &Block,
    mut next_block: impl FnMut() -> Result<Block, String>,
) -> Result<(i64, Vec<(i64, i64)>), String> {
    let size = numeric(field(block, GNU_REAL_SIZE)).ok_or("malformed real size")?;
    let mut regions = Vec::new();
    let mut current = *block;
    let (mut at, mut count, mut flag) = (GNU_SPARSE, 4, GNU_EXTENDED);
    loop {
        for i in 0..count {
            let entry = &current[at + 24 * i..at + 24 * (i + 1)];
            if entry[0] == 0 {
                break;
            }
            let offset = numeric(&entry[..12]).ok_or("malformed sparse offset")?;
            let length = numeric(&entry[12..]).ok_or("malformed sparse length")?;
            regions.push((offset, length));
        }
        if current[flag] == 0 {
            return Ok((size, regions));
        }
        current = next_block()?;
        (at, count, flag) = (0, EXT_ENTRIES, EXT_EXTENDED);
    }
}

/// Check `regions` against the file's real `size` as Go (and BSD tar) do: nothing
/// negative, in order, not overlapping, inside the file.
pub fn validate(regions: &[(i64, i64)], size: i64) -> Result<Vec<Region>, String> {
    if size < 0 {
        return Err(format!("negative sparse file size {size}"));
    }
    let mut out: Vec<Region> = Vec::with_capacity(regions.len());
    let mut previous_end = 0i64;
    for &(offset, length) in regions {
        let end = offset.checked_add(length);
        match end {
            _ if offset < 0 || length < 0 => {
                return Err(format!("negative sparse region {offset}+{length}"));
            }
            None => return Err(format!("sparse region {offset}+{length} overflows")),
            Some(end) if end > size => {
                return Err(format!(
                    "sparse region {offset}+{length} ends past the file's size {size}"
                ));
            }
            Some(_) if offset < previous_end => {
                return Err(format!(
                    "sparse region {offset}+{length} overlaps or precedes the one before"
                ));
            }
            Some(end) => {
                previous_end = end;
                out.push(Region {
                    offset: offset as u64,
                    length: length as u64,
                });
            }
        }
    }
    Ok(out)
}
