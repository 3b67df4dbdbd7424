//! Parallel gzip: the stream is cut into 1 MiB blocks that worker threads deflate at the
//! same time, each primed with the previous block's last 32 KiB as its dictionary and
//! ended with a sync flush, so the concatenation is one ordinary gzip member (the
//! technique `pigz` uses). The CRC-32 and size trailer are computed as the data passes.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use flate2::{Compress, Compression, FlushCompress, Status};

/// Uncompressed bytes per block.
pub const BLOCK: usize = 1 << 20;

/// Deflate's window: how much of the previous block primes the next.
const WINDOW: usize = 32 * 1024;

/// The gzip header: no name, no mtime, unknown OS (as Go and flate2 write it).
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// One block for a worker.
struct Job {
    index: u64,
    data: Vec<u8>,
    dictionary: Vec<u8>,
    last: bool,
}

type Done = (u64, io::Result<Vec<u8>>);

/// A gzip writer that compresses on several threads.
pub struct ParallelGzip<W: Write> {
    inner: W,
    block: Vec<u8>,
    tail: Vec<u8>,
    crc: crc32fast::Hasher,
    total: u64,
    jobs: Option<Sender<Job>>,
    done: Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
    submitted: u64,
    written: u64,
    waiting: BTreeMap<u64, Vec<u8>>,
    in_flight: u64,
}

impl<W: Write> std::fmt::Debug for ParallelGzip<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParallelGzip")
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

/// Deflate one block (raw, no header), sync-flushed unless it is the last.
fn deflate(job: &Job, level: Compression) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(level, false);
    if !job.dictionary.is_empty() {
        c.set_dictionary(&job.dictionary)
            .map_err(io::Error::other)?;
    }
    let flush = if job.last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(job.data.len() / 2 + 4096);
    loop {
        if out.capacity() - out.len() < 16 * 1024 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let consumed = usize::try_from(c.total_in()).unwrap_or(usize::MAX);
        let status = c
            .compress_vec(&job.data[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        let all_in = c.total_in() == job.data.len() as u64;
        match (job.last, status) {
            (true, Status::StreamEnd) => return Ok(out),
            (false, _) if all_in && out.len() < out.capacity() => return Ok(out),
            _ => {}
        }
    }
}

impl<W: Write> ParallelGzip<W> {
    /// Compress into `inner` at `level` on `threads` workers.
    pub fn new(mut inner: W, level: Compression, threads: usize) -> io::Result<Self> {
        inner.write_all(&HEADER)?;
        let (jobs_tx, jobs_rx) = channel::<Job>();
        let jobs_rx = Arc::new(Mutex::new(jobs_rx));
        let (done_tx, done_rx) = channel::<Done>();
        let workers = (0..threads.max(1))
            .map(|i| {
                let rx = Arc::clone(&jobs_rx);
                let tx = done_tx.clone();
                thread::Builder::new()
                    .name(format!("repack-gzip-{i}"))
                    .spawn(move || {
                        loop {
                            let job = match rx.lock() {
                                Ok(rx) => rx.recv(),
                                Err(_) => return,
                            };
                            let Ok(job) = job else { return };
                            if tx.send((job.index, deflate(&job, level))).is_err() {
                                return;
                            }
                        }
                    })
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(ParallelGzip {
            inner,
            block: Vec::with_capacity(BLOCK),
            tail: Vec::new(),
            crc: crc32fast::Hasher::new(),
            total: 0,
            jobs: Some(jobs_tx),
            done: done_rx,
            submitted: 0,
            written: 0,
            waiting: BTreeMap::new(),
            in_flight: 0,
            workers,
        })
    }

    /// Hand the current block to the workers.
    fn submit(&mut self, last: bool) -> io::Result<()> {
        let limit = 2 * self.workers.len() as u64;
        while self.in_flight >= limit {
            self.collect_one()?;
        }
        let data = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK));
        let dictionary = std::mem::take(&mut self.tail);
        self.tail = data[data.len().saturating_sub(WINDOW)..].to_vec();
        let job = Job {
            index: self.submitted,
            data,
            dictionary,
            last,
        };
        self.jobs
            .as_ref()
            .ok_or_else(|| io::Error::other("gzip stream already finished"))?
            .send(job)
            .map_err(|_| io::Error::other("gzip workers stopped"))?;
        self.submitted += 1;
        self.in_flight += 1;
        Ok(())
    }

    /// Wait for one finished block and write out whatever is now in order.
    fn collect_one(&mut self) -> io::Result<()> {
        let (index, result) = self
            .done
            .recv()
            .map_err(|_| io::Error::other("gzip workers stopped"))?;
        self.in_flight -= 1;
        self.waiting.insert(index, result?);
        while let Some(bytes) = self.waiting.remove(&self.written) {
            self.inner.write_all(&bytes)?;
            self.written += 1;
        }
        Ok(())
    }

    /// Compress what is left, write the trailer and return the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.submit(true)?;
        while self.in_flight > 0 {
            self.collect_one()?;
        }
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        let crc = self.crc.clone().finalize();
        self.inner.write_all(&crc.to_le_bytes())?;
        // ISIZE is the length modulo 2^32 by definition.
        self.inner
            .write_all(&((self.total & 0xffff_ffff) as u32).to_le_bytes())?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let take = buf.len().min(BLOCK - self.block.len());
        self.block.extend_from_slice(&buf[..take]);
        self.crc.update(&buf[..take]);
        self.total += take as u64;
        if self.block.len() == BLOCK {
            self.submit(false)?;
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

    /// Compressible but not trivial data.
    fn sample(len: usize) -> Vec<u8> {
        let mut x: u32 = 12345;
        (0..len)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                if i % 7 == 0 {
                    (x >> 24) as u8
                } else {
                    b"repack layer "[i % 13]
                }
            })
            .collect()
    }

    fn round_trip(data: &[u8]) -> Vec<u8> {
        let mut gz = ParallelGzip::new(Vec::new(), Compression::default(), 2).unwrap();
        for chunk in data.chunks(300_000) {
            gz.write_all(chunk).unwrap();
        }
        let out = gz.finish().unwrap();
        // A single-member reader: the output must be one gzip member, not several.
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&out[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        out
    }

    #[test]
    fn one_member_that_decodes_to_the_input() {
        for len in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 12345] {
            round_trip(&sample(len));
        }
    }

    #[test]
    fn blocks_cost_little_compared_with_one_stream() {
        let data = sample(6 * BLOCK);
        let parallel = round_trip(&data).len();
        let mut one = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        one.write_all(&data).unwrap();
        let single = one.finish().unwrap().len();
        assert!(
            parallel as f64 <= single as f64 * 1.01,
            "parallel {parallel} vs single {single}"
        );
    }
}
