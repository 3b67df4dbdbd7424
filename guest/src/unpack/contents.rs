//! A regular file's contents, from the archive into a file the host created: data
//! written, holes of a sparse file skipped (so they stay holes on disk).

use std::io::Read;

use crate::tar::read::{Chunk, Reader};
use crate::tree::FileWrite;

/// Bytes of file data moved per host call.
const CHUNK: usize = 128 << 10;

/// Copy the current entry's contents (`size` bytes) into `file`, or say why not.
pub fn write<R: Read>(
    archive: &mut Reader<R>,
    size: u64,
    file: &mut dyn FileWrite,
) -> Result<(), String> {
    let mut buf = vec![0u8; CHUNK.min(usize::try_from(size).unwrap_or(CHUNK)).max(1)];
    loop {
        match archive.read_chunk(&mut buf).map_err(|e| e.to_string())? {
            Chunk::Data(n) => file.write(&buf[..n]).map_err(|e| e.to_string())?,
            Chunk::Hole(n) => file.skip(n).map_err(|e| e.to_string())?,
            Chunk::End => return Ok(()),
        }
    }
}

/// The current entry's contents (`size` bytes, holes as zeros) in memory.
pub fn read_all<R: Read>(archive: &mut Reader<R>, size: u64) -> Result<Vec<u8>, String> {
    let size = usize::try_from(size).map_err(|_| "a file larger than memory".to_string())?;
    let mut data = vec![0u8; size];
    let mut at = 0;
    loop {
        let chunk = archive
            .read_chunk(&mut data[at..])
            .map_err(|e| e.to_string())?;
        let n = match chunk {
            Chunk::Data(0) if at == size => {
                return Err("the archive holds more data than the entry's size".into());
            }
            Chunk::Data(n) => n,
            Chunk::Hole(n) => usize::try_from(n).unwrap_or(usize::MAX),
            Chunk::End => return Ok(data),
        };
        at = at
            .checked_add(n)
            .filter(|&end| end <= size)
            .ok_or("the entry's data and holes pass its size")?;
    }
}
