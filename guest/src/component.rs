//! The component glue: binds the WIT world and adapts the host's `dir` handle to
//! [`Tree`]. Nothing else lives here; the logic is in natively tested modules.

wit_bindgen::generate!({
    path: "../wit",
    world: "repacker",
});

use exports::repack::bundle::layer::{
    Failure, Guest, IdMapping as WitIdMapping, LayerInfo, MtreeHeader, Phase, RepackOptions,
    RepackSummary, UnpackOptions,
};
use repack::bundle::blobs::{BlobReader, BlobWriter, Hasher, TextWriter, WriteFileError};
use repack::bundle::fs::{self as wit};

use crate::ids::{IdMapping, MapOptions};
use crate::mtree;
use crate::repack::{self as job, FileError, LayerOptions, RepackError, Sink};
use crate::statcache::{self, StatCache};
use crate::stopwatch::Clock;
use crate::tree::{
    Entry, FileReader, FileWrite, FsError, Kind, Metadata, NewKind, NewObject, Refused, Time, Tree,
    TreeMut, Xattrs,
};
use crate::unpack;

struct Component;

/// Bytes of manifest text handed to the host per `text-writer.write`.
const MANIFEST_PIECE: usize = 256 << 10;

impl From<mtree::WalkError> for Failure {
    fn from(e: mtree::WalkError) -> Self {
        Failure {
            path: String::from_utf8_lossy(&e.path).into_owned(),
            message: e.error.to_string(),
        }
    }
}

export!(Component);

fn header(h: MtreeHeader) -> mtree::Header {
    mtree::Header {
        user: h.user,
        machine: h.machine,
        tree: h.tree,
        date: h.date,
    }
}

fn mappings(list: Vec<WitIdMapping>) -> Vec<IdMapping> {
    list.into_iter()
        .map(|m| IdMapping {
            container_id: m.container_id,
            host_id: m.host_id,
            size: m.size,
        })
        .collect()
}

impl Guest for Component {
    fn unpack_layer(
        root: &wit::Dir,
        layer: &BlobReader,
        info: LayerInfo,
        options: UnpackOptions,
    ) -> Result<Vec<String>, Failure> {
        unpack_layer_impl(root, layer, info, options)
    }

    fn mtree(root: &wit::Dir, header: MtreeHeader) -> Result<String, Failure> {
        mtree::manifest(&HostTree(root), &self::header(header)).map_err(|e| Failure {
            path: String::from_utf8_lossy(&e.path).into_owned(),
            message: e.error.to_string(),
        })
    }

    fn mtree_cached(
        root: &wit::Dir,
        header: MtreeHeader,
        now: i64,
        racy_window: u64,
        manifest: &TextWriter,
        stat_cache: &TextWriter,
    ) -> Result<(), Failure> {
        let cache_failure = |e: wit::Error| Failure {
            path: String::new(),
            message: format!("writing the stat cache: {}", FsError::from(e)),
        };
        statcache::manifest_and_cache::<Failure>(
            &HostTree(root),
            &self::header(header),
            now,
            racy_window,
            MANIFEST_PIECE,
            &mut |text: String| {
                manifest.write(&text).map_err(|e| Failure {
                    path: String::new(),
                    message: format!("writing the manifest: {}", FsError::from(e)),
                })
            },
            &mut |text: String| stat_cache.write(&text).map_err(cache_failure),
        )
    }

    fn repack(
        root: &wit::Dir,
        layer: &BlobWriter,
        options: RepackOptions,
        stat_cache: &TextWriter,
    ) -> Result<RepackSummary, Failure> {
        let options = job::Options {
            manifest: options.manifest,
            masks: options.masks.into_iter().map(String::into_bytes).collect(),
            layer: LayerOptions {
                map: map_options(options.map_options),
                clamp_mtime: options.clamp_mtime,
                prefix: options.prefix,
                skip_root: options.skip_root,
                opaque: options.opaque,
                opaque_first: options.opaque_first,
            },
            refresh: options.refresh.map(header),
            // A corrupt cache is ignored: it can only cost hashing. Its text goes as
            // soon as it is parsed.
            stat_cache: options
                .stat_cache
                .and_then(|text| StatCache::parse(&text).ok())
                .unwrap_or_default(),
            now: options.now,
            racy_window: options.racy_window,
            clock: Clock(repack::bundle::clock::now),
        };
        let (_, summary) = job::repack_to(
            &HostTree(root),
            &options,
            HostSink(layer, Some(root)),
            &mut |piece: String| {
                stat_cache
                    .write(&piece)
                    .map_err(|e| RepackError::Sink(FsError::from(e)))
            },
        )
        .map_err(repack_failure)?;
        let w = summary.written;
        Ok(RepackSummary {
            added: w.added,
            modified: w.modified,
            deleted: w.deleted,
            entries: w.entries,
            manifest: summary.manifest,
            warnings: w.warnings,
            cache_hits: summary.cache_hits,
            phases: summary
                .phases
                .into_iter()
                .map(|(name, nanoseconds)| Phase {
                    name: name.to_owned(),
                    nanoseconds,
                })
                .collect(),
        })
    }

    fn whiteout(layer: &BlobWriter, paths: Vec<Vec<u8>>) -> Result<u64, Failure> {
        let (_, entries) =
            job::layer::whiteouts(&paths, HostSink(layer, None)).map_err(repack_failure)?;
        Ok(entries)
    }
}

fn repack_failure(e: RepackError) -> Failure {
    Failure {
        path: String::from_utf8_lossy(e.path()).into_owned(),
        message: match &e {
            RepackError::Walk(w) => w.error.to_string(),
            RepackError::Object { message, .. } => message.clone(),
            other => other.to_string(),
        },
    }
}

fn map_options(m: exports::repack::bundle::layer::MapOptions) -> MapOptions {
    MapOptions {
        uid_mappings: mappings(m.uid_mappings),
        gid_mappings: mappings(m.gid_mappings),
        rootless: m.rootless,
    }
}

fn unpack_layer_impl(
    root: &wit::Dir,
    layer: &BlobReader,
    info: LayerInfo,
    options: UnpackOptions,
) -> Result<Vec<String>, Failure> {
    let options = unpack::Options {
        map: map_options(options.map_options),
        keep_dirlinks: options.keep_dirlinks,
        max_layer_size: options.max_layer_size,
        digester: Some(host_digester),
        host_decompressed: info.decompressed,
    };
    let mut raw = HostBlob {
        reader: layer,
        buf: Vec::new(),
        pos: 0,
    };
    unpack::unpack_layer(
        &mut HostTree(root),
        &mut raw,
        &info.media_type,
        &info.diff_id,
        &options,
    )
    .map_err(|e| Failure {
        path: String::from_utf8_lossy(e.path()).into_owned(),
        message: match &e {
            unpack::UnpackError::Entry { message, .. } => message.clone(),
            other => other.to_string(),
        },
    })
}

/// The host's native SHA-256.
struct HostHasher(Hasher);

impl unpack::stream::Digester for HostHasher {
    fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(self: Box<Self>) -> [u8; 32] {
        let raw = self.0.finish();
        let mut out = [0u8; 32];
        out.copy_from_slice(&raw[..32.min(raw.len())]);
        out
    }
}

fn host_digester() -> Box<dyn unpack::stream::Digester> {
    Box::new(HostHasher(Hasher::new()))
}

/// The host's verified blob stream as [`std::io::Read`].
struct HostBlob<'a> {
    reader: &'a BlobReader,
    buf: Vec<u8>,
    pos: usize,
}

impl std::io::Read for HostBlob<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.buf.len() {
            self.buf = self
                .reader
                .read(256 << 10)
                .map_err(|e| std::io::Error::other(FsError::from(e).to_string()))?;
            self.pos = 0;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A file the host created for the guest.
struct HostFileWriter(wit::FileWriter);

impl FileWrite for HostFileWriter {
    fn write(&mut self, bytes: &[u8]) -> Result<(), FsError> {
        Ok(self.0.write(bytes)?)
    }
    fn skip(&mut self, len: u64) -> Result<(), FsError> {
        Ok(self.0.skip(len)?)
    }
}

fn ts(t: Time) -> wit::Timestamp {
    wit::Timestamp {
        seconds: t.0,
        nanoseconds: t.1,
    }
}

impl TreeMut for HostTree<'_> {
    fn create_file(&mut self, path: &[u8], mode: u32) -> Result<Box<dyn FileWrite + '_>, FsError> {
        Ok(Box::new(HostFileWriter(self.0.create_file(path, mode)?)))
    }
    fn mkdir(&mut self, path: &[u8], mode: u32) -> Result<(), FsError> {
        Ok(self.0.mkdir(path, mode)?)
    }
    fn symlink(&mut self, path: &[u8], target: &[u8]) -> Result<(), FsError> {
        Ok(self.0.symlink(path, target)?)
    }
    fn hard_link(&mut self, path: &[u8], target: &[u8]) -> Result<(), FsError> {
        Ok(self.0.hard_link(path, target)?)
    }
    fn mknod(
        &mut self,
        path: &[u8],
        kind: Kind,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> Result<(), FsError> {
        let kind = match kind {
            Kind::CharDevice => wit::Kind::CharDevice,
            Kind::BlockDevice => wit::Kind::BlockDevice,
            Kind::Fifo => wit::Kind::Fifo,
            _ => return Err(FsError::NotSupported),
        };
        Ok(self.0.mknod(path, kind, mode, major, minor)?)
    }
    fn set_owner(&mut self, path: &[u8], uid: u32, gid: u32) -> Result<(), FsError> {
        Ok(self.0.set_owner(path, uid, gid)?)
    }
    fn set_mode(&mut self, path: &[u8], mode: u32) -> Result<(), FsError> {
        Ok(self.0.set_mode(path, mode)?)
    }
    fn set_times(&mut self, path: &[u8], mtime: Time, atime: Option<Time>) -> Result<(), FsError> {
        Ok(self.0.set_times(path, ts(mtime), atime.map(ts))?)
    }
    fn set_xattr(&mut self, path: &[u8], name: &[u8], value: &[u8]) -> Result<(), FsError> {
        Ok(self.0.set_xattr(path, name, value)?)
    }
    fn remove_xattr(&mut self, path: &[u8], name: &[u8]) -> Result<(), FsError> {
        Ok(self.0.remove_xattr(path, name)?)
    }
    fn remove(&mut self, path: &[u8]) -> Result<(), FsError> {
        Ok(self.0.remove(path)?)
    }
    fn create(&mut self, objects: Vec<NewObject>) -> Result<Vec<Refused>, (usize, FsError)> {
        let objects: Vec<wit::NewObject> = objects
            .into_iter()
            .map(|o| wit::NewObject {
                path: o.path,
                kind: match o.kind {
                    NewKind::Regular(contents) => wit::NewKind::Regular(contents),
                    NewKind::Directory => wit::NewKind::Directory,
                    NewKind::Symlink(target) => wit::NewKind::Symlink(target),
                },
                attributes: wit::Attributes {
                    owner: o.attributes.owner,
                    mode: o.attributes.mode,
                    xattrs: o.attributes.xattrs,
                    mtime: ts(o.attributes.mtime),
                    atime: o.attributes.atime.map(ts),
                },
            })
            .collect();
        match self.0.create(&objects) {
            Ok(refused) => Ok(refused
                .into_iter()
                .map(|r| Refused {
                    index: r.index as usize,
                    name: r.name,
                    error: r.error.into(),
                })
                .collect()),
            Err((index, e)) => Err((index as usize, e.into())),
        }
    }
}

/// The host's blob writer seen as a [`Sink`]; given the tree's handle, it has the
/// host copy regular files' contents itself.
struct HostSink<'a>(&'a BlobWriter, Option<&'a wit::Dir>);

impl Sink for HostSink<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), FsError> {
        Ok(self.0.write(bytes)?)
    }

    fn write_file(&mut self, path: &[u8], size: u64) -> Option<Result<Metadata, FileError>> {
        let root = self.1?;
        Some(match self.0.write_file(root, path, size) {
            Ok(meta) => Ok(meta.into()),
            Err(WriteFileError::File(e)) => Err(FileError::File(e.into())),
            Err(WriteFileError::Layer(e)) => Err(FileError::Layer(e.into())),
        })
    }
}

/// A file the host opened for the guest.
struct HostFile(wit::File);

impl FileReader for HostFile {
    fn read(&mut self, max: u32) -> Result<Vec<u8>, FsError> {
        Ok(self.0.read(max)?)
    }
}

/// The host's capability handle seen as a [`Tree`].
struct HostTree<'a>(&'a wit::Dir);

impl Tree for HostTree<'_> {
    fn metadata(&self, path: &[u8]) -> Result<Metadata, FsError> {
        Ok(self.0.metadata(path)?.into())
    }

    fn read_dir(&self, path: &[u8]) -> Result<Vec<Entry>, FsError> {
        Ok(self
            .0
            .read_dir(path)?
            .into_iter()
            .map(|e| Entry {
                name: e.name,
                meta: e.meta.into(),
            })
            .collect())
    }

    fn read_dir_xattrs(&self, path: &[u8]) -> Result<Vec<(Entry, Xattrs)>, FsError> {
        Ok(self
            .0
            .read_dir_xattrs(path)?
            .into_iter()
            .map(|(e, xattrs)| {
                let entry = Entry {
                    name: e.name,
                    meta: e.meta.into(),
                };
                (entry, xattrs)
            })
            .collect())
    }

    fn read_link(&self, path: &[u8]) -> Result<Vec<u8>, FsError> {
        Ok(self.0.read_link(path)?)
    }

    fn xattrs(&self, path: &[u8]) -> Result<Xattrs, FsError> {
        Ok(self.0.xattrs(path)?)
    }

    fn digest(&self, path: &[u8]) -> Result<[u8; 32], FsError> {
        let bytes = self.0.digest(path)?;
        bytes
            .try_into()
            .map_err(|_| FsError::Io("host returned a digest that is not 32 bytes".into()))
    }

    fn open_read(&self, path: &[u8]) -> Result<Box<dyn FileReader + '_>, FsError> {
        Ok(Box::new(HostFile(self.0.open_read(path)?)))
    }
}

impl From<wit::Error> for FsError {
    fn from(e: wit::Error) -> Self {
        match e {
            wit::Error::NotFound => FsError::NotFound,
            wit::Error::EscapesRoot => FsError::EscapesRoot,
            wit::Error::PermissionDenied => FsError::PermissionDenied,
            wit::Error::NotSupported => FsError::NotSupported,
            wit::Error::Io(msg) => FsError::Io(msg),
        }
    }
}

impl From<wit::Metadata> for Metadata {
    fn from(m: wit::Metadata) -> Self {
        Metadata {
            kind: match m.kind {
                wit::Kind::Regular => Kind::Regular,
                wit::Kind::Directory => Kind::Directory,
                wit::Kind::Symlink => Kind::Symlink,
                wit::Kind::Fifo => Kind::Fifo,
                wit::Kind::Socket => Kind::Socket,
                wit::Kind::CharDevice => Kind::CharDevice,
                wit::Kind::BlockDevice => Kind::BlockDevice,
            },
            mode: m.mode,
            uid: m.uid,
            gid: m.gid,
            size: m.size,
            mtime_sec: m.mtime_sec,
            mtime_nsec: m.mtime_nsec,
            ctime_sec: m.ctime_sec,
            ctime_nsec: m.ctime_nsec,
            ino: m.ino,
            nlink: m.nlink,
            rdev_major: m.rdev_major,
            rdev_minor: m.rdev_minor,
        }
    }
}
