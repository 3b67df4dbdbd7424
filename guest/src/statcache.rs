//! The stat cache: `(inode, size, mtime, ctime) -> sha256` of a rootfs's regular
//! files, kept in the bundle so a repack does not re-read files whose status has not
//! changed since they were last hashed.
//!
//! A file's content cannot change without its ctime changing, so an entry whose four
//! values all match is the file's current digest. The kernel stamps ctime from a coarse
//! clock, though: a write in the same tick as the one that set the recorded ctime would
//! leave it unchanged. Entries are therefore only stored when the ctime is older than a
//! time taken before the walk began by more than the racy window the host passes (the
//! "racy" case git also guards against). A missing, stale or
//! corrupt cache only costs hashing; it never changes a result.
//!
//! Text format: a first line `repack-statcache 1`, then one line per file:
//! `<ino> <size> <mtime-sec>.<mtime-nsec> <ctime-sec>.<ctime-nsec> <sha256-hex>`.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::mtree::keywords::{hex, push_i64, push_u64};
use crate::tree::{Entry, FileReader, FsError, Kind, Metadata, Tree, Xattrs, join};

/// The first line of a cache file.
const MAGIC: &str = "repack-statcache 1";

/// What identifies one version of a file's content.
type Key = (u64, u64, i64, u32, i64, u32);

fn key(m: &Metadata) -> Key {
    (
        m.ino,
        m.size,
        m.mtime_sec,
        m.mtime_nsec,
        m.ctime_sec,
        m.ctime_nsec,
    )
}

/// A parsed cache.
#[derive(Debug, Default, Clone)]
pub struct StatCache {
    digests: BTreeMap<Key, [u8; 32]>,
}

fn parse_time(text: &str) -> Option<(i64, u32)> {
    let (s, ns) = text.split_once('.')?;
    Some((s.parse().ok()?, ns.parse().ok()?))
}

fn parse_hex(text: &str) -> Option<[u8; 32]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let bytes: &[u8; 64] = text.as_bytes().try_into().ok()?;
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *o = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

impl StatCache {
    /// Parse cache text; anything malformed is a one-line reason (the caller then
    /// works without a cache).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            return Err("not a repack stat cache (unknown first line)".into());
        }
        let mut digests = BTreeMap::new();
        for (n, line) in lines.enumerate() {
            let bad = || format!("line {}: malformed", n + 2);
            let mut f = line.split(' ');
            let (Some(ino), Some(size), Some(mtime), Some(ctime), Some(digest), None) =
                (f.next(), f.next(), f.next(), f.next(), f.next(), f.next())
            else {
                return Err(bad());
            };
            let (ms, mn) = parse_time(mtime).ok_or_else(bad)?;
            let (cs, cn) = parse_time(ctime).ok_or_else(bad)?;
            let k = (
                ino.parse().map_err(|_| bad())?,
                size.parse().map_err(|_| bad())?,
                ms,
                mn,
                cs,
                cn,
            );
            digests.insert(k, parse_hex(digest).ok_or_else(bad)?);
        }
        Ok(StatCache { digests })
    }

    /// The digest of a file with metadata `m`, when known.
    pub fn get(&self, m: &Metadata) -> Option<[u8; 32]> {
        self.digests.get(&key(m)).copied()
    }
}

/// A [`Tree`] that answers `digest` from a [`StatCache`] when it can and records every
/// regular file's digest for the next cache.
pub struct Cached<'a> {
    inner: &'a dyn Tree,
    cache: &'a StatCache,
    seen: RefCell<BTreeMap<Vec<u8>, Metadata>>,
    recorded: RefCell<Vec<(Metadata, [u8; 32])>>,
    hits: RefCell<u64>,
}

impl std::fmt::Debug for Cached<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached").finish_non_exhaustive()
    }
}

impl<'a> Cached<'a> {
    /// Wrap `inner`, consulting `cache`.
    pub fn new(inner: &'a dyn Tree, cache: &'a StatCache) -> Self {
        Cached {
            inner,
            cache,
            seen: RefCell::new(BTreeMap::new()),
            recorded: RefCell::new(Vec::new()),
            hits: RefCell::new(0),
        }
    }

    /// Remember the metadata of the regular files listed in the directory `dir`: their
    /// digests are looked up by it.
    fn see<'e>(&self, dir: &[u8], entries: impl Iterator<Item = &'e Entry>) {
        let mut seen = self.seen.borrow_mut();
        for e in entries.filter(|e| e.meta.kind == Kind::Regular) {
            seen.insert(join(dir, &e.name), e.meta);
        }
    }

    /// How many digests came from the cache.
    pub fn hits(&self) -> u64 {
        *self.hits.borrow()
    }

    /// The cache text for everything hashed or reused, leaving out entries whose ctime
    /// is within `racy_ns` of `now_ns` (a time taken before the walk began).
    pub fn finish(self, now_ns: i64, racy_ns: u64) -> String {
        let racy_ns = i64::try_from(racy_ns).unwrap_or(i64::MAX);
        let mut out = String::from(MAGIC);
        out.push('\n');
        for (m, digest) in self.recorded.into_inner() {
            let ctime_ns = m
                .ctime_sec
                .saturating_mul(1_000_000_000)
                .saturating_add(i64::from(m.ctime_nsec));
            if ctime_ns > now_ns.saturating_sub(racy_ns) {
                continue;
            }
            push_u64(&mut out, m.ino);
            out.push(' ');
            push_u64(&mut out, m.size);
            for (sec, nsec) in [(m.mtime_sec, m.mtime_nsec), (m.ctime_sec, m.ctime_nsec)] {
                out.push(' ');
                push_i64(&mut out, sec);
                out.push('.');
                push_u64(&mut out, nsec.into());
            }
            out.push(' ');
            out.push_str(&hex(&digest));
            out.push('\n');
        }
        out
    }
}

impl Tree for Cached<'_> {
    fn metadata(&self, path: &[u8]) -> Result<Metadata, FsError> {
        self.inner.metadata(path)
    }

    fn read_dir(&self, path: &[u8]) -> Result<Vec<Entry>, FsError> {
        let entries = self.inner.read_dir(path)?;
        self.see(path, entries.iter());
        Ok(entries)
    }

    fn read_dir_xattrs(&self, path: &[u8]) -> Result<Vec<(Entry, Xattrs)>, FsError> {
        let entries = self.inner.read_dir_xattrs(path)?;
        self.see(path, entries.iter().map(|(e, _)| e));
        Ok(entries)
    }

    fn read_link(&self, path: &[u8]) -> Result<Vec<u8>, FsError> {
        self.inner.read_link(path)
    }

    fn xattrs(&self, path: &[u8]) -> Result<Xattrs, FsError> {
        self.inner.xattrs(path)
    }

    fn digest(&self, path: &[u8]) -> Result<[u8; 32], FsError> {
        let meta = self.seen.borrow_mut().remove(path);
        let Some(meta) = meta else {
            return self.inner.digest(path);
        };
        let digest = match self.cache.get(&meta) {
            Some(d) => {
                *self.hits.borrow_mut() += 1;
                d
            }
            None => self.inner.digest(path)?,
        };
        self.recorded.borrow_mut().push((meta, digest));
        Ok(digest)
    }

    fn open_read(&self, path: &[u8]) -> Result<Box<dyn FileReader + '_>, FsError> {
        self.inner.open_read(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mtree;
    use crate::tree::mem::{MemTree, meta};

    /// The racy window the host passes: 20 ms.
    const RACY: u64 = 20_000_000;

    /// Counts the digests the inner tree computes.
    struct Counting<'a>(&'a MemTree, RefCell<u64>);

    impl Tree for Counting<'_> {
        fn metadata(&self, p: &[u8]) -> Result<Metadata, FsError> {
            self.0.metadata(p)
        }
        fn read_dir(&self, p: &[u8]) -> Result<Vec<Entry>, FsError> {
            self.0.read_dir(p)
        }
        fn read_link(&self, p: &[u8]) -> Result<Vec<u8>, FsError> {
            self.0.read_link(p)
        }
        fn xattrs(&self, p: &[u8]) -> Result<Xattrs, FsError> {
            self.0.xattrs(p)
        }
        fn digest(&self, p: &[u8]) -> Result<[u8; 32], FsError> {
            *self.1.borrow_mut() += 1;
            self.0.digest(p)
        }
        fn open_read(&self, p: &[u8]) -> Result<Box<dyn FileReader + '_>, FsError> {
            self.0.open_read(p)
        }
    }

    fn tree() -> MemTree {
        let mut t = MemTree::new();
        t.insert(b"a", meta(Kind::Regular, 0o644), b"one");
        t.insert(b"d", meta(Kind::Directory, 0o755), b"");
        t.insert(b"d/b", meta(Kind::Regular, 0o644), b"two");
        t
    }

    #[test]
    fn a_warm_cache_hashes_nothing_and_gives_the_same_manifest() {
        let t = tree();
        let header = mtree::Header::default();
        let cold_inner = Counting(&t, RefCell::new(0));
        let empty = StatCache::default();
        let cold = Cached::new(&cold_inner, &empty);
        let m1 = mtree::manifest(&cold, &header).unwrap();
        assert_eq!(*cold_inner.1.borrow(), 2);
        let text = cold.finish(5_000_000_000_000, RACY);
        let cache = StatCache::parse(&text).unwrap();
        let warm_inner = Counting(&t, RefCell::new(0));
        let warm = Cached::new(&warm_inner, &cache);
        let m2 = mtree::manifest(&warm, &header).unwrap();
        assert_eq!(m1, m2);
        assert_eq!(*warm_inner.1.borrow(), 0);
        assert_eq!(warm.hits(), 2);
    }

    #[test]
    fn a_changed_ctime_or_racy_entry_is_hashed_again() {
        let mut t = tree();
        let empty = StatCache::default();
        let cold = Cached::new(&t, &empty);
        mtree::manifest(&cold, &mtree::Header::default()).unwrap();
        // A walk that began 10 ms after the files' ctime (second 1000): racy, not kept.
        assert_eq!(cold.finish(1_000_010_000_000, RACY).lines().count(), 1);
        let cold = Cached::new(&t, &empty);
        mtree::manifest(&cold, &mtree::Header::default()).unwrap();
        let cache = StatCache::parse(&cold.finish(1_000_060_000_000, RACY)).unwrap();
        t.nodes.get_mut(&b"a"[..]).unwrap().meta.ctime_nsec = 1;
        t.nodes.get_mut(&b"a"[..]).unwrap().data = b"new".to_vec();
        let inner = Counting(&t, RefCell::new(0));
        let warm = Cached::new(&inner, &cache);
        let m = mtree::manifest(&warm, &mtree::Header::default()).unwrap();
        assert_eq!(*inner.1.borrow(), 1, "only the changed file is hashed");
        assert!(m.contains(&hex(&crate::tree::mem::fake_digest(b"new"))));
    }

    #[test]
    fn corrupt_caches_are_refused() {
        assert!(StatCache::parse("").is_err());
        assert!(StatCache::parse("repack-statcache 1\n1 2 3 4 5\n").is_err());
        assert!(StatCache::parse("repack-statcache 1\n1 2 3.0 4.0 zz\n").is_err());
        assert!(StatCache::parse("repack-statcache 1\n").is_ok());
    }
}
