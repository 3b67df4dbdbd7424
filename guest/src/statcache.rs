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

use crate::bytes;
use crate::mtree::keywords::{hex, push_i64, push_u64};
use crate::tree::{Entry, FileReader, FsError, Kind, Metadata, Tree, Xattrs};

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

/// A parsed cache: entries sorted by key, looked up by binary search (a sorted list
/// costs one allocation where a map costs one per node, and nothing per lookup).
#[derive(Debug, Default, Clone)]
pub struct StatCache {
    digests: Vec<(Key, [u8; 32])>,
}

/// The decimal number at the start of `text` up to `end` (exclusive), and the rest
/// after `end`.
fn number(text: &[u8], end: u8) -> Option<(u64, &[u8])> {
    let stop = text.iter().position(|&b| b == end)?;
    let digits = &text[..stop];
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(d - b'0');
    }
    Some((n, &text[stop + 1..]))
}

/// A signed number of seconds, a `.`, nanoseconds, then `end`.
fn time(text: &[u8], end: u8) -> Option<((i64, u32), &[u8])> {
    let (negative, text) = match text.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (sec, text) = number(text, b'.')?;
    let (nsec, text) = number(text, end)?;
    let sec = i64::try_from(sec).ok()?;
    Some((
        (if negative { -sec } else { sec }, u32::try_from(nsec).ok()?),
        text,
    ))
}

fn parse_hex(text: &[u8]) -> Option<[u8; 32]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let bytes: &[u8; 64] = text.try_into().ok()?;
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *o = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

/// One line: `<ino> <size> <mtime> <ctime> <sha256-hex>`.
fn line(text: &[u8]) -> Option<(Key, [u8; 32])> {
    let (ino, rest) = number(text, b' ')?;
    let (size, rest) = number(rest, b' ')?;
    let ((ms, mn), rest) = time(rest, b' ')?;
    let ((cs, cn), rest) = time(rest, b' ')?;
    Some(((ino, size, ms, mn, cs, cn), parse_hex(rest)?))
}

impl StatCache {
    /// Parse cache text; anything malformed is a one-line reason (the caller then
    /// works without a cache).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            return Err("not a repack stat cache (unknown first line)".into());
        }
        // One allocation of the right size: a cache of millions of lines would
        // otherwise pass through doublings that hold up to twice the list.
        let mut digests = Vec::with_capacity(text.bytes().filter(|&b| b == b'\n').count());
        for (n, text) in lines.enumerate() {
            let entry =
                line(text.as_bytes()).ok_or_else(|| format!("line {}: malformed", n + 2))?;
            digests.push(entry);
        }
        // A later line for the same key wins: reversed, a stable sort puts it first of
        // its run, where dedup keeps it.
        digests.reverse();
        digests.sort_by_key(|e| e.0);
        digests.dedup_by(|later, first| later.0 == first.0);
        Ok(StatCache { digests })
    }

    /// The digest of a file with metadata `m`, when known.
    pub fn get(&self, m: &Metadata) -> Option<[u8; 32]> {
        let k = key(m);
        self.digests
            .binary_search_by(|(e, _)| e.cmp(&k))
            .ok()
            .map(|i| self.digests[i].1)
    }
}

/// The regular files of the directory listed last, sorted by name, each with the
/// metadata the listing gave (taken when its digest is asked for).
#[derive(Debug, Default)]
struct Listing {
    dir: Vec<u8>,
    files: Vec<(Vec<u8>, Option<Metadata>)>,
}

/// A [`Tree`] that answers `digest` from a [`StatCache`] when it can and records every
/// regular file's digest for the next cache.
///
/// The key is the metadata the directory listing gave. A walk asks for the digests of a
/// directory's files right after listing it, so only the last listing is kept; a file
/// outside it is hashed by the inner tree and not recorded.
pub struct Cached<'a> {
    inner: &'a dyn Tree,
    cache: &'a StatCache,
    seen: RefCell<Listing>,
    /// Digests recorded, for a cache whose racy limit is not known yet.
    recorded: RefCell<Vec<(Key, [u8; 32])>>,
    /// The racy limit (nanoseconds), when known from the start: then every digest is
    /// written into `text` as it is recorded.
    limit: Option<i64>,
    /// Cache text not taken yet.
    text: RefCell<String>,
    hits: RefCell<u64>,
}

impl std::fmt::Debug for Cached<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached").finish_non_exhaustive()
    }
}

impl<'a> Cached<'a> {
    /// Wrap `inner`, consulting `cache`; the new cache's text comes from
    /// [`Cached::finish`].
    pub fn new(inner: &'a dyn Tree, cache: &'a StatCache) -> Self {
        Cached {
            inner,
            cache,
            seen: RefCell::new(Listing::default()),
            recorded: RefCell::new(Vec::new()),
            limit: None,
            text: RefCell::new(String::new()),
            hits: RefCell::new(0),
        }
    }

    /// Wrap `inner`, consulting `cache`, and write the new cache's text as digests are
    /// recorded (leaving out those whose ctime is within `racy_ns` of `now_ns`, a time
    /// taken before the walk began), to be taken in pieces with [`Cached::take_text`]:
    /// a cache of millions of files is never whole in memory.
    pub fn streaming(inner: &'a dyn Tree, cache: &'a StatCache, now_ns: i64, racy_ns: u64) -> Self {
        let mut cached = Cached::new(inner, cache);
        cached.limit = Some(racy_limit(now_ns, racy_ns));
        cached.text = RefCell::new(format!("{MAGIC}\n"));
        cached
    }

    /// The cache text written since the last call (streaming only).
    pub fn take_text(&self) -> String {
        std::mem::take(&mut *self.text.borrow_mut())
    }

    /// Bytes of cache text waiting for [`Cached::take_text`].
    pub fn pending_text(&self) -> usize {
        self.text.borrow().len()
    }

    fn record(&self, m: &Metadata, digest: [u8; 32]) {
        match self.limit {
            Some(limit) => push_line(&mut self.text.borrow_mut(), &key(m), &digest, limit),
            None => self.recorded.borrow_mut().push((key(m), digest)),
        }
    }

    /// Remember the metadata of the regular files listed in the directory `dir`: their
    /// digests are looked up by it.
    fn see<'e>(&self, dir: &[u8], entries: impl Iterator<Item = &'e Entry>) {
        let mut seen = self.seen.borrow_mut();
        seen.dir.clear();
        seen.dir.extend_from_slice(dir);
        seen.files.clear();
        seen.files.extend(
            entries
                .filter(|e| e.meta.kind == Kind::Regular)
                .map(|e| (e.name.clone(), Some(e.meta))),
        );
        seen.files.sort_unstable_by(|a, b| bytes::cmp(&a.0, &b.0));
    }

    /// The listed metadata of the regular file at `path`, once.
    fn take_seen(&self, path: &[u8]) -> Option<Metadata> {
        let (dir, name) = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => (&b""[..], path),
        };
        let mut seen = self.seen.borrow_mut();
        if seen.dir != dir {
            return None;
        }
        let i = seen
            .files
            .binary_search_by(|(n, _)| bytes::cmp(n, name))
            .ok()?;
        seen.files[i].1.take()
    }

    /// How many digests came from the cache.
    pub fn hits(&self) -> u64 {
        *self.hits.borrow()
    }

    /// The cache text for everything hashed or reused, leaving out entries whose ctime
    /// is within `racy_ns` of `now_ns` (a time taken before the walk began). When
    /// streaming, the text not taken yet (the window given then applies).
    pub fn finish(self, now_ns: i64, racy_ns: u64) -> String {
        if self.limit.is_some() {
            return self.text.into_inner();
        }
        let limit = racy_limit(now_ns, racy_ns);
        let mut out = String::from(MAGIC);
        out.push('\n');
        for (key, digest) in self.recorded.into_inner() {
            push_line(&mut out, &key, &digest, limit);
        }
        out
    }
}

/// The latest ctime (nanoseconds) a cached entry may have: `racy_ns` before `now_ns`.
fn racy_limit(now_ns: i64, racy_ns: u64) -> i64 {
    now_ns.saturating_sub(i64::try_from(racy_ns).unwrap_or(i64::MAX))
}

/// Append the cache line of `key`, unless its ctime is later than `limit`.
fn push_line(out: &mut String, key: &Key, digest: &[u8; 32], limit: i64) {
    let &(ino, size, mtime_sec, mtime_nsec, ctime_sec, ctime_nsec) = key;
    let ctime_ns = ctime_sec
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(ctime_nsec));
    if ctime_ns > limit {
        return;
    }
    push_u64(out, ino);
    out.push(' ');
    push_u64(out, size);
    for (sec, nsec) in [(mtime_sec, mtime_nsec), (ctime_sec, ctime_nsec)] {
        out.push(' ');
        push_i64(out, sec);
        out.push('.');
        push_u64(out, nsec.into());
    }
    out.push(' ');
    out.push_str(&hex(digest));
    out.push('\n');
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
        let Some(meta) = self.take_seen(path) else {
            return self.inner.digest(path);
        };
        let digest = match self.cache.get(&meta) {
            Some(d) => {
                *self.hits.borrow_mut() += 1;
                d
            }
            None => self.inner.digest(path)?,
        };
        self.record(&meta, digest);
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
    fn streamed_text_is_the_text_finish_gives() {
        let t = tree();
        let empty = StatCache::default();
        for now in [1_000_010_000_000, 1_000_060_000_000] {
            let whole = Cached::new(&t, &empty);
            mtree::manifest(&whole, &mtree::Header::default()).unwrap();
            let whole = whole.finish(now, RACY);
            let streamed = Cached::streaming(&t, &empty, now, RACY);
            let mut text = String::new();
            mtree::manifest_to::<mtree::WalkError>(
                &streamed,
                &mtree::Header::default(),
                1,
                &mut |_| {
                    text.push_str(&streamed.take_text());
                    Ok(())
                },
            )
            .unwrap();
            text.push_str(&streamed.finish(0, 0));
            assert_eq!(text, whole);
        }
    }

    #[test]
    fn lines_are_found_by_key_and_a_later_line_wins() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let c = "c".repeat(64);
        let text = format!("{MAGIC}\n9 1 5.1 6.2 {a}\n3 7 -5.0 8.999999999 {b}\n9 1 5.1 6.2 {c}\n");
        let cache = StatCache::parse(&text).unwrap();
        let mut m = meta(Kind::Regular, 0o644);
        (
            m.ino,
            m.size,
            m.mtime_sec,
            m.mtime_nsec,
            m.ctime_sec,
            m.ctime_nsec,
        ) = (9, 1, 5, 1, 6, 2);
        assert_eq!(cache.get(&m), Some([0xcc; 32]));
        (
            m.ino,
            m.size,
            m.mtime_sec,
            m.mtime_nsec,
            m.ctime_sec,
            m.ctime_nsec,
        ) = (3, 7, -5, 0, 8, 999_999_999);
        assert_eq!(cache.get(&m), Some([0xbb; 32]));
        m.ctime_nsec = 0;
        assert_eq!(cache.get(&m), None);
    }

    #[test]
    fn corrupt_caches_are_refused() {
        assert!(StatCache::parse("").is_err());
        assert!(StatCache::parse("repack-statcache 1\n1 2 3 4 5\n").is_err());
        assert!(StatCache::parse("repack-statcache 1\n1 2 3.0 4.0 zz\n").is_err());
        let digest = "0".repeat(64);
        for bad in [
            format!("1 2 3.0 4.0 {digest} extra"),
            format!("1 2 3. 4.0 {digest}"),
            format!("1 -2 3.0 4.0 {digest}"),
            format!("1 2 3.0 4.99999999999 {digest}"),
            format!("x 2 3.0 4.0 {digest}"),
        ] {
            assert!(
                StatCache::parse(&format!("{MAGIC}\n{bad}\n")).is_err(),
                "{bad}"
            );
        }
        assert!(StatCache::parse("repack-statcache 1\n").is_ok());
    }
}
