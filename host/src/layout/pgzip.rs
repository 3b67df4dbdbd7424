//! Parallel gzip: the stream is cut into [`BLOCK`]-sized blocks that worker threads
//! compress at the same time, each into a complete gzip member (with ISA-L's igzip in
//! builds that found it, else with libdeflate: [`Deflate`]); the
//! members are written in order. A gzip file may hold any number of members, and every
//! gzip reader in the container world (Go's, which umoci, skopeo and containerd use;
//! GNU gzip; zlib's) reads them as one stream.
//!
//! Memory stays flat whatever the layer's size: at most one block more than there are
//! workers is out (being compressed, or compressed and waiting to be written in
//! order), and the block and output buffers are allocated once and passed back and
//! forth between the writer and the workers.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use libdeflater::{CompressionLvl, Compressor};

/// Uncompressed bytes per block: smaller blocks spread a layer over the workers sooner,
/// larger ones lose less to matches that cannot cross a member boundary (the README's
/// Architecture section gives the size).
pub const BLOCK: usize = 128 << 10;

/// A block and the buffer its member is compressed into.
struct Buffers {
    data: Vec<u8>,
    /// The member is its first `member_len` bytes. It is never shortened, so a buffer
    /// passed back and forth is zeroed only where it first grows.
    member: Vec<u8>,
    member_len: usize,
}

/// One block for a worker.
struct Job {
    index: u64,
    buffers: Buffers,
}

/// A finished block: its index, its buffers, the outcome and the time it took.
type Done = (u64, Buffers, io::Result<()>, Duration);

/// A gzip writer that compresses on several threads.
pub struct ParallelGzip<W: Write> {
    inner: W,
    block: Vec<u8>,
    total: u64,
    jobs: Option<Sender<Job>>,
    done: Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
    submitted: u64,
    written: u64,
    waiting: BTreeMap<u64, Buffers>,
    free: Vec<Buffers>,
    busy: Duration,
}

impl<W: Write> std::fmt::Debug for ParallelGzip<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParallelGzip")
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

/// The deflate implementation and level blocks are compressed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deflate {
    /// libdeflate at this level (0-12).
    Libdeflate(i32),
    /// ISA-L's igzip at this level (0-3).
    #[cfg(repack_isal)]
    Igzip(u32),
}

impl Deflate {
    /// What layers are compressed with: igzip at [`super::igzip::LAYER_LEVEL`] where
    /// the build found ISA-L, else libdeflate at `fallback_level`.
    pub fn for_layers(fallback_level: i32) -> Self {
        #[cfg(repack_isal)]
        {
            let _ = fallback_level;
            Deflate::Igzip(super::igzip::LAYER_LEVEL)
        }
        #[cfg(not(repack_isal))]
        Deflate::Libdeflate(fallback_level)
    }

    /// Its name and level, as `--version` and `--stats` print them.
    pub fn describe(self) -> String {
        match self {
            Deflate::Libdeflate(level) => format!("libdeflate level {level}"),
            #[cfg(repack_isal)]
            Deflate::Igzip(level) => format!("ISA-L igzip level {level}"),
        }
    }
}

/// A block compressor at its level.
enum Main {
    Libdeflate(Compressor),
    #[cfg(repack_isal)]
    Igzip(super::igzip::Igzip),
}

/// One worker's compressors.
struct Compressors {
    /// At the chosen level.
    main: Main,
    /// Level 1, for trying samples of a block.
    probe: Compressor,
    /// Level 0: stored blocks.
    store: Compressor,
    /// The probe's output.
    scratch: Vec<u8>,
}

/// Bytes in each of the three samples [`incompressible`] tries.
const SAMPLE: usize = 4096;

impl Compressors {
    fn new(deflate: Deflate) -> io::Result<Self> {
        let at = |l| CompressionLvl::new(l).unwrap_or(CompressionLvl::fastest());
        let main = match deflate {
            Deflate::Libdeflate(level) => Main::Libdeflate(Compressor::new(
                CompressionLvl::new(level)
                    .map_err(|e| io::Error::other(format!("gzip level {level}: {e:?}")))?,
            )),
            #[cfg(repack_isal)]
            Deflate::Igzip(level) => Main::Igzip(super::igzip::Igzip::new(level)?),
        };
        let mut probe = Compressor::new(at(1));
        let scratch = vec![0u8; probe.deflate_compress_bound(SAMPLE)];
        Ok(Compressors {
            main,
            probe,
            store: Compressor::new(at(0)),
            scratch,
        })
    }

    /// Whether `data` looks like it will not compress (already compressed or random
    /// bytes): samples from its start, middle and end each shrink by less than 2% at
    /// level 1. Such a block is stored rather than searched for matches it does not
    /// have, as zstd and Go's pgzip skip incompressible input too; a block that only
    /// looks incompressible in all three places costs at most its own compression.
    fn incompressible(&mut self, data: &[u8]) -> bool {
        if data.len() < 4 * SAMPLE {
            return false;
        }
        let middle = data.len() / 2 - SAMPLE / 2;
        [0, middle, data.len() - SAMPLE].into_iter().all(|at| {
            let sample = &data[at..at + SAMPLE];
            match self.probe.deflate_compress(sample, &mut self.scratch) {
                Ok(n) => n * 50 >= SAMPLE * 49,
                Err(_) => true,
            }
        })
    }
}

/// Compress `buffers.data` into `buffers.member` as one whole gzip member.
fn member(compressors: &mut Compressors, buffers: &mut Buffers) -> io::Result<()> {
    let compressor = if compressors.incompressible(&buffers.data) {
        &mut compressors.store
    } else {
        match &mut compressors.main {
            Main::Libdeflate(compressor) => compressor,
            #[cfg(repack_isal)]
            Main::Igzip(igzip) => {
                buffers.member_len = igzip.member(&buffers.data, &mut buffers.member)?;
                return Ok(());
            }
        }
    };
    let bound = compressor.gzip_compress_bound(buffers.data.len());
    if buffers.member.len() < bound {
        buffers.member.resize(bound, 0);
    }
    buffers.member_len = compressor
        .gzip_compress(&buffers.data, &mut buffers.member)
        .map_err(|e| io::Error::other(format!("gzip: {e:?}")))?;
    Ok(())
}

impl<W: Write> ParallelGzip<W> {
    /// Compress into `inner` with `deflate` on `threads` workers.
    pub fn new(inner: W, deflate: Deflate, threads: usize) -> io::Result<Self> {
        Self::counting(inner, deflate, threads, Arc::default())
    }

    /// Like [`ParallelGzip::new`], adding the CPU time of each worker thread to `cpu`
    /// (nanoseconds) as it ends.
    pub fn counting(
        inner: W,
        deflate: Deflate,
        threads: usize,
        cpu: Arc<AtomicU64>,
    ) -> io::Result<Self> {
        // A level the implementation lacks fails here, not in a worker.
        drop(Compressors::new(deflate)?);
        let (jobs_tx, jobs_rx) = channel::<Job>();
        let jobs_rx = Arc::new(Mutex::new(jobs_rx));
        let (done_tx, done_rx) = channel::<Done>();
        let workers = (0..threads.max(1))
            .map(|i| {
                let rx = Arc::clone(&jobs_rx);
                let tx = done_tx.clone();
                let cpu = Arc::clone(&cpu);
                thread::Builder::new()
                    .name(format!("repack-gzip-{i}"))
                    .spawn(move || {
                        let _cpu = crate::cpu::CountOnExit(&cpu);
                        let Ok(mut compressors) = Compressors::new(deflate) else {
                            return;
                        };
                        loop {
                            let job = match rx.lock() {
                                Ok(rx) => rx.recv(),
                                Err(_) => return,
                            };
                            let Ok(mut job) = job else { return };
                            let start = Instant::now();
                            let result = member(&mut compressors, &mut job.buffers);
                            let done = (job.index, job.buffers, result, start.elapsed());
                            if tx.send(done).is_err() {
                                return;
                            }
                        }
                    })
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(ParallelGzip {
            inner,
            block: Vec::with_capacity(BLOCK),
            total: 0,
            jobs: Some(jobs_tx),
            done: done_rx,
            submitted: 0,
            written: 0,
            waiting: BTreeMap::new(),
            free: Vec::new(),
            busy: Duration::ZERO,
            workers,
        })
    }

    /// Hand the current block to the workers.
    fn submit(&mut self) -> io::Result<()> {
        // Blocks handed out but not yet written, whether still being compressed or
        // done and waiting for an earlier one: one more than there are workers keeps
        // every worker busy, and bounds the buffers however unevenly blocks take.
        while self.submitted - self.written > self.workers.len() as u64 {
            self.collect_one()?;
        }
        let spare = self.free.pop().unwrap_or_else(|| Buffers {
            data: Vec::with_capacity(BLOCK),
            member: Vec::new(),
            member_len: 0,
        });
        let buffers = Buffers {
            data: std::mem::replace(&mut self.block, spare.data),
            member: spare.member,
            member_len: 0,
        };
        let job = Job {
            index: self.submitted,
            buffers,
        };
        self.jobs
            .as_ref()
            .ok_or_else(|| io::Error::other("gzip stream already finished"))?
            .send(job)
            .map_err(|_| io::Error::other("gzip workers stopped"))?;
        self.submitted += 1;
        Ok(())
    }

    /// Wait for one finished block and write out whatever is now in order.
    fn collect_one(&mut self) -> io::Result<()> {
        let (index, buffers, result, time) = self
            .done
            .recv()
            .map_err(|_| io::Error::other("gzip workers stopped"))?;
        self.busy += time;
        result?;
        self.waiting.insert(index, buffers);
        while let Some(mut buffers) = self.waiting.remove(&self.written) {
            self.inner
                .write_all(&buffers.member[..buffers.member_len])?;
            self.written += 1;
            buffers.data.clear();
            self.free.push(buffers);
        }
        Ok(())
    }

    /// Compress what is left; return the inner writer and the time the workers spent
    /// compressing, added up.
    pub fn finish(mut self) -> io::Result<(W, Duration)> {
        // The last member; an empty stream still becomes one (empty) member.
        if !self.block.is_empty() || self.submitted == 0 {
            self.submit()?;
        }
        while self.written < self.submitted {
            self.collect_one()?;
        }
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        Ok((self.inner, self.busy))
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let take = buf.len().min(BLOCK - self.block.len());
        self.block.extend_from_slice(&buf[..take]);
        self.total += take as u64;
        if self.block.len() == BLOCK {
            self.submit()?;
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// Text-like data: random words from a small vocabulary.
    fn sample(len: usize) -> Vec<u8> {
        const WORDS: [&str; 16] = [
            "repack", "layer", "image", "bundle", "rootfs", "manifest", "config", "digest",
            "whiteout", "tar", "gzip", "zstd", "blob", "index", "tag", "mtree",
        ];
        let mut x: u32 = 12345;
        let mut out = Vec::with_capacity(len + 16);
        while out.len() < len {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            out.extend_from_slice(WORDS[(x >> 16) as usize % WORDS.len()].as_bytes());
            out.push(if x.is_multiple_of(11) { b'\n' } else { b' ' });
        }
        out.truncate(len);
        out
    }

    /// Every implementation this build has, at the levels used.
    fn every_deflate() -> Vec<Deflate> {
        let all = [
            Deflate::Libdeflate(1),
            Deflate::Libdeflate(6),
            #[cfg(repack_isal)]
            Deflate::Igzip(1),
            #[cfg(repack_isal)]
            Deflate::Igzip(3),
        ]
        .to_vec();
        assert!(all.contains(&Deflate::for_layers(1)));
        all
    }

    fn round_trip(data: &[u8]) -> Vec<u8> {
        every_deflate()
            .into_iter()
            .map(|deflate| round_trip_with(deflate, data))
            .max_by_key(Vec::len)
            .unwrap()
    }

    fn round_trip_with(deflate: Deflate, data: &[u8]) -> Vec<u8> {
        let mut gz = ParallelGzip::new(Vec::new(), deflate, 2).unwrap();
        for chunk in data.chunks(300_000) {
            gz.write_all(chunk).unwrap();
        }
        let (out, _) = gz.finish().unwrap();
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(&out[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        out
    }

    #[test]
    fn members_that_decode_to_the_input() {
        for len in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 12345] {
            round_trip(&sample(len));
        }
    }

    #[test]
    fn a_level_the_implementation_lacks_fails_at_once() {
        assert!(ParallelGzip::new(Vec::new(), Deflate::Libdeflate(13), 2).is_err());
        #[cfg(repack_isal)]
        assert!(ParallelGzip::new(Vec::new(), Deflate::Igzip(4), 2).is_err());
    }

    #[test]
    fn random_blocks_are_stored_and_text_is_compressed() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let random: Vec<u8> = (0..3 * BLOCK)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let mut compressors = Compressors::new(Deflate::Libdeflate(4)).unwrap();
        assert!(compressors.incompressible(&random[..BLOCK]));
        assert!(!compressors.incompressible(&sample(BLOCK)));
        // Random bytes come out barely larger (stored blocks), text much smaller, and
        // both decode to the input.
        let out = round_trip(&random);
        assert!(
            out.len() < random.len() + random.len() / 100,
            "{}",
            out.len()
        );
        let mut mixed = sample(BLOCK);
        mixed.extend_from_slice(&random[..BLOCK]);
        mixed.extend_from_slice(&sample(BLOCK));
        assert!(round_trip(&mixed).len() < 2 * BLOCK);
    }

    #[test]
    fn blocks_cost_little_compared_with_one_zlib_stream() {
        // Real data: this test program's own machine code.
        let mut data = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        data.truncate(6 * BLOCK);
        let parallel = round_trip_with(Deflate::Libdeflate(6), &data).len();
        let mut one = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        one.write_all(&data).unwrap();
        let single = one.finish().unwrap().len();
        // Independent members lose a little against one stream.
        assert!(
            parallel as f64 <= single as f64 * 1.05,
            "parallel {parallel} vs single {single}"
        );
    }
}
