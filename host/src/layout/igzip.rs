//! ISA-L's igzip as the block compressor of [`super::pgzip`], in builds that found
//! ISA-L (`cfg(repack_isal)`, see `build.rs`). At its level 3 it takes about a third
//! less CPU than libdeflate's level 1 for layers 1-2% larger (the README's
//! dependencies table gives the figures).

use std::io;

/// The level layers are compressed at: the fastest of igzip's levels whose output stays
/// within 5% of the size of umoci's gzip layers on real trees (level 2 made Debian's
/// 5.7% larger; level 3 4.1%, at 128 KiB members).
pub const LAYER_LEVEL: u32 = 3;

#[allow(unsafe_code)]
mod ffi {
    unsafe extern "C" {
        pub safe fn repack_igzip_level_buf_size(level: u32) -> u32;
        /// Reads `in_len` bytes at `input`, writes at most `out_cap` at `out`, uses
        /// `level_buf_size` bytes at `level_buf` as its working memory.
        pub fn repack_igzip_member(
            level: u32,
            input: *const u8,
            in_len: u32,
            out: *mut u8,
            out_cap: u32,
            level_buf: *mut u8,
            level_buf_size: u32,
        ) -> i64;
    }
}

/// One thread's igzip compressor: its level and that level's working memory.
#[derive(Debug)]
pub struct Igzip {
    level: u32,
    level_buf: Vec<u8>,
}

impl Igzip {
    /// A compressor at `level` (0-3).
    pub fn new(level: u32) -> io::Result<Self> {
        let size = ffi::repack_igzip_level_buf_size(level);
        if size == u32::MAX {
            return Err(io::Error::other(format!(
                "igzip has no compression level {level}"
            )));
        }
        Ok(Igzip {
            level,
            level_buf: vec![0; size as usize],
        })
    }

    /// Compress `data` into the start of `out` as one whole gzip member, growing `out`
    /// as needed (never shortening it); the member's length.
    pub fn member(&mut self, data: &[u8], out: &mut Vec<u8>) -> io::Result<usize> {
        let too_large = || io::Error::other("igzip: a block over 4 GiB");
        let in_len = u32::try_from(data.len()).map_err(|_| too_large())?;
        // Room for the data stored as it is, should it not compress: a 5-byte header
        // per stored block of at most 64 KiB, plus the gzip header and trailer.
        let bound = data.len() + 5 * (data.len() / 65_535 + 1) + 64;
        if out.len() < bound {
            out.resize(bound, 0);
        }
        let out_cap = u32::try_from(out.len()).map_err(|_| too_large())?;
        let level_buf_size = self.level_buf.len() as u32;
        // SAFETY: `data` is `in_len` readable bytes, `out` `out_cap` writable ones,
        // `level_buf` `level_buf_size` writable ones; igzip keeps no pointer past the
        // call (the stream struct lives on the shim's stack).
        #[allow(unsafe_code)]
        let n = unsafe {
            ffi::repack_igzip_member(
                self.level,
                data.as_ptr(),
                in_len,
                out.as_mut_ptr(),
                out_cap,
                self.level_buf.as_mut_ptr(),
                level_buf_size,
            )
        };
        usize::try_from(n).map_err(|_| io::Error::other(format!("igzip failed with error {n}")))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gunzip(member: &[u8]) -> Vec<u8> {
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(member)
            .read_to_end(&mut back)
            .unwrap();
        back
    }

    #[test]
    fn members_decode_to_their_input_at_every_level() {
        let text: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("{} ", i % 977).into_bytes())
            .collect();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let random: Vec<u8> = (0..150_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let mut out = Vec::new();
        for level in 0..=3 {
            let mut igzip = Igzip::new(level).unwrap();
            // The same buffer for every member: what an earlier one left in it is
            // not part of the next.
            for data in [&random, &b""[..], b"x", &text, &random] {
                let n = igzip.member(data, &mut out).unwrap();
                assert_eq!(
                    gunzip(&out[..n]),
                    data,
                    "level {level}, {} bytes",
                    data.len()
                );
            }
            // Random bytes fit the bound (stored), text shrinks.
            let n = igzip.member(&text, &mut out).unwrap();
            assert!(n < text.len() / 2, "level {level}: {n}");
        }
    }

    #[test]
    fn a_level_igzip_lacks_is_refused() {
        assert!(Igzip::new(4).is_err());
    }
}
