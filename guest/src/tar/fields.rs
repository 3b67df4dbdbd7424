//! Where the ustar header's fields sit in a block: one table for the writer and the
//! reader.

/// A header field: byte offset and length within the block.
pub type Field = (usize, usize);

pub const NAME: Field = (0, 100);
pub const MODE: Field = (100, 8);
pub const UID: Field = (108, 8);
pub const GID: Field = (116, 8);
pub const SIZE: Field = (124, 12);
pub const MTIME: Field = (136, 12);
pub const CHKSUM: Field = (148, 8);
pub const TYPEFLAG: usize = 156;
pub const LINKNAME: Field = (157, 100);
pub const MAGIC: Field = (257, 6);
pub const VERSION: Field = (263, 2);
pub const DEVMAJOR: Field = (329, 8);
pub const DEVMINOR: Field = (337, 8);
pub const PREFIX: Field = (345, 155);
