//! Reader tests on archives built block by block: PAX records by length, the checks
//! that refuse an entry before it is handed out, every sparse format, Go's header rules.

use super::*;
use crate::tar::{self, Header};

/// A header block: `name`, `typeflag`, `size`, mode 0644, mtime 1234; GNU magic when
/// `gnu`, USTAR otherwise. `edit` may change bytes before the checksum is stamped.
fn block_with(name: &[u8], typeflag: u8, size: u64, gnu: bool, edit: impl Fn(&mut Block)) -> Block {
    let mut b = [0u8; BLOCK];
    b[..name.len()].copy_from_slice(name);
    b[100..107].copy_from_slice(b"0000644");
    b[108..115].copy_from_slice(b"0000000");
    b[116..123].copy_from_slice(b"0000000");
    b[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    b[136..147].copy_from_slice(b"00000002322");
    b[156] = typeflag;
    if gnu {
        b[257..265].copy_from_slice(b"ustar  \0");
    } else {
        b[257..263].copy_from_slice(b"ustar\0");
        b[263..265].copy_from_slice(b"00");
    }
    edit(&mut b);
    stamp(&mut b);
    b
}

fn block(name: &[u8], typeflag: u8, size: u64) -> Block {
    block_with(name, typeflag, size, false, |_| {})
}

fn stamp(b: &mut Block) {
    b[148..156].copy_from_slice(b"        ");
    let sum: u32 = b.iter().map(|&c| u32::from(c)).sum();
    b[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
}

/// Data padded to whole blocks.
fn padded(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    out.resize(data.len() + tar::padding(data.len() as u64), 0);
    out
}

/// A PAX record, its length counting itself.
fn record(key: &str, value: &[u8]) -> Vec<u8> {
    tar::pax::record(key.as_bytes(), value)
}

/// An `x` header carrying `data`.
fn pax(data: &[u8]) -> Vec<u8> {
    [
        &block(b"PaxHeaders/x", b'x', data.len() as u64)[..],
        &padded(data),
    ]
    .concat()
}

/// A regular file entry with `data`.
fn file(name: &[u8], data: &[u8]) -> Vec<u8> {
    [&block(name, b'0', data.len() as u64)[..], &padded(data)].concat()
}

fn end() -> Vec<u8> {
    vec![0; 2 * BLOCK]
}

/// An entry, the pieces its contents came in, and the contents.
type Read = (Entry, Vec<Chunk>, Vec<u8>);

/// Every entry of `archive` with its contents as (data or hole) pieces.
fn read_all(archive: &[u8]) -> Result<Vec<Read>, ReadError> {
    let mut reader = Reader::new(archive);
    let mut out = Vec::new();
    while let Some(entry) = reader.next_entry()? {
        let (mut chunks, mut contents) = (Vec::new(), Vec::new());
        let mut buf = [0u8; 7];
        loop {
            let chunk = reader.read_chunk(&mut buf)?;
            match chunk {
                Chunk::Data(n) => contents.extend_from_slice(&buf[..n]),
                Chunk::Hole(n) => contents.resize(contents.len() + n as usize, 0),
                Chunk::End => break,
            }
            chunks.push(chunk);
        }
        out.push((entry, chunks, contents));
    }
    Ok(out)
}

fn err(archive: &[u8]) -> String {
    read_all(archive).unwrap_err().to_string()
}

#[test]
fn pax_values_may_hold_newlines() {
    let evil = b"a\n22 linkpath=/etc/evil\n";
    let data = [
        record(
            "SCHILY.xattr.security.capability",
            b"\x01\x00\x00\x02\x0a\x00",
        ),
        record("SCHILY.xattr.user.text", evil),
        record("linkpath", b"harmless"),
    ]
    .concat();
    let archive = [pax(&data), block(b"l", b'2', 0).to_vec(), end()].concat();
    let entries = read_all(&archive).unwrap();
    let e = &entries[0].0;
    assert_eq!(e.kind, Kind::Symlink);
    assert_eq!(e.linkname, b"harmless");
    assert_eq!(
        e.xattrs,
        [
            (
                b"security.capability".to_vec(),
                b"\x01\x00\x00\x02\x0a\x00".to_vec()
            ),
            (b"user.text".to_vec(), evil.to_vec()),
        ]
    );
}

#[test]
fn our_writer_reads_back_byte_for_byte() {
    let mut h = Header::whiteout(b"dir/f\nname".to_vec());
    h.name = "dir/ü\n".as_bytes().to_vec();
    (h.mode, h.uid, h.gid, h.mtime) = (0o4755, 1 << 40, 7, -5);
    h.size = 3;
    h.xattrs = vec![
        (b"user.nl".to_vec(), b"\n\n".to_vec()),
        (b"user.bin".to_vec(), (0..=255u8).collect()),
    ];
    let mut archive = Vec::new();
    tar::encode_header(&h, &mut archive).unwrap();
    archive.extend_from_slice(&padded(b"abc"));
    archive.extend_from_slice(&tar::END_OF_ARCHIVE);
    let entries = read_all(&archive).unwrap();
    let (e, _, contents) = &entries[0];
    assert_eq!(e.name, h.name);
    assert_eq!(
        (e.mode, e.uid, e.gid, e.mtime),
        (0o4755, 1 << 40, 7, (-5, 0))
    );
    let mut sorted = h.xattrs.clone();
    sorted.sort();
    assert_eq!(e.xattrs, sorted, "in the writer's (sorted) order");
    assert_eq!(contents, b"abc");
}

#[test]
fn a_record_whose_length_does_not_match_is_refused() {
    for data in [
        &b"30 path=a\n"[..], // longer than the data
        b"9 path=ab\n",      // ends before the newline
        b"11 path=ab\n\0\0", // NUL padding is no record
        b"x path=a\n",       // no number
        b"5 =ab\n",          // empty key
        b"10 pathab\n",      // no '='
        b"12 path=a\0b\n",   // NUL in a name
    ] {
        let archive = [pax(data), file(b"f", b""), end()].concat();
        let message = err(&archive);
        assert!(message.contains("PAX record"), "{data:?}: {message}");
    }
}

#[test]
fn a_key_given_twice_is_refused() {
    let data = [record("path", b"a"), record("path", b"b")].concat();
    let message = err(&[pax(&data), file(b"f", b""), end()].concat());
    assert!(message.contains("\"path\" given twice"), "{message}");
    let data = [
        record("SCHILY.xattr.user.a", b"1"),
        record("SCHILY.xattr.user.a", b"2"),
    ]
    .concat();
    let message = err(&[pax(&data), file(b"f", b""), end()].concat());
    assert!(message.contains("given twice"), "{message}");
    // So are two extended headers, or two long names, for one entry.
    let one = pax(&record("path", b"a"));
    let message = err(&[one.clone(), one, file(b"f", b""), end()].concat());
    assert!(message.contains("second PAX extended header"), "{message}");
    let long = [
        &block_with(b"././@LongLink", b'L', 2, true, |_| {})[..],
        &padded(b"n\0"),
    ]
    .concat();
    let message = err(&[long.clone(), long, file(b"f", b""), end()].concat());
    assert!(message.contains("second GNU long name"), "{message}");
}

#[test]
fn pax_records_apply_as_go_merges_them() {
    let data = [
        record("gid", b"4294967296"),
        record("mtime", b"-1.5"),
        record("path", b"long/name"),
        record("size", b"5"),
        record("uid", b""), // an empty value keeps the header's
        record("SCHILY.xattr.user.empty", b""),
        record("atime", b"12.25"),
    ]
    .concat();
    let archive = [
        pax(&data),
        block(b"short", b'0', 0).to_vec(),
        padded(b"12345"),
        end(),
    ]
    .concat();
    let entries = read_all(&archive).unwrap();
    let (e, _, contents) = &entries[0];
    assert_eq!(e.name, b"long/name");
    assert_eq!((e.uid, e.gid), (0, 1 << 32));
    assert_eq!(e.mtime, (-2, 500_000_000));
    assert_eq!(contents, b"12345");
    assert!(e.xattrs.is_empty());
    for bad in [
        record("uid", b"x"),
        record("mtime", b"1.x"),
        record("ctime", b""),
    ] {
        let archive = [pax(&bad), file(b"f", b""), end()].concat();
        if bad.ends_with(b"=\n") {
            read_all(&archive).unwrap();
        } else {
            assert!(err(&archive).contains("malformed PAX"), "{bad:?}");
        }
    }
}

#[test]
fn headers_follow_go() {
    // A broken checksum.
    let mut b = block(b"f", b'0', 0);
    b[0] = b'g';
    assert!(err(&[b.to_vec(), end()].concat()).contains("checksum"));
    // A zero block, then a header.
    let message = err(&[vec![0; BLOCK], file(b"f", b""), end()].concat());
    assert!(message.contains("single zero block"), "{message}");
    // The stream may end without the end blocks, but not inside a block or data.
    assert_eq!(read_all(&file(b"f", b"x")).unwrap().len(), 1);
    assert!(err(&file(b"f", b"x")[..600]).contains("ends inside"));
    assert!(err(&file(b"f", b"x")[..100]).contains("ends inside a header"));
    // One zero block then the end of the stream is the end.
    assert_eq!(
        read_all(&[file(b"f", b""), vec![0; BLOCK]].concat())
            .unwrap()
            .len(),
        1
    );
    // Legacy '\0' type: a directory when the name ends in '/'.
    let entries = read_all(&[block(b"d/", 0, 0).to_vec(), file(b"f", b""), end()].concat());
    let entries = entries.unwrap();
    assert_eq!(entries[0].0.kind, Kind::Directory);
    // Header-only types have no data whatever their size field says.
    let archive = [block(b"l", b'2', 700).to_vec(), file(b"f", b"x"), end()].concat();
    let entries = read_all(&archive).unwrap();
    assert_eq!(
        (entries[0].0.size, entries[1].0.name.as_slice()),
        (0, &b"f"[..])
    );
    // USTAR prefix, base-256 numbers, GNU long names.
    let b = block_with(b"name", b'0', 0, false, |b| {
        b[345..348].copy_from_slice(b"pre");
        b[108..116].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0x10, 0]);
        b[136..148].copy_from_slice(&[0xff; 12]);
    });
    let long = [
        &block_with(b"././@LongLink", b'K', 7, true, |_| {})[..],
        &padded(b"target\0"),
    ]
    .concat();
    let entries = read_all(&[b.to_vec(), long, block(b"l", b'1', 0).to_vec(), end()].concat());
    let entries = entries.unwrap();
    assert_eq!(entries[0].0.name, b"pre/name");
    assert_eq!((entries[0].0.uid, entries[0].0.mtime.0), (0x1000, -1));
    assert_eq!(entries[1].0.linkname, b"target");
    // GNU headers have no prefix there.
    let b = block_with(b"name", b'0', 0, true, |b| {
        b[345..348].copy_from_slice(b"000")
    });
    assert_eq!(
        read_all(&[b.to_vec(), end()].concat()).unwrap()[0].0.name,
        b"name"
    );
}

#[test]
fn global_headers_are_skipped_but_not_inside_an_entry() {
    let g = [&block(b"g", b'g', 10)[..], &padded(b"10 path=g\n")].concat();
    let entries = read_all(&[g.clone(), file(b"f", b""), end()].concat()).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0.name, b"f");
    let message = err(&[pax(&record("uid", b"1")), g, file(b"f", b""), end()].concat());
    assert!(message.contains("global PAX extended header"), "{message}");
}

/// The contents of the sparse test file: data "ab" at 3, "cdef" at 10, size 20.
const SPARSE: &[u8] = b"\0\0\0ab\0\0\0\0\0cdef\0\0\0\0\0\0";

fn sparse_chunks() -> Vec<Chunk> {
    vec![
        Chunk::Hole(3),
        Chunk::Data(2),
        Chunk::Hole(5),
        Chunk::Data(4),
        Chunk::Hole(6),
    ]
}

fn check_sparse(archive: &[u8], name: &[u8]) {
    let entries = read_all(archive).unwrap();
    let (e, chunks, contents) = &entries[0];
    assert_eq!(
        (e.name.as_slice(), e.kind, e.size),
        (name, Kind::Regular, 20)
    );
    assert_eq!(e.holes(), 14);
    assert_eq!(*chunks, sparse_chunks());
    assert_eq!(contents, SPARSE);
    assert_eq!(entries[1].0.name, b"after");
}

#[test]
fn pax_sparse_0_0_and_0_1() {
    let records_0_0 = [
        record("GNU.sparse.size", b"20"),
        record("GNU.sparse.numblocks", b"3"),
        record("GNU.sparse.offset", b"3"),
        record("GNU.sparse.numbytes", b"2"),
        record("GNU.sparse.offset", b"10"),
        record("GNU.sparse.numbytes", b"4"),
        record("GNU.sparse.offset", b"20"),
        record("GNU.sparse.numbytes", b"0"),
    ]
    .concat();
    let body = [block(b"sparse", b'0', 6).to_vec(), padded(b"abcdef")].concat();
    let after = file(b"after", b"");
    check_sparse(
        &[pax(&records_0_0), body.clone(), after.clone(), end()].concat(),
        b"sparse",
    );

    let records_0_1 = |numblocks: &[u8]| {
        [
            record("GNU.sparse.major", b"0"),
            record("GNU.sparse.minor", b"1"),
            record("GNU.sparse.name", b"real/name"),
            record("GNU.sparse.size", b"20"),
            record("GNU.sparse.numblocks", numblocks),
            record("GNU.sparse.map", b"3,2,10,4"),
        ]
        .concat()
    };
    check_sparse(
        &[pax(&records_0_1(b"2")), body, after, end()].concat(),
        b"real/name",
    );

    // Out of turn, or a map that does not add up.
    let bad = [
        record("GNU.sparse.numbytes", b"2"),
        record("GNU.sparse.offset", b"3"),
    ]
    .concat();
    assert!(err(&[pax(&bad), file(b"f", b""), end()].concat()).contains("out of turn"));
    let bad = records_0_1(b"3");
    assert!(err(&[pax(&bad), file(b"f", b"abcdef"), end()].concat()).contains("numbers for"));
}

fn sparse_1_0(map: &[u8], data: &[u8]) -> Vec<u8> {
    let records = [
        record("GNU.sparse.major", b"1"),
        record("GNU.sparse.minor", b"0"),
        record("GNU.sparse.name", b"real"),
        record("GNU.sparse.realsize", b"20"),
    ]
    .concat();
    let stored = [padded(map), data.to_vec()].concat();
    [
        pax(&records),
        block(b"GNUSparseFile.1/real", b'0', stored.len() as u64).to_vec(),
        padded(&stored),
        file(b"after", b""),
        end(),
    ]
    .concat()
}

#[test]
fn pax_sparse_1_0() {
    check_sparse(&sparse_1_0(b"2\n3\n2\n10\n4\n", b"abcdef"), b"real");
    // A map over more than one block.
    let mut map = b"2\n".to_vec();
    map.extend(std::iter::repeat_n(b'0', 600));
    map.extend_from_slice(b"3\n2\n10\n4\n");
    check_sparse(&sparse_1_0(&map, b"abcdef"), b"real");
    // Data the map does not use, or too little of it.
    let message = err(&sparse_1_0(b"2\n3\n2\n10\n4\n", b"abcdefg"));
    assert!(
        message.contains("more data than its sparse map uses"),
        "{message}"
    );
    let message = err(&sparse_1_0(b"2\n3\n2\n10\n4\n", b"abcde"));
    assert!(
        message.contains("more data than the archive holds"),
        "{message}"
    );
    // Regions out of order, overlapping, or past the end.
    for map in [
        &b"2\n10\n4\n3\n2\n"[..],
        b"2\n3\n8\n10\n4\n",
        b"1\n18\n6\n",
        b"1\n-1\n2\n",
    ] {
        let message = err(&sparse_1_0(map, b"abcdef"));
        assert!(message.contains("sparse"), "{map:?}: {message}");
    }
    // A map that runs past the stored data.
    let message = err(&sparse_1_0(b"3\n", b""));
    assert!(message.contains("runs past"), "{message}");
}

#[test]
fn old_gnu_sparse() {
    // Regions in the header and, past four, in an extension block.
    let header = block_with(b"sparse", b'S', 6, true, |b| {
        let put = |b: &mut Block, at: usize, n: u64| {
            b[at..at + 11].copy_from_slice(format!("{n:011o}").as_bytes());
        };
        put(b, 386, 3);
        put(b, 398, 2);
        b[482] = 1;
        put(b, 483, 20);
    });
    let mut ext = [0u8; BLOCK];
    ext[..11].copy_from_slice(b"00000000012");
    ext[12..23].copy_from_slice(b"00000000004");
    ext[24..35].copy_from_slice(b"00000000024");
    ext[36..47].copy_from_slice(b"00000000000");
    let archive = [
        header.to_vec(),
        ext.to_vec(),
        padded(b"abcdef"),
        file(b"after", b""),
        end(),
    ]
    .concat();
    check_sparse(&archive, b"sparse");
    // Only GNU headers hold that map.
    let ustar = block(b"sparse", b'S', 0);
    let message = err(&[ustar.to_vec(), end()].concat());
    assert!(message.contains("non-GNU"), "{message}");
}

#[test]
fn extended_data_is_bounded() {
    let b = block(b"PaxHeaders/x", b'x', pax::MAX_DATA + 1);
    let message = err(&[b.to_vec(), end()].concat());
    assert!(message.contains("more than 1 MiB"), "{message}");
}
