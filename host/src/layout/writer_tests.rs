//! The blob writer gathers small writes and file copies into chunks without changing
//! the stream.

use std::io::Cursor;

use sha2::{Digest as _, Sha256};

use super::*;
use crate::layout::Layout;

/// Bytes that differ from position to position, so a misplaced chunk shows.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn writes_and_file_copies_keep_their_order_across_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = Layout::init(tmp.path().join("l")).unwrap();
    let mut writer = layout.layer_writer(Compression::None, None).unwrap();
    let mut expected = Vec::new();
    let put = |writer: &mut BlobWriter, expected: &mut Vec<u8>, bytes: Vec<u8>| {
        expected.extend_from_slice(&bytes);
        writer.write(bytes).unwrap();
    };
    for i in 0..3000 {
        put(&mut writer, &mut expected, pattern(100 + i % 7, i as u8));
    }
    put(&mut writer, &mut expected, pattern(3, 1));
    put(&mut writer, &mut expected, pattern(3 * CHUNK + 5, 2));
    put(&mut writer, &mut expected, pattern(CHUNK, 3));
    let file = pattern(CHUNK * 5 / 2 + 11, 4);
    writer
        .write_from(&mut Cursor::new(&file), file.len() as u64)
        .unwrap();
    expected.extend_from_slice(&file);
    put(&mut writer, &mut expected, pattern(512, 5));
    // Only `size` bytes of a longer source are taken.
    let longer = pattern(1000, 6);
    writer.write_from(&mut Cursor::new(&longer), 999).unwrap();
    expected.extend_from_slice(&longer[..999]);

    let written = writer.finish().unwrap();
    assert_eq!(written.uncompressed_size, expected.len() as u64);
    let blob = std::fs::read(&written.path).unwrap();
    assert!(blob == expected, "the stream changed");
    assert_eq!(
        written.diff_id,
        Digest::from_raw(&Sha256::digest(&expected))
    );
}

#[test]
fn a_source_that_ends_early_fails_with_what_it_had() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = Layout::init(tmp.path().join("l")).unwrap();
    let mut writer = layout.layer_writer(Compression::Gzip, None).unwrap();
    writer.write(pattern(10, 0)).unwrap();
    let short = pattern(CHUNK + 100, 1);
    let err = writer
        .write_from(&mut Cursor::new(&short), CHUNK as u64 * 2)
        .unwrap_err();
    assert!(
        matches!(err, CopyError::Ended(n) if n == CHUNK as u64 + 100),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("it ended after {} bytes", CHUNK + 100)
    );
}

/// CI builds (`CI=true`: `.ci/run` installs ISA-L's headers before building) compress
/// gzip layers with ISA-L, the implementation the benchmarks' figures are for.
#[test]
fn ci_builds_compress_gzip_layers_with_isal() {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        let deflate = gzip_deflate();
        assert!(
            deflate.describe().starts_with("ISA-L"),
            "under CI=true gzip layers must use ISA-L, not {}",
            deflate.describe()
        );
    }
}
