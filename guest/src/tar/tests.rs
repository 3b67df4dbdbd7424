//! Header encoder tests: exact bytes, Go's USTAR/PAX choices, and reading our output
//! back with the `tar` crate.

use std::io::Read;

use super::*;

/// A plain entry of `entry_type` named `name`, owned by 1000:100, mode 0644.
fn entry(name: &[u8], entry_type: EntryType) -> Header {
    Header {
        name: name.to_vec(),
        entry_type,
        mode: 0o644,
        uid: 1000,
        gid: 100,
        size: 0,
        mtime: 1_700_000_000,
        linkname: Vec::new(),
        devmajor: 0,
        devminor: 0,
        xattrs: Vec::new(),
    }
}

/// The bytes of one field of a block.
fn field(block: &[u8], (at, len): Field) -> &[u8] {
    &block[at..at + len]
}

/// The value of an octal numeric field (digits up to the first NUL).
fn octal(block: &[u8], f: Field) -> u64 {
    let digits: Vec<u8> = field(block, f)
        .iter()
        .copied()
        .take_while(|&c| c != 0)
        .collect();
    u64::from_str_radix(std::str::from_utf8(&digits).unwrap(), 8).unwrap()
}

/// Assert the block's checksum field is "%06o\0 " of its byte sum with the field as spaces.
fn assert_checksum(block: &[u8]) {
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    assert_eq!(field(block, CHKSUM), format!("{sum:06o}\0 ").as_bytes());
}

/// What `encode_header` wrote, taken apart: the optional PAX block and its records
/// data, and the entry's own block. Checks the layout and both checksums on the way.
#[derive(Debug)]
struct Encoded {
    pax: Option<(Vec<u8>, Vec<u8>)>,
    main: Vec<u8>,
}

fn encode(h: &Header) -> Encoded {
    let mut out = Vec::new();
    encode_header(h, &mut out).unwrap();
    assert_eq!(out.len() % BLOCK, 0);
    assert_checksum(&out[..BLOCK]);
    if out[TYPEFLAG] != b'x' {
        assert_eq!(out.len(), BLOCK);
        return Encoded {
            pax: None,
            main: out,
        };
    }
    let size = octal(&out, SIZE) as usize;
    let main_at = BLOCK + size + padding(size as u64);
    assert_eq!(out.len(), main_at + BLOCK);
    assert!(out[BLOCK + size..main_at].iter().all(|&b| b == 0));
    assert_checksum(&out[main_at..]);
    Encoded {
        pax: Some((out[..BLOCK].to_vec(), out[BLOCK..BLOCK + size].to_vec())),
        main: out[main_at..].to_vec(),
    }
}

/// PAX records split by their length prefixes (so values may hold newlines).
fn parse_records(mut data: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut records = Vec::new();
    while !data.is_empty() {
        let space = data.iter().position(|&c| c == b' ').unwrap();
        let len: usize = std::str::from_utf8(&data[..space])
            .unwrap()
            .parse()
            .unwrap();
        let (record, rest) = data.split_at(len);
        assert_eq!(record.last(), Some(&b'\n'));
        let body = &record[space + 1..len - 1];
        let eq = body.iter().position(|&c| c == b'=').unwrap();
        records.push((body[..eq].to_vec(), body[eq + 1..].to_vec()));
        data = rest;
    }
    records
}

/// The records of an encoding that must have a PAX header.
fn records_of(e: &Encoded) -> Vec<(Vec<u8>, Vec<u8>)> {
    parse_records(&e.pax.as_ref().expect("a PAX header").1)
}

/// One entry as the `tar` crate reads it back.
#[derive(Debug)]
struct Parsed {
    path: Vec<u8>,
    link: Option<Vec<u8>>,
    kind: ::tar::EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    size: u64,
    dev: (Option<u32>, Option<u32>),
    pax: Vec<(Vec<u8>, Vec<u8>)>,
    data: Vec<u8>,
}

/// Encode `h` with `data` into a whole archive and read its single entry back.
fn read_back(h: &Header, data: &[u8]) -> Parsed {
    let mut bytes = Vec::new();
    encode_header(h, &mut bytes).unwrap();
    bytes.extend_from_slice(data);
    bytes.resize(bytes.len() + padding(data.len() as u64), 0);
    bytes.extend_from_slice(&END_OF_ARCHIVE);
    read_first(&bytes, true)
}

/// Read the first entry of `bytes`; with `whole`, also its data and the end of archive.
fn read_first(bytes: &[u8], whole: bool) -> Parsed {
    let mut archive = ::tar::Archive::new(bytes);
    let mut entries = archive.entries().unwrap();
    let mut e = entries.next().unwrap().unwrap();
    let pax = match e.pax_extensions().unwrap() {
        Some(exts) => exts
            .map(|x| {
                let x = x.unwrap();
                (x.key_bytes().to_vec(), x.value_bytes().to_vec())
            })
            .collect(),
        None => Vec::new(),
    };
    let hd = e.header();
    let mut parsed = Parsed {
        path: e.path_bytes().into_owned(),
        link: e.link_name_bytes().map(|l| l.into_owned()),
        kind: hd.entry_type(),
        mode: hd.mode().unwrap(),
        uid: hd.uid().unwrap(),
        gid: hd.gid().unwrap(),
        mtime: hd.mtime().unwrap(),
        size: e.size(),
        dev: (hd.device_major().unwrap(), hd.device_minor().unwrap()),
        pax,
        data: Vec::new(),
    };
    if whole {
        e.read_to_end(&mut parsed.data).unwrap();
        drop(e);
        assert!(entries.next().is_none());
    }
    parsed
}

fn kv(k: &str, v: &[u8]) -> (Vec<u8>, Vec<u8>) {
    (k.as_bytes().to_vec(), v.to_vec())
}

#[test]
fn exact_bytes_of_a_small_regular_file() {
    let mut h = entry(b"hello.txt", EntryType::Regular);
    (h.uid, h.gid, h.size) = (1000, 1000, 5);
    let mut want = [0u8; BLOCK];
    let mut put = |at: usize, s: &[u8]| want[at..at + s.len()].copy_from_slice(s);
    put(0, b"hello.txt");
    put(100, b"0000644\0");
    put(108, b"0001750\0"); // 1000
    put(116, b"0001750\0");
    put(124, b"00000000005\0");
    put(136, b"14524770400\0"); // 1_700_000_000
    put(148, b"011140\0 "); // byte sum with the checksum as spaces
    put(156, b"0");
    put(257, b"ustar\x0000");
    put(329, b"0000000\0");
    put(337, b"0000000\0");
    let mut out = Vec::new();
    encode_header(&h, &mut out).unwrap();
    assert_eq!(out, want);
}

#[test]
fn every_type_reads_back() {
    let mut reg = entry(b"bin/ash", EntryType::Regular);
    (reg.mode, reg.size) = (0o4755, 5);
    let mut dir = entry(b"etc/", EntryType::Directory);
    dir.mode = 0o2755;
    let mut tmp = entry(b"tmp/", EntryType::Directory);
    (tmp.mode, tmp.uid, tmp.gid) = (0o1777, 0, 0);
    let mut sym = entry(b"bin/sh", EntryType::Symlink);
    (sym.mode, sym.linkname) = (0o777, b"/bin/ash".to_vec());
    let mut hard = entry(b"bin/busybox", EntryType::Hardlink);
    (hard.mode, hard.linkname) = (0o4755, b"bin/ash".to_vec());
    let mut chr = entry(b"dev/null", EntryType::CharDevice);
    (chr.mode, chr.devmajor, chr.devminor) = (0o666, 1, 3);
    let mut blk = entry(b"dev/sda", EntryType::BlockDevice);
    (blk.mode, blk.devmajor, blk.devminor) = (0o660, 8, 0);
    let mut fifo = entry(b"run/fifo", EntryType::Fifo);
    fifo.mode = 0o600;
    let root = entry(b".", EntryType::Directory);

    use ::tar::EntryType as T;
    let cases = [
        (reg, T::Regular, b"hello".as_slice()),
        (dir, T::Directory, b""),
        (tmp, T::Directory, b""),
        (sym, T::Symlink, b""),
        (hard, T::Link, b""),
        (chr, T::Char, b""),
        (blk, T::Block, b""),
        (fifo, T::Fifo, b""),
        (root, T::Directory, b""),
    ];
    for (h, kind, data) in cases {
        assert!(encode(&h).pax.is_none(), "{h:?} needs no PAX");
        let p = read_back(&h, data);
        assert_eq!(p.path, h.name);
        assert_eq!(p.kind, kind);
        assert_eq!(p.mode, h.mode);
        assert_eq!((p.uid, p.gid, p.mtime), (h.uid, h.gid, h.mtime as u64));
        assert_eq!(p.link.unwrap_or_default(), h.linkname);
        assert_eq!(p.dev, (Some(h.devmajor), Some(h.devminor)));
        assert_eq!((p.size, p.data.as_slice()), (h.size, data));
        assert!(p.pax.is_empty());
    }
}

#[test]
fn mode_keeps_only_permission_and_special_bits() {
    let mut h = entry(b"f", EntryType::Regular);
    h.mode = 0o100_644 | 0o7000;
    assert_eq!(field(&encode(&h).main, MODE), b"0007644\0");
}

#[test]
fn name_of_exactly_100_bytes_is_plain_ustar() {
    let name = [b'n'; 100];
    let e = encode(&entry(&name, EntryType::Regular));
    assert!(e.pax.is_none());
    assert_eq!(field(&e.main, NAME), name);
    assert!(field(&e.main, PREFIX).iter().all(|&b| b == 0));
    assert_eq!(read_back(&entry(&name, EntryType::Regular), b"").path, name);
}

/// A name of `len` bytes: a prefix of `len - 1 - suffix` bytes, '/', and `suffix` bytes.
fn split_name(len: usize, suffix: usize) -> Vec<u8> {
    let prefix = len - 1 - suffix;
    let mut name: Vec<u8> = (0..prefix)
        .map(|i| if i % 10 == 9 { b'/' } else { b'p' })
        .collect();
    name[prefix - 1] = b'q'; // the prefix must not end in '/'
    name.push(b'/');
    name.resize(len, b's');
    name
}

#[test]
fn long_splittable_names_use_the_prefix_field() {
    for len in 101..=256usize {
        let suffix = len.saturating_sub(156).clamp(50, 100);
        let name = split_name(len, suffix);
        let h = entry(&name, EntryType::Regular);
        let e = encode(&h);
        assert!(e.pax.is_none(), "len {len}");
        let (prefix, rest) = name.split_at(len - 1 - suffix);
        assert_eq!(
            field(&e.main, PREFIX).split(|&c| c == 0).next().unwrap(),
            prefix
        );
        assert_eq!(
            field(&e.main, NAME).split(|&c| c == 0).next().unwrap(),
            &rest[1..]
        );
        assert_eq!(read_back(&h, b"").path, name, "len {len}");
    }
}

#[test]
fn prefix_of_155_bytes_fits_and_156_does_not() {
    let name = split_name(166, 10);
    let e = encode(&entry(&name, EntryType::Regular));
    assert!(e.pax.is_none());
    assert_eq!(field(&e.main, PREFIX), &name[..155]); // full field, no NUL
    assert_eq!(&field(&e.main, NAME)[..11], b"ssssssssss\0");

    // A 156-byte prefix: the only '/' lies outside the 156-byte search window.
    let name = [&[b'p'; 156][..], b"/ssssssssss"].concat();
    let e = encode(&entry(&name, EntryType::Regular));
    assert_eq!(records_of(&e), [kv("path", &name)]);
    assert_eq!(read_back(&entry(&name, EntryType::Regular), b"").path, name);
}

#[test]
fn directory_trailing_slash_is_not_a_split_point() {
    // 150 bytes ending in '/': the split uses the '/' before "dir/".
    let mut name = vec![b'a'; 145];
    name.extend_from_slice(b"/dir/");
    let h = entry(&name, EntryType::Directory);
    let e = encode(&h);
    assert!(e.pax.is_none());
    assert_eq!(&field(&e.main, NAME)[..5], b"dir/\0");
    assert_eq!(
        &field(&e.main, PREFIX)[..146],
        [&[b'a'; 145][..], b"\0"].concat()
    );
    assert_eq!(read_back(&h, b"").path, name);

    // A single component longer than 100 bytes plus '/' cannot be split.
    let mut name = vec![b'b'; 120];
    name.push(b'/');
    assert_eq!(
        records_of(&encode(&entry(&name, EntryType::Directory))),
        [kv("path", &name)]
    );
}

#[test]
fn long_name_without_slash_goes_to_pax_path() {
    let name = vec![b'x'; 255];
    let h = entry(&name, EntryType::Regular);
    let e = encode(&h);
    let (pax_block, data) = e.pax.as_ref().unwrap();
    assert_eq!(parse_records(data), [kv("path", &name)]);
    assert_eq!(data, &[b"265 path=".as_slice(), &name, b"\n"].concat());
    // The `x` entry: its name, zero numbers, empty owner names and device fields.
    let mut want_name = b"PaxHeaders.0/".to_vec();
    want_name.resize(100, b'x');
    assert_eq!(field(pax_block, NAME), want_name);
    assert_eq!(pax_block[TYPEFLAG], b'x');
    assert_eq!(field(pax_block, MODE), b"0000000\0");
    assert_eq!(field(pax_block, UID), b"0000000\0");
    assert_eq!(field(pax_block, GID), b"0000000\0");
    assert_eq!(field(pax_block, SIZE), b"00000000411\0");
    assert_eq!(field(pax_block, MTIME), b"00000000000\0");
    assert_eq!(field(pax_block, MAGIC), b"ustar\0");
    assert_eq!(field(pax_block, VERSION), b"00");
    assert!(pax_block[LINKNAME.0..257].iter().all(|&b| b == 0));
    assert!(pax_block[265..500].iter().all(|&b| b == 0));
    // The entry's own block: the name cut to 100 bytes, no prefix.
    assert_eq!(field(&e.main, NAME), &name[..100]);
    assert!(field(&e.main, PREFIX).iter().all(|&b| b == 0));
    let p = read_back(&h, b"");
    assert_eq!(p.path, name);
    assert_eq!(p.pax, [kv("path", &name)]);
}

#[test]
fn non_ascii_names_go_to_pax_path_raw() {
    for name in [b"caf\xe9".as_slice(), "café/ü".as_bytes(), b"d/\xff\xfe/"] {
        let kind = if name.ends_with(b"/") {
            EntryType::Directory
        } else {
            EntryType::Regular
        };
        let h = entry(name, kind);
        let e = encode(&h);
        assert_eq!(records_of(&e), [kv("path", name)]);
        let ascii: Vec<u8> = name.iter().copied().filter(|c| c.is_ascii()).collect();
        assert_eq!(
            field(&e.main, NAME).split(|&c| c == 0).next().unwrap(),
            ascii
        );
        assert_eq!(read_back(&h, b"").path, name);
    }
}

#[test]
fn pax_header_names_follow_go_path_join() {
    let cases: [(&[u8], &[u8]); 9] = [
        (b"etc/", b"etc/PaxHeaders.0"),
        (b"a/b", b"a/PaxHeaders.0/b"),
        (b".", b"PaxHeaders.0"),
        (b"file", b"PaxHeaders.0/file"),
        (b"./a/b", b"a/PaxHeaders.0/b"),
        (b"/abs//x/", b"/abs/x/PaxHeaders.0"),
        (b"a/../b", b"PaxHeaders.0/b"),
        (b"x/..", b"x"),
        ("é/ü".as_bytes(), b"/PaxHeaders.0/"),
    ];
    for (name, want) in cases {
        let mut h = entry(name, EntryType::Directory);
        h.xattrs.push((b"user.a".to_vec(), b"1".to_vec()));
        let e = encode(&h);
        let block = &e.pax.as_ref().unwrap().0;
        let got = field(block, NAME).split(|&c| c == 0).next().unwrap();
        // Trailing slashes are trimmed after the ASCII filter and cut.
        let want = want.strip_suffix(b"/").unwrap_or(want);
        assert_eq!(got, want, "{}", String::from_utf8_lossy(name));
    }
    // Cut to 100 bytes, then trailing slashes trimmed: the joined name is 86 'd',
    // "/PaxHeaders.0/" (14 bytes, so the cut ends at this '/') and 20 'f'.
    let mut name = vec![b'd'; 86];
    name.push(b'/');
    name.extend_from_slice(&[b'f'; 20]);
    let mut h = entry(&name, EntryType::Regular);
    h.xattrs.push((b"user.a".to_vec(), b"1".to_vec()));
    let e = encode(&h);
    let block = &e.pax.as_ref().unwrap().0;
    let mut want = vec![b'd'; 86];
    want.extend_from_slice(b"/PaxHeaders.0\0");
    assert_eq!(field(block, NAME)[..100], want[..]);
}

#[test]
fn clean_matches_go() {
    let cases: [(&[u8], &[u8]); 12] = [
        (b"", b"."),
        (b"/", b"/"),
        (b"a//b/./c/", b"a/b/c"),
        (b"../../a", b"../../a"),
        (b"a/../../b", b"../b"),
        (b"/../a", b"/a"),
        (b"/a/b/../..", b"/"),
        (b"a/b/../..", b"."),
        (b"./", b"."),
        (b"..", b".."),
        (b"../a/..", b".."),
        (b"abc/./../def", b"def"),
    ];
    for (path, want) in cases {
        assert_eq!(pax::clean(path), want, "{}", String::from_utf8_lossy(path));
    }
}

#[test]
fn cut_name_after_pax_drops_trailing_slashes() {
    // Go's formatString: a name cut at 100 bytes that ends in '/' there loses the slashes.
    let mut name = vec![b'a'; 98];
    name.extend_from_slice(b"//");
    name.extend_from_slice(&[b'b'; 50]);
    let mut h = entry(&name, EntryType::Regular);
    h.xattrs.push((b"user.x".to_vec(), b"y".to_vec()));
    let e = encode(&h);
    let mut want = vec![b'a'; 98];
    want.extend_from_slice(b"\0/");
    assert_eq!(field(&e.main, NAME), want);
    // A long but splittable name still gets a "path" record once PAX is used.
    assert_eq!(
        records_of(&e),
        [kv("SCHILY.xattr.user.x", b"y"), kv("path", &name)]
    );
    assert_eq!(read_back(&h, b"").path, name);
}

#[test]
fn linkname_of_100_bytes_is_ustar_and_101_is_pax() {
    let target = vec![b't'; 100];
    let mut h = entry(b"l", EntryType::Symlink);
    h.linkname = target.clone();
    let e = encode(&h);
    assert!(e.pax.is_none());
    assert_eq!(field(&e.main, LINKNAME), target);
    assert_eq!(read_back(&h, b"").link.unwrap(), target);

    let mut target = vec![b'u'; 50];
    target.push(b'/');
    target.resize(101, b'v');
    h.linkname = target.clone();
    let e = encode(&h);
    assert_eq!(records_of(&e), [kv("linkpath", &target)]);
    assert_eq!(field(&e.main, LINKNAME), &target[..100]);
    let p = read_back(&h, b"");
    assert_eq!(p.link.unwrap(), target);
    assert_eq!(p.path, b"l");

    h.linkname = b"\xc3\xa9t\xe9".to_vec();
    let e = encode(&h);
    assert_eq!(records_of(&e), [kv("linkpath", b"\xc3\xa9t\xe9")]);
    assert_eq!(&field(&e.main, LINKNAME)[..2], b"t\0");
}

#[test]
fn ids_above_seven_octal_digits_go_to_pax() {
    let mut h = entry(b"f", EntryType::Regular);
    (h.uid, h.gid) = (2_097_151, 2_097_151);
    let e = encode(&h);
    assert!(e.pax.is_none());
    assert_eq!(field(&e.main, UID), b"7777777\0");
    assert_eq!(field(&e.main, GID), b"7777777\0");

    (h.uid, h.gid) = (2_097_152, 4_000_000_000);
    let e = encode(&h);
    assert_eq!(
        records_of(&e),
        [kv("gid", b"4000000000"), kv("uid", b"2097152")]
    );
    assert_eq!(field(&e.main, UID), b"0000000\0");
    assert_eq!(field(&e.main, GID), b"0000000\0");
    let p = read_back(&h, b"");
    assert_eq!((p.uid, p.gid), (2_097_152, 4_000_000_000));

    (h.uid, h.gid) = (0, 2_097_152);
    assert_eq!(records_of(&encode(&h)), [kv("gid", b"2097152")]);
}

#[test]
fn sizes_from_8_gib_go_to_pax() {
    let mut h = entry(b"big", EntryType::Regular);
    h.size = (8 << 30) - 1;
    let e = encode(&h);
    assert!(e.pax.is_none());
    assert_eq!(field(&e.main, SIZE), b"77777777777\0");

    h.size = 8 << 30;
    let e = encode(&h);
    assert_eq!(records_of(&e), [kv("size", b"8589934592")]);
    assert_eq!(field(&e.main, SIZE), b"00000000000\0");
    // Headers only: the reader is not asked for the 8 GiB of data.
    let mut bytes = Vec::new();
    encode_header(&h, &mut bytes).unwrap();
    let p = read_first(&bytes, false);
    assert_eq!(p.size, 8 << 30);
    assert_eq!(p.path, b"big");
}

#[test]
fn mtimes_outside_eleven_octal_digits_go_to_pax() {
    let mut h = entry(b"f", EntryType::Regular);
    h.mtime = -1;
    let e = encode(&h);
    assert_eq!(records_of(&e), [kv("mtime", b"-1")]);
    assert_eq!(field(&e.main, MTIME), b"00000000000\0");
    let p = read_back(&h, b"");
    assert_eq!((p.mtime, p.pax.clone()), (0, vec![kv("mtime", b"-1")]));

    h.mtime = 0o77777777777;
    let e = encode(&h);
    assert!(e.pax.is_none());
    assert_eq!(field(&e.main, MTIME), b"77777777777\0");

    h.mtime = 0o100000000000;
    assert_eq!(records_of(&encode(&h)), [kv("mtime", b"8589934592")]);

    h.mtime = i64::MIN;
    assert_eq!(
        records_of(&encode(&h)),
        [kv("mtime", i64::MIN.to_string().as_bytes())]
    );

    // Go's zero time.Time is written as the epoch, without PAX.
    h.mtime = -62_135_596_800;
    let e = encode(&h);
    assert!(e.pax.is_none());
    assert_eq!(field(&e.main, MTIME), b"00000000000\0");
}

#[test]
fn xattrs_become_sorted_schily_records() {
    let mut h = entry(b"bin/ping", EntryType::Regular);
    h.mode = 0o755;
    h.xattrs = vec![
        (b"user.z".to_vec(), b"\x00\xff\x01".to_vec()),
        (
            b"security.capability".to_vec(),
            b"\x01\x00\x00\x02\x00\x20".to_vec(),
        ),
        (b"user.with space".to_vec(), b"v".to_vec()),
        (b"user.nl".to_vec(), b"a\nb".to_vec()),
    ];
    let e = encode(&h);
    let want = [
        kv(
            "SCHILY.xattr.security.capability",
            b"\x01\x00\x00\x02\x00\x20",
        ),
        kv("SCHILY.xattr.user.nl", b"a\nb"),
        kv("SCHILY.xattr.user.with space", b"v"),
        kv("SCHILY.xattr.user.z", b"\x00\xff\x01"),
    ];
    assert_eq!(records_of(&e), want);
    let data = &e.pax.as_ref().unwrap().1;
    assert!(data.starts_with(b"43 SCHILY.xattr.security.capability=\x01\x00\x00\x02\x00\x20\n"));
    assert!(data.ends_with(b"27 SCHILY.xattr.user.z=\x00\xff\x01\n"));
    // The entry itself is unchanged apart from its header coming after the PAX one.
    assert_eq!(field(&e.main, NAME)[..9], *b"bin/ping\0");
    assert_eq!(field(&e.main, MODE), b"0000755\0");
    assert_eq!(field(&e.main, UID), b"0001750\0");

    // The tar crate splits records at newlines, so read one without that value back.
    h.xattrs.retain(|(name, _)| name != b"user.nl");
    let p = read_back(&h, b"");
    assert_eq!(p.pax, [&want[..1], &want[2..]].concat());
    assert_eq!(p.path, b"bin/ping");
}

#[test]
fn records_sort_bytewise_across_kinds() {
    let mut h = entry("ü".as_bytes(), EntryType::Regular);
    (h.uid, h.mtime) = (1 << 40, -5);
    h.linkname = Vec::new();
    h.xattrs = vec![
        (b"b".to_vec(), b"2".to_vec()),
        (b"a".to_vec(), b"1".to_vec()),
    ];
    let keys: Vec<Vec<u8>> = records_of(&encode(&h))
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let want: [&[u8]; 5] = [
        b"SCHILY.xattr.a",
        b"SCHILY.xattr.b",
        b"mtime",
        b"path",
        b"uid",
    ];
    assert_eq!(keys, want);
}

#[test]
fn record_length_counts_its_own_digits() {
    // 14-byte key: rest = 17 + value length.
    assert_eq!(
        pax::record(b"SCHILY.xattr.a", &[b'v'; 79]),
        [b"98 SCHILY.xattr.a=".as_slice(), &[b'v'; 79], b"\n"].concat()
    );
    assert_eq!(pax::record(b"SCHILY.xattr.a", &[b'v'; 80]).len(), 99);
    // 97 + 2 digits = 99, but 98 + 2 = 100 needs 3 digits: 101.
    let rec = pax::record(b"SCHILY.xattr.a", &[b'v'; 81]);
    assert_eq!(rec.len(), 101);
    assert!(rec.starts_with(b"101 SCHILY.xattr.a=v"));
    assert_eq!(pax::record(b"k", b"").as_slice(), b"5 k=\n");
    assert_eq!(pax::record(b"k", &[b'v'; 4]).as_slice(), b"9 k=vvvv\n");
    // 9 + 1 digit = 10 needs 2 digits: 11.
    assert_eq!(pax::record(b"k", &[b'v'; 5]).as_slice(), b"11 k=vvvvv\n");

    let mut h = entry(b"f", EntryType::Regular);
    h.xattrs = vec![(b"a".to_vec(), vec![b'v'; 81])];
    let e = encode(&h);
    assert_eq!(e.pax.as_ref().unwrap().1.len(), 101);
    assert_eq!(records_of(&e), [kv("SCHILY.xattr.a", &[b'v'; 81])]);
    assert_eq!(read_back(&h, b"").pax, [kv("SCHILY.xattr.a", &[b'v'; 81])]);
}

#[test]
fn whiteout_is_an_empty_regular_file_owned_by_root() {
    let h = Header::whiteout(b"etc/.wh.passwd".to_vec());
    assert_eq!(h.entry_type, EntryType::Regular);
    assert_eq!((h.mode, h.uid, h.gid, h.size, h.mtime), (0, 0, 0, 0, 0));
    assert!(h.linkname.is_empty() && h.xattrs.is_empty());
    assert_eq!((h.devmajor, h.devminor), (0, 0));
    let e = encode(&h);
    assert!(e.pax.is_none());
    assert_eq!(e.main[TYPEFLAG], b'0');
    assert_eq!(field(&e.main, MODE), b"0000000\0");
    assert_eq!(field(&e.main, MTIME), b"00000000000\0");
    let p = read_back(&h, b"");
    assert_eq!(p.path, b"etc/.wh.passwd");
    assert_eq!((p.mode, p.uid, p.gid, p.mtime, p.size), (0, 0, 0, 0, 0));
}

#[test]
fn padding_and_end_of_archive() {
    assert_eq!(padding(0), 0);
    assert_eq!(padding(1), 511);
    assert_eq!(padding(511), 1);
    assert_eq!(padding(512), 0);
    assert_eq!(padding(513), 511);
    assert_eq!(padding(8 << 30), 0);
    assert_eq!(END_OF_ARCHIVE.len(), 1024);
    assert!(END_OF_ARCHIVE.iter().all(|&b| b == 0));
    assert_eq!(BLOCK, 512);
}

#[test]
fn rejects_what_go_rejects() {
    let mut out = Vec::new();
    let mut fails = |h: Header, want: TarError| {
        assert_eq!(encode_header(&h, &mut out), Err(want));
        assert!(out.is_empty(), "nothing written on error");
    };
    let s = |b: &str| b.to_string();

    fails(
        entry(b"a\0b", EntryType::Regular),
        TarError::NulInName(s("a\0b")),
    );
    let mut h = entry(b"l", EntryType::Symlink);
    h.linkname = b"t\0".to_vec();
    fails(h, TarError::NulInLinkname(s("t\0")));
    fails(
        entry(b"f/", EntryType::Regular),
        TarError::TrailingSlash(s("f/")),
    );
    fails(
        entry(b"p/", EntryType::Fifo),
        TarError::TrailingSlash(s("p/")),
    );
    let mut h = entry(b"f", EntryType::Regular);
    h.xattrs = vec![(b"user.a=b".to_vec(), b"v".to_vec())];
    fails(h.clone(), TarError::EqualsInXattrName(s("user.a=b")));
    h.xattrs = vec![(b"user.a\0".to_vec(), b"v".to_vec())];
    fails(h.clone(), TarError::NulInXattrName(s("user.a\0")));
    h.xattrs = vec![
        (b"user.a".to_vec(), b"1".to_vec()),
        (b"user.a".to_vec(), b"2".to_vec()),
    ];
    fails(h.clone(), TarError::DuplicateXattr(s("user.a")));
    h.xattrs = vec![(b"user.big".to_vec(), vec![0; 1 << 20])];
    fails(h, TarError::PaxTooLarge((1 << 20) + 31));
    let mut h = entry(b"d", EntryType::CharDevice);
    h.devminor = 0o10000000;
    fails(h, TarError::DeviceNumberTooLarge(0o10000000));

    // Symlinks and hard links may end in '/', as in Go.
    let mut h = entry(b"l/", EntryType::Symlink);
    h.linkname = b"d".to_vec();
    assert!(encode_header(&h, &mut Vec::new()).is_ok());
    let msg = TarError::EqualsInXattrName(s("a=b")).to_string();
    assert_eq!(msg, "xattr name \"a=b\" contains '='");
}

#[test]
fn output_is_appended() {
    let mut out = b"previous".to_vec();
    encode_header(&entry(b"f", EntryType::Regular), &mut out).unwrap();
    assert_eq!(out.len(), 8 + BLOCK);
    assert!(out.starts_with(b"previous"));
}
