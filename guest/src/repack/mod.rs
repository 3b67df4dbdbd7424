//! Repack: one walk of the tree, compared with the bundle's manifest; the surviving
//! changes written as one layer archive, and (on request) the new manifest.
//!
//! - [`diff`]: walk events against manifest entries.
//! - [`filter`]: masks and the one-whiteout-per-deleted-tree rule.
//! - [`layer`]: deltas to tar entries.
//! - [`sink`]: the buffered stream to the host.

pub mod diff;
pub mod filter;
pub mod layer;
pub mod sink;

use thiserror::Error;

use crate::display::display;
use crate::mtree::{self, Header, Need, Needs, ParseError, WalkError, Writer};
use crate::statcache::{Cached, StatCache, fingerprint};
use crate::stopwatch::{Clock, Lap, Stopwatch};
use crate::tree::{FsError, Metadata, Tree};

pub use diff::{Delta, DeltaKind, Known};
pub use layer::{LayerOptions, Written};
pub use sink::{FileError, Sink};

/// What to compare against and how to write the layer.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The bundle's manifest text.
    pub manifest: String,
    /// Masked paths (`--mask-path`, volumes).
    pub masks: Vec<Vec<u8>>,
    /// Layer settings.
    pub layer: LayerOptions,
    /// Header of the new manifest, when one is wanted.
    pub refresh: Option<Header>,
    /// The bundle's stat cache, parsed (empty when it has none, or a corrupt one).
    pub stat_cache: StatCache,
    /// The host's time in nanoseconds, taken before the walk (for the new stat cache).
    pub now: i64,
    /// The racy window of the new stat cache, in nanoseconds.
    pub racy_window: u64,
    /// Where phase times come from (the default reads zero).
    pub clock: Clock,
}

/// The outcome of a repack.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// What went into the layer.
    pub written: Written,
    /// The new manifest, when asked for.
    pub manifest: Option<String>,
    /// The new stat cache ([`repack`]; [`repack_to`] hands it on in pieces instead).
    pub stat_cache: String,
    /// Objects the old stat cache vouched for or gave the digest of.
    pub cache_hits: u64,
    /// Time spent in each phase: `parse`, `walk`, `tar`, `cache`.
    pub phases: Vec<Lap>,
}

/// Why a repack failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RepackError {
    /// The bundle's manifest does not parse.
    #[error("mtree manifest: {0}")]
    Manifest(#[from] ParseError),
    /// Walking the tree failed.
    #[error(transparent)]
    Walk(WalkError),
    /// One object cannot go into the layer.
    #[error("{}: {message}", display(path))]
    Object { path: Vec<u8>, message: String },
    /// An object changed while it was being read.
    #[error("changed during repack: {}: {why}", display(path))]
    Changed {
        path: Vec<u8>,
        /// What was seen.
        why: String,
    },
    /// The host refused layer bytes.
    #[error("writing the layer: {0}")]
    Sink(FsError),
}

impl From<WalkError> for RepackError {
    /// The walk only visits what a directory listing returned, never following a
    /// symlink: an object below the root that is then missing, not of the kind listed,
    /// or reached through what is now a symlink changed while the tree was walked.
    fn from(e: WalkError) -> Self {
        match e.error {
            FsError::NotFound | FsError::NotSupported | FsError::EscapesRoot
                if !e.path.is_empty() =>
            {
                RepackError::Changed {
                    why: format!("it changed while the tree was walked ({})", e.error),
                    path: e.path,
                }
            }
            _ => RepackError::Walk(e),
        }
    }
}

impl RepackError {
    /// The object the error is about (empty when it is about the job).
    pub fn path(&self) -> &[u8] {
        match self {
            RepackError::Walk(e) => &e.path,
            RepackError::Object { path, .. } | RepackError::Changed { path, .. } => path,
            _ => b"",
        }
    }
}

/// What a repack needs of each object.
struct RepackNeeds<'a> {
    cached: &'a Cached<'a>,
    differ: &'a diff::Differ<'a>,
    /// Whether a new manifest is being written (every object's keywords).
    writing: bool,
}

impl Needs for RepackNeeds<'_> {
    fn need(&self, path: &[u8], meta: &Metadata) -> Need {
        if self.cached.vouches(path, meta) {
            Need::Nothing
        } else if !self.writing && !self.differ.knows(path) {
            // An addition whatever its keywords: only its attributes and link target
            // are read (the layer needs them), and it is not hashed.
            Need::Attributes
        } else {
            Need::Keywords
        }
    }

    fn list_attributes(&self) -> bool {
        !self.cached.vouching()
    }
}

/// Bytes of new stat cache text handed on at a time by [`repack_to`].
const CACHE_PIECE: usize = 256 << 10;

/// Compare `tree` with `options.manifest`, write the changes into `sink` and return
/// what was written (and the new manifest when `options.refresh` is set).
pub fn repack<S: Sink>(
    tree: &dyn Tree,
    options: &Options,
    sink: S,
) -> Result<(S, Summary), RepackError> {
    let mut text = String::new();
    let (sink, mut summary) = repack_to(tree, options, sink, &mut |piece| {
        text.push_str(&piece);
        Ok(())
    })?;
    summary.stat_cache = text;
    Ok((sink, summary))
}

/// [`repack`], handing the new stat cache to `cache_out` in pieces as the walk makes
/// it (the summary's `stat_cache` stays empty): a tree of millions of files never has
/// its whole cache in memory.
pub fn repack_to<S: Sink>(
    tree: &dyn Tree,
    options: &Options,
    sink: S,
    cache_out: &mut dyn FnMut(String) -> Result<(), RepackError>,
) -> Result<(S, Summary), RepackError> {
    let mut watch = Stopwatch::new(options.clock);
    let compared = fingerprint::text(&options.manifest);
    let recorded = mtree::parse(&options.manifest)?;
    let differ = diff::Differ::new(recorded);
    let mut writer = options.refresh.as_ref().map(Writer::new);
    // A new manifest is written from every object's keywords: nothing is vouched for.
    let vouching = writer.is_none().then_some(&compared);
    let cached = Cached::new(
        tree,
        &options.stat_cache,
        vouching,
        options.now,
        options.racy_window,
    );
    let tree: &dyn Tree = &cached;
    let needs = RepackNeeds {
        cached: &cached,
        differ: &differ,
        writing: writer.is_some(),
    };
    watch.lap("parse");
    mtree::walk_with::<RepackError>(tree, &needs, &mut |event| {
        let agrees = differ.event(&event);
        if let Some(w) = writer.as_mut() {
            w.event(&event);
        }
        // Every object agrees with a manifest made of it.
        cached.record_event(&event, agrees || writer.is_some());
        if cached.pending_text() >= CACHE_PIECE {
            cache_out(cached.take_text())?;
        }
        Ok(())
    })?;
    let manifest = writer.map(Writer::finish);
    watch.lap("walk");
    let deltas = filter::apply(differ.finish(), &options.masks);
    let (sink, written) = layer::write(tree, deltas, &options.layer, sink)?;
    watch.lap("tar");
    let cache_hits = cached.hits();
    let named = manifest.as_deref().map_or(compared, fingerprint::text);
    cache_out(cached.finish(&named))?;
    watch.lap("cache");
    Ok((
        sink,
        Summary {
            written,
            manifest,
            stat_cache: String::new(),
            cache_hits,
            phases: watch.laps(),
        },
    ))
}

#[cfg(test)]
mod file_sink_tests;
#[cfg(test)]
mod tests;
