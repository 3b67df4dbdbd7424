//! Turning sorted deltas into tar entries, umoci's way: only changed objects, a
//! whiteout per deletion, hardlinks by inode within the layer, xattrs as PAX records,
//! owners mapped into the image.

use std::collections::BTreeMap;

use super::RepackError;
use super::diff::{Delta, DeltaKind, Known};
use super::sink::{Buffered, FileError, Sink};
use crate::bytes;
use crate::display::display;
use crate::ids::{MapOptions, ROOTLESS_XATTR};
use crate::tar::{self, EntryType, Header};
use crate::tree::{FsError, Kind, Metadata, Tree};

/// xattrs never written into a layer: host-specific labels and ACLs.
const SKIPPED_XATTRS: [&[u8]; 2] = [b"security.selinux", b"system.nfs4_acl"];

/// The prefix that marks whiteouts; objects may not be named with it.
const WHITEOUT_PREFIX: &[u8] = b".wh.";

/// The name of an opaque whiteout, in the directory it makes opaque.
const OPAQUE_WHITEOUT: &[u8] = b".wh..wh..opq";

/// How much file data one host read asks for.
const READ_CHUNK: u32 = 64 << 10;

/// Settings of one layer.
#[derive(Debug, Clone, Default)]
pub struct LayerOptions {
    /// Owner mapping.
    pub map: MapOptions,
    /// Latest modification time written (`SOURCE_DATE_EPOCH`).
    pub clamp_mtime: Option<i64>,
    /// Where the tree goes in the image (`insert`): names are `prefix/path`, the root
    /// is `prefix` itself. Empty: the tree is the image's root.
    pub prefix: Vec<u8>,
    /// Whether the root itself gets an entry.
    pub skip_root: bool,
    /// Put an opaque whiteout right after the root (`insert --opaque`).
    pub opaque: bool,
    /// Opaque whiteouts (`path/.wh..wh..opq`) written before everything else
    /// (`insert --opaque` of a file).
    pub opaque_first: Vec<Vec<u8>>,
}

/// The archive name of `path` (`.` is the root) under `prefix`.
fn prefixed(prefix: &[u8], path: &[u8]) -> Vec<u8> {
    match (prefix.is_empty(), path == b".") {
        (true, _) => path.to_vec(),
        (false, true) => prefix.to_vec(),
        (false, false) => [prefix, b"/", path].concat(),
    }
}

/// Counts and notes from writing a layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// Objects added.
    pub added: u64,
    /// Objects modified.
    pub modified: u64,
    /// Objects deleted.
    pub deleted: u64,
    /// Archive entries.
    pub entries: u64,
    /// Things skipped on purpose.
    pub warnings: Vec<String>,
}

/// Writes the archive for `deltas` (already filtered) into `sink`, sorting them by
/// path first. Nothing at all is written when `deltas` is empty.
pub fn write<S: Sink>(
    tree: &dyn Tree,
    mut deltas: Vec<Delta>,
    options: &LayerOptions,
    sink: S,
) -> Result<(S, Written), RepackError> {
    deltas.sort_unstable_by(|a, b| bytes::cmp(&a.path, &b.path));
    let mut out = Buffered::new(sink);
    let mut written = Written::default();
    let mut first_name: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut block = Vec::with_capacity(4 * tar::BLOCK);
    for path in &options.opaque_first {
        block.clear();
        let name = [&path[..], b"/", OPAQUE_WHITEOUT].concat();
        tar::encode_header(&Header::whiteout(name), &mut block).map_err(|e| {
            RepackError::Object {
                path: path.clone(),
                message: e.to_string(),
            }
        })?;
        out.write(&block).map_err(RepackError::Sink)?;
        written.entries += 1;
    }
    for delta in &deltas {
        block.clear();
        let path = &delta.path[..];
        let fail = |message: String| RepackError::Object {
            path: path.to_vec(),
            message,
        };
        if path == b"." && options.skip_root {
            continue;
        }
        if basename(path).starts_with(WHITEOUT_PREFIX) {
            return Err(fail(
                "names starting with .wh. are reserved for whiteouts and cannot be stored in a layer"
                    .into(),
            ));
        }
        let meta = match (delta.kind, delta.meta) {
            (DeltaKind::Deleted, _) | (_, None) => {
                let header = Header::whiteout(whiteout_name(&prefixed(&options.prefix, path)));
                tar::encode_header(&header, &mut block).map_err(|e| fail(e.to_string()))?;
                out.write(&block).map_err(RepackError::Sink)?;
                written.deleted += 1;
                written.entries += 1;
                continue;
            }
            (_, Some(meta)) => meta,
        };
        if meta.kind == Kind::Socket {
            written.warnings.push(format!(
                "{}: sockets cannot be stored in a layer; skipped",
                display(path)
            ));
            continue;
        }
        let header = object_header(
            tree,
            path,
            &meta,
            &delta.known,
            options,
            &mut first_name,
            &mut written,
        )
        .map_err(|e| match e {
            Problem::Fs(FsError::NotFound | FsError::NotSupported | FsError::EscapesRoot) => {
                RepackError::Changed {
                    path: path.to_vec(),
                    why: "it is no longer what the walk saw".into(),
                }
            }
            Problem::Fs(e) => fail(e.to_string()),
            Problem::Other(m) => fail(m),
        })?;
        tar::encode_header(&header, &mut block).map_err(|e| fail(e.to_string()))?;
        out.write(&block).map_err(RepackError::Sink)?;
        if header.entry_type == EntryType::Regular && header.size > 0 {
            copy_data(tree, path, &meta, &mut out)?;
        }
        match delta.kind {
            DeltaKind::Added => written.added += 1,
            _ => written.modified += 1,
        }
        written.entries += 1;
        if path == b"." && options.opaque {
            // Hide what the image had below the prefix: an opaque whiteout in it.
            block.clear();
            let name = [&options.prefix[..], b"/", OPAQUE_WHITEOUT].concat();
            tar::encode_header(&Header::whiteout(name), &mut block)
                .map_err(|e| fail(e.to_string()))?;
            out.write(&block).map_err(RepackError::Sink)?;
            written.entries += 1;
        }
    }
    if written.entries > 0 {
        out.write(&tar::END_OF_ARCHIVE).map_err(RepackError::Sink)?;
    }
    let sink = out.into_inner().map_err(RepackError::Sink)?;
    Ok((sink, written))
}

/// A layer that only deletes `paths` (each relative to the image root, neither the
/// root nor a whiteout): one whiteout entry per path, in the order given, then the end
/// of the archive. Returns the sink and the entries written.
pub fn whiteouts<S: Sink>(paths: &[Vec<u8>], sink: S) -> Result<(S, u64), RepackError> {
    let mut out = Buffered::new(sink);
    let mut block = Vec::with_capacity(tar::BLOCK);
    for path in paths {
        let fail = |message: &str| RepackError::Object {
            path: path.clone(),
            message: message.to_owned(),
        };
        let base = basename(path);
        if path.is_empty() || base.is_empty() || base == b"." || base == b".." {
            return Err(fail("not a path below the image root"));
        }
        if base.starts_with(WHITEOUT_PREFIX) {
            return Err(fail("names starting with .wh. are reserved for whiteouts"));
        }
        block.clear();
        tar::encode_header(&Header::whiteout(whiteout_name(path)), &mut block)
            .map_err(|e| fail(&e.to_string()))?;
        out.write(&block).map_err(RepackError::Sink)?;
    }
    out.write(&tar::END_OF_ARCHIVE).map_err(RepackError::Sink)?;
    let sink = out.into_inner().map_err(RepackError::Sink)?;
    Ok((sink, paths.len() as u64))
}

/// Why one object's header could not be built.
enum Problem {
    Fs(FsError),
    Other(String),
}

impl From<FsError> for Problem {
    fn from(e: FsError) -> Self {
        Problem::Fs(e)
    }
}

/// The last component of `path`.
fn basename(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path)
}

/// `dir/.wh.name` for `dir/name`.
fn whiteout_name(path: &[u8]) -> Vec<u8> {
    let base = basename(path);
    let mut name = path[..path.len() - base.len()].to_vec();
    name.extend_from_slice(WHITEOUT_PREFIX);
    name.extend_from_slice(base);
    name
}

/// The header of an added or modified object; what the walk read of it (`known`) is
/// not asked of the host again.
fn object_header(
    tree: &dyn Tree,
    path: &[u8],
    meta: &Metadata,
    known: &Known,
    options: &LayerOptions,
    first_name: &mut BTreeMap<u64, Vec<u8>>,
    written: &mut Written,
) -> Result<Header, Problem> {
    let is_root = path == b".";
    let tree_path: &[u8] = if is_root { b"" } else { path };
    let mut name = prefixed(&options.prefix, path);
    if meta.kind == Kind::Directory && (!is_root || !options.prefix.is_empty()) {
        name.push(b'/');
    }

    let listed = match known {
        Known::Xattrs(listed) => listed.clone(),
        _ => tree.xattrs(tree_path)?,
    };
    let mut xattrs = Vec::new();
    let mut rootless_owner = None;
    for (key, value) in listed {
        if SKIPPED_XATTRS.contains(&&key[..]) {
            continue;
        }
        if options.map.rootless && key == ROOTLESS_XATTR {
            rootless_owner = Some(value);
            continue;
        }
        if value.is_empty() {
            written.warnings.push(format!(
                "{}: empty value of xattr {} cannot be stored in a layer; dropped",
                display(path),
                String::from_utf8_lossy(&key)
            ));
            continue;
        }
        xattrs.push((key, value));
    }
    let owner = options
        .map
        .owner(meta, rootless_owner.as_deref())
        .map_err(Problem::Other)?;
    let mtime = match options.clamp_mtime {
        Some(limit) if meta.mtime_sec > limit => limit,
        _ => meta.mtime_sec,
    };
    let mut header = Header {
        name,
        entry_type: EntryType::Regular,
        mode: meta.mode & 0o7777,
        uid: owner.uid,
        gid: owner.gid,
        size: 0,
        mtime,
        linkname: Vec::new(),
        devmajor: 0,
        devminor: 0,
        xattrs,
    };

    if meta.kind != Kind::Directory && meta.nlink > 1 {
        if let Some(first) = first_name.get(&meta.ino) {
            header.entry_type = EntryType::Hardlink;
            header.linkname = first.clone();
            return Ok(header);
        }
        first_name.insert(meta.ino, prefixed(&options.prefix, path));
    }
    match meta.kind {
        Kind::Regular => header.size = meta.size,
        Kind::Directory => header.entry_type = EntryType::Directory,
        Kind::Symlink => {
            header.entry_type = EntryType::Symlink;
            header.linkname = match known {
                Known::Link(target) => target.clone(),
                _ => tree.read_link(tree_path)?,
            };
        }
        Kind::Fifo => header.entry_type = EntryType::Fifo,
        Kind::CharDevice | Kind::BlockDevice => {
            header.entry_type = if meta.kind == Kind::CharDevice {
                EntryType::CharDevice
            } else {
                EntryType::BlockDevice
            };
            header.devmajor = meta.rdev_major;
            header.devminor = meta.rdev_minor;
        }
        Kind::Socket => return Err(Problem::Other("sockets cannot be stored".into())),
    }
    Ok(header)
}

/// Copy exactly `size` bytes of the file at `path` into the archive, then pad. The
/// sink reads the file itself when it can; otherwise the bytes pass through here.
fn copy_data<S: Sink>(
    tree: &dyn Tree,
    path: &[u8],
    walked: &Metadata,
    out: &mut Buffered<S>,
) -> Result<(), RepackError> {
    let size = walked.size;
    let after = match out.write_file(path, size) {
        None => read_through(tree, path, walked, out)?,
        Some(Ok(after)) => after,
        Some(Err(FileError::Layer(e))) => return Err(RepackError::Sink(e)),
        Some(Err(FileError::File(e))) => return Err(file_failed(tree, path, walked, e)),
    };
    // The bytes must be the ones the walk described (and hashed): same inode, size and
    // modification time after the read.
    if !same_file(&after, walked) {
        return Err(changed(path, "it was modified while being read"));
    }
    out.write(&[0u8; tar::BLOCK][..tar::padding(size)])
        .map_err(RepackError::Sink)
}

fn changed(path: &[u8], why: &str) -> RepackError {
    RepackError::Changed {
        path: path.to_vec(),
        why: why.to_owned(),
    }
}

/// Whether `now` describes the object the walk saw, unmodified.
fn same_file(now: &Metadata, walked: &Metadata) -> bool {
    (now.kind, now.ino, now.size, now.mtime_sec, now.mtime_nsec)
        == (
            walked.kind,
            walked.ino,
            walked.size,
            walked.mtime_sec,
            walked.mtime_nsec,
        )
}

/// Read the file at `path` through the tree into the archive; returns its metadata
/// after the read.
fn read_through<S: Sink>(
    tree: &dyn Tree,
    path: &[u8],
    walked: &Metadata,
    out: &mut Buffered<S>,
) -> Result<Metadata, RepackError> {
    let size = walked.size;
    let fail = |message: String| RepackError::Object {
        path: path.to_vec(),
        message,
    };
    let mut file = tree.open_read(path).map_err(|e| match e {
        FsError::NotFound | FsError::NotSupported | FsError::EscapesRoot => {
            changed(path, NOT_THE_FILE)
        }
        other => fail(other.to_string()),
    })?;
    let mut left = size;
    while left > 0 {
        let want = u32::try_from(left.min(u64::from(READ_CHUNK))).unwrap_or(READ_CHUNK);
        let chunk = file.read(want).map_err(|e| fail(e.to_string()))?;
        if chunk.is_empty() {
            return Err(changed(path, &shrank(size)));
        }
        let take = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        out.write(&chunk[..take]).map_err(RepackError::Sink)?;
        left -= take as u64;
    }
    tree.metadata(path)
        .map_err(|_| changed(path, "it disappeared while being read"))
}

/// Why a file could not be opened as the regular file the walk saw.
const NOT_THE_FILE: &str = "it is no longer the regular file the walk saw";

fn shrank(size: u64) -> String {
    format!("the file shrank below the {size} bytes it had")
}

/// The failure of a sink's read of the file at `path`, told as reading through the
/// tree tells it: what changed, when the file is not what the walk saw any more, else
/// the error itself.
pub(super) fn file_failed(
    tree: &dyn Tree,
    path: &[u8],
    walked: &Metadata,
    e: FsError,
) -> RepackError {
    match tree.metadata(path) {
        Err(_) => changed(path, NOT_THE_FILE),
        Ok(now) if now.kind != Kind::Regular || now.ino != walked.ino => {
            changed(path, NOT_THE_FILE)
        }
        Ok(now) if now.size < walked.size => changed(path, &shrank(walked.size)),
        Ok(now) if !same_file(&now, walked) => changed(path, "it was modified while being read"),
        Ok(_) => match e {
            FsError::NotFound | FsError::NotSupported | FsError::EscapesRoot => {
                changed(path, NOT_THE_FILE)
            }
            other => RepackError::Object {
                path: path.to_vec(),
                message: other.to_string(),
            },
        },
    }
}
