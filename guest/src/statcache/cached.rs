//! A [`Tree`] that answers from a [`StatCache`] and writes the next one.

use std::cell::{Cell, RefCell};

use super::fingerprint::{self, Fingerprint, Fingerprinter};
use super::{Known, MAGIC, StatCache, push_line, push_trailer};
use crate::bytes;
use crate::mtree::{Event, Header, WalkError, Writer, walk};
use crate::tree::{Entry, FileReader, FsError, Kind, Metadata, Tree, Xattrs};

/// The regular files of the directory listed last, sorted by name, each with the
/// metadata the listing gave (taken when its digest is asked for).
#[derive(Debug, Default)]
struct Listing {
    dir: Vec<u8>,
    files: Vec<(Vec<u8>, Option<Metadata>)>,
}

/// The object looked at last, its fingerprint, what the old cache knows of it and the
/// digest given for it: the walk asks about an object, maybe hashes it, then records
/// it, one object at a time.
#[derive(Debug, Default)]
struct Last {
    path: Vec<u8>,
    meta: Option<Metadata>,
    fingerprint: Fingerprint,
    known: Option<Known>,
    digest: Option<[u8; 32]>,
}

/// A [`Tree`] that answers `digest` from a [`StatCache`] when it can, says which
/// objects the cache vouches for, and writes the new cache's text as the walk records
/// each object.
///
/// A digest is looked up by the state the directory listing gave. A walk asks for the
/// digests of a directory's files right after listing it, so only the last listing is
/// kept; a file outside it is hashed by the inner tree.
pub struct Cached<'a> {
    inner: &'a dyn Tree,
    cache: &'a StatCache,
    /// Whether the cache names the manifest being compared with, so that its
    /// agreement holds.
    vouching: bool,
    seen: RefCell<Listing>,
    last: RefCell<Last>,
    /// The latest ctime (nanoseconds) an object recorded may have.
    limit: i64,
    /// Cache text not taken yet.
    text: RefCell<String>,
    hits: Cell<u64>,
}

impl std::fmt::Debug for Cached<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached").finish_non_exhaustive()
    }
}

/// The latest ctime (nanoseconds) a cached object may have: `racy_ns` before `now_ns`.
fn racy_limit(now_ns: i64, racy_ns: u64) -> i64 {
    now_ns.saturating_sub(i64::try_from(racy_ns).unwrap_or(i64::MAX))
}

impl<'a> Cached<'a> {
    /// Wrap `inner`, consulting `cache`. `compared` is the fingerprint of the manifest
    /// the walk is compared with, if any: the cache vouches for objects only when it
    /// names that manifest. The new cache leaves out objects whose ctime is within
    /// `racy_ns` of `now_ns` (a time taken before the walk began); its text is taken in
    /// pieces with [`Cached::take_text`], so a cache of millions of objects is never
    /// whole in memory.
    pub fn new(
        inner: &'a dyn Tree,
        cache: &'a StatCache,
        compared: Option<&Fingerprint>,
        now_ns: i64,
        racy_ns: u64,
    ) -> Self {
        Cached {
            inner,
            cache,
            vouching: compared.is_some() && cache.manifest() == compared.copied(),
            seen: RefCell::new(Listing::default()),
            last: RefCell::default(),
            limit: racy_limit(now_ns, racy_ns),
            text: RefCell::new(format!("{MAGIC}\n")),
            hits: Cell::new(0),
        }
    }

    /// Whether the cache can vouch for objects at all.
    pub fn vouching(&self) -> bool {
        self.vouching
    }

    /// The fingerprint of the object at `path` in the state `meta` and what the old
    /// cache knows of it, taken once per object.
    fn look(&self, path: &[u8], meta: &Metadata) -> (Fingerprint, Option<Known>) {
        let mut last = self.last.borrow_mut();
        if last.meta.as_ref() != Some(meta) || last.path != path {
            let fingerprint = fingerprint::object(path, meta);
            last.path.clear();
            last.path.extend_from_slice(path);
            last.meta = Some(*meta);
            last.fingerprint = fingerprint;
            last.known = self.cache.get(&fingerprint);
            last.digest = None;
        }
        (last.fingerprint, last.known)
    }

    /// Whether the cache vouches that the object at `path`, in the state `meta`,
    /// agrees with the manifest compared with.
    pub fn vouches(&self, path: &[u8], meta: &Metadata) -> bool {
        if !self.vouching {
            return false;
        }
        let agrees = self.look(path, meta).1.is_some_and(|k| k.agrees);
        if agrees {
            self.hits.set(self.hits.get() + 1);
        }
        agrees
    }

    /// Record the object at `path` in the state `meta`, which `agrees` (or not) with
    /// the manifest the new cache will name. A regular file's line carries the digest
    /// given for it, or else the one the old cache has for this state.
    pub fn record(&self, path: &[u8], meta: &Metadata, agrees: bool) {
        let ctime_ns = meta
            .ctime_sec
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(meta.ctime_nsec));
        if ctime_ns > self.limit {
            return;
        }
        let (fp, known) = self.look(path, meta);
        let digest = match meta.kind {
            Kind::Regular => self.last.borrow().digest.or(known.and_then(|k| k.digest)),
            _ => None,
        };
        if agrees || digest.is_some() {
            push_line(&mut self.text.borrow_mut(), &fp, agrees, digest.as_ref());
        }
    }

    /// [`Cached::record`] for the object of a walk event (nothing for a step up).
    pub fn record_event(&self, event: &Event<'_>, agrees: bool) {
        match *event {
            Event::Dir { path, meta, .. } | Event::Object { path, meta, .. } => {
                self.record(path, meta, agrees)
            }
            Event::Up => {}
        }
    }

    /// The cache text written since the last call.
    pub fn take_text(&self) -> String {
        std::mem::take(&mut *self.text.borrow_mut())
    }

    /// Bytes of cache text waiting for [`Cached::take_text`].
    pub fn pending_text(&self) -> usize {
        self.text.borrow().len()
    }

    /// How many objects the cache vouched for or gave a digest of.
    pub fn hits(&self) -> u64 {
        self.hits.get()
    }

    /// The rest of the cache text, ending with the line naming `manifest`, the
    /// manifest whose agreement was recorded.
    pub fn finish(self, manifest: &Fingerprint) -> String {
        let mut text = self.text.into_inner();
        push_trailer(&mut text, manifest);
        text
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
        let digest = match self.look(path, &meta).1.and_then(|k| k.digest) {
            Some(d) => {
                self.hits.set(self.hits.get() + 1);
                d
            }
            None => self.inner.digest(path)?,
        };
        self.last.borrow_mut().digest = Some(digest);
        Ok(digest)
    }

    fn open_read(&self, path: &[u8]) -> Result<Box<dyn FileReader + '_>, FsError> {
        self.inner.open_read(path)
    }
}

/// Walk `tree` and hand its manifest to `manifest_out` and its stat cache to
/// `cache_out`, each in pieces of about `piece` bytes (what an unpack keeps in the
/// bundle). Every object agrees with the manifest made of it.
pub fn manifest_and_cache<E: From<WalkError>>(
    tree: &dyn Tree,
    header: &Header,
    now_ns: i64,
    racy_ns: u64,
    piece: usize,
    manifest_out: &mut dyn FnMut(String) -> Result<(), E>,
    cache_out: &mut dyn FnMut(String) -> Result<(), E>,
) -> Result<(), E> {
    let empty = StatCache::default();
    let cached = Cached::new(tree, &empty, None, now_ns, racy_ns);
    let mut writer = Writer::new(header);
    let mut manifest = Fingerprinter::new();
    walk::<E>(&cached, &mut |event| {
        writer.event(&event);
        cached.record_event(&event, true);
        if writer.pending() >= piece {
            let text = writer.take();
            manifest.update(text.as_bytes());
            manifest_out(text)?;
        }
        if cached.pending_text() >= piece {
            cache_out(cached.take_text())?;
        }
        Ok(())
    })?;
    let rest = writer.finish();
    manifest.update(rest.as_bytes());
    if !rest.is_empty() {
        manifest_out(rest)?;
    }
    cache_out(cached.finish(&manifest.finish()))
}
