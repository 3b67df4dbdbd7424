//! Applying one archive entry: umoci's rules for names, whiteouts, clobbering,
//! creation and metadata.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use super::owner::{host_owner, rootless_xattr};
use super::resolve::{Missing, clean, resolve_dir, split};
use super::{Options, UnpackError};
use crate::repack::ids::ROOTLESS_XATTR;
use crate::tree::{FsError, Kind, TreeMut, join};

/// xattrs never applied from a layer, nor cleared from an existing object.
const KEPT_XATTRS: [&[u8]; 2] = [b"security.selinux", b"system.nfs4_acl"];

/// The prefix of whiteout names, and the opaque marker.
const WHITEOUT: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";

/// Bytes of file data moved per host call.
const CHUNK: usize = 128 << 10;

/// PAX keys the tar crate applies itself: name, link target, data size, owner.
const PAX_APPLIED: [&[u8]; 5] = [b"path", b"linkpath", b"size", b"uid", b"gid"];

/// Refuse, before anything is created from it, an entry whose PAX records the tar crate
/// cannot read the way a length-walking reader (Go's archive/tar, umoci) does.
///
/// tar 0.4 splits the records at newlines instead of walking them by their length
/// (tar-rs#452), so a value holding a newline, legal in PAX (a binary
/// `security.capability`, say), does not parse; worse, the tail of such a value is framed
/// as records of its own, and `Entry::path`/`link_name` skip the failures and would take
/// a `path` or `linkpath` smuggled inside a value, one no other reader sees. A key given
/// twice is refused too: the crate takes the first value, Go the last.
fn check_pax<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<(), String> {
    let Some(records) = entry.pax_extensions().map_err(|e| e.to_string())? else {
        return Ok(());
    };
    let mut seen: Vec<&[u8]> = Vec::new();
    for record in records {
        let record = record.map_err(|_| {
            "unreadable PAX record (a value holding a newline is not supported)".to_owned()
        })?;
        let key = record.key_bytes();
        if PAX_APPLIED.contains(&key) {
            if seen.contains(&key) {
                return Err(format!(
                    "PAX record {:?} given twice",
                    String::from_utf8_lossy(key)
                ));
            }
            seen.push(key);
        }
    }
    Ok(())
}

/// A PAX time record as Go's archive/tar reads it: decimal seconds, optionally signed,
/// and an optional fraction cut to nanoseconds (`-1.5` is 1.5 s before the epoch).
fn pax_time(value: &[u8]) -> Option<(i64, u32)> {
    let text = std::str::from_utf8(value).ok()?;
    let (secs, fraction) = text.split_once('.').unwrap_or((text, ""));
    let secs: i64 = secs.parse().ok()?;
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = &fraction[..fraction.len().min(9)];
    let nanos: u32 = format!("{digits:0<9}").parse().ok()?;
    if nanos > 0 && text.starts_with('-') {
        Some((secs.checked_sub(1)?, 1_000_000_000 - nanos))
    } else {
        Some((secs, nanos))
    }
}

/// State kept across the entries of one layer.
#[derive(Debug)]
pub struct Layer<'o> {
    options: &'o Options,
    /// Real paths created by this layer, with their ancestors.
    created: BTreeSet<Vec<u8>>,
    /// Directories whose children this layer changed, with the modification time each
    /// must have when the layer is done (set back by [`Layer::finish`]).
    parents: BTreeMap<Vec<u8>, (i64, u32)>,
    warned_xattrs: bool,
}

impl<'o> Layer<'o> {
    /// Fresh state for a layer.
    pub fn new(options: &'o Options) -> Self {
        Layer {
            options,
            created: BTreeSet::new(),
            parents: BTreeMap::new(),
            warned_xattrs: false,
        }
    }

    /// Remember `dir`'s modification time before the first change below it.
    fn touch_parent(&mut self, tree: &mut dyn TreeMut, dir: &[u8]) -> Result<(), FsError> {
        if !self.parents.contains_key(dir) {
            let m = tree.metadata(dir)?;
            self.parents
                .insert(dir.to_vec(), (m.mtime_sec, m.mtime_nsec));
        }
        Ok(())
    }

    /// Put back the modification times of the directories this layer changed, so
    /// extraction never perturbs them (deepest first; a directory removed later in the
    /// layer is skipped).
    pub fn finish(self, tree: &mut dyn TreeMut) -> Result<(), UnpackError> {
        let mut dirs: Vec<(Vec<u8>, (i64, u32))> = self.parents.into_iter().collect();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.0.len()));
        for (dir, time) in dirs {
            match tree.set_times(&dir, time, None) {
                Ok(()) | Err(FsError::NotFound) => {}
                Err(e) => {
                    return Err(UnpackError::Entry {
                        path: dir,
                        message: e.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    fn mark_created(&mut self, path: &[u8]) {
        let mut p = path;
        loop {
            if !self.created.insert(p.to_vec()) {
                break;
            }
            match p.iter().rposition(|&b| b == b'/') {
                Some(i) => p = &p[..i],
                None => break,
            }
        }
    }

    /// Apply `entry` to `tree`.
    pub fn apply<R: Read>(
        &mut self,
        tree: &mut dyn TreeMut,
        entry: &mut tar::Entry<'_, R>,
        warnings: &mut Vec<String>,
    ) -> Result<(), UnpackError> {
        let raw_name = entry.path_bytes().into_owned();
        let fail = |message: String| UnpackError::Entry {
            path: raw_name.clone(),
            message,
        };
        let fs_fail = |e: FsError| fail(e.to_string());
        let kind = entry.header().entry_type();
        let name = clean(&raw_name);

        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            return Ok(());
        }
        check_pax(entry).map_err(fail)?;
        if name.is_empty() {
            if !kind.is_dir() {
                return Err(fail(
                    "malicious tar entry: it resolves to the root but is not a directory".into(),
                ));
            }
            return self
                .metadata(tree, b"", entry, warnings, true)
                .map_err(fail);
        }
        let (parent, base) = split(&name);
        let (parent, base) = (parent.to_vec(), base.to_vec());

        if base.starts_with(WHITEOUT) {
            return self.whiteout(tree, &parent, &base).map_err(fail);
        }

        let real_parent = resolve_dir(tree, &parent, Missing::Create).map_err(fs_fail)?;
        self.touch_parent(tree, &real_parent).map_err(fs_fail)?;
        let mut path = join(&real_parent, &base);

        // Clobber what is in the way, unless a directory meets a directory.
        let mut existed = false;
        match tree.metadata(&path) {
            Ok(existing) => {
                let keep_dir = existing.kind == Kind::Directory && kind.is_dir();
                let dirlink =
                    kind.is_dir() && existing.kind == Kind::Symlink && self.options.keep_dirlinks;
                if keep_dir {
                    existed = true;
                } else if dirlink {
                    match resolve_dir(tree, &path, Missing::Fail) {
                        Ok(target) => {
                            path = target;
                            existed = true;
                        }
                        Err(_) => tree.remove(&path).map_err(fs_fail)?,
                    }
                } else {
                    tree.remove(&path).map_err(fs_fail)?;
                }
            }
            Err(FsError::NotFound) => {}
            Err(e) => return Err(fs_fail(e)),
        }

        let header = entry.header().clone();
        let mode = header.mode().map_err(|e| fail(e.to_string()))? & 0o7777;
        let rootless = self.options.map.rootless;
        let mut metadata = true;
        if kind.is_file() || kind == tar::EntryType::Continuous {
            // The data's length, a PAX `size` record winning over the header field (which
            // is 0 or wrong for files of 8 GiB and more).
            let size = entry.size();
            let mut file = tree.create_file(&path, 0o600).map_err(fs_fail)?;
            let mut buf = vec![0u8; CHUNK.min(usize::try_from(size).unwrap_or(CHUNK)).max(1)];
            let mut left = size;
            while left > 0 {
                let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let n = entry
                    .read(&mut buf[..want])
                    .map_err(|e| fail(e.to_string()))?;
                if n == 0 {
                    return Err(fail("the archive ends inside this file's data".into()));
                }
                file.write(&buf[..n]).map_err(fs_fail)?;
                left -= n as u64;
            }
        } else if kind.is_dir() {
            if tree.metadata(&path).is_err() {
                tree.mkdir(&path, 0o700).map_err(fs_fail)?;
            }
        } else if kind.is_symlink() {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| fail("a symlink without a target".into()))?;
            tree.symlink(&path, &target).map_err(fs_fail)?;
        } else if kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| fail("a hardlink without a target".into()))?;
            let target = clean(&target);
            let (t_parent, t_base) = split(&target);
            let t_parent = resolve_dir(tree, t_parent, Missing::Fail).map_err(|e| {
                fail(format!(
                    "hardlink target {}: {e}",
                    String::from_utf8_lossy(&target)
                ))
            })?;
            let target = join(&t_parent, t_base);
            tree.hard_link(&path, &target).map_err(|e| {
                fail(format!(
                    "hardlink to {}: {e}",
                    String::from_utf8_lossy(&target)
                ))
            })?;
            metadata = false;
        } else if kind.is_character_special() || kind.is_block_special() {
            if rootless {
                warnings.push(format!(
                    "{}: device nodes cannot be created without privileges; made an empty file",
                    crate::repack::display(&raw_name)
                ));
                tree.create_file(&path, 0o600).map_err(fs_fail)?;
            } else {
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                let k = if kind.is_character_special() {
                    Kind::CharDevice
                } else {
                    Kind::BlockDevice
                };
                tree.mknod(&path, k, mode, major, minor).map_err(fs_fail)?;
            }
        } else if kind.is_fifo() {
            tree.mknod(&path, Kind::Fifo, mode, 0, 0).map_err(fs_fail)?;
        } else {
            return Err(fail(format!(
                "unsupported entry type {:?}",
                kind.as_byte() as char
            )));
        }
        if metadata {
            self.metadata(tree, &path, entry, warnings, existed)
                .map_err(fail)?;
        }
        self.mark_created(&path);
        Ok(())
    }

    /// Apply a whiteout entry found in `parent`.
    fn whiteout(
        &mut self,
        tree: &mut dyn TreeMut,
        parent: &[u8],
        base: &[u8],
    ) -> Result<(), String> {
        let real_parent = match resolve_dir(tree, parent, Missing::Fail) {
            Ok(p) => p,
            Err(FsError::NotFound) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        };
        self.touch_parent(tree, &real_parent)
            .map_err(|e| e.to_string())?;
        if base == OPAQUE {
            for child in tree.read_dir(&real_parent).map_err(|e| e.to_string())? {
                let path = join(&real_parent, &child.name);
                if !self.created.contains(&path) {
                    tree.remove(&path).map_err(|e| e.to_string())?;
                }
            }
        } else {
            let name = &base[WHITEOUT.len()..];
            if name.is_empty() || name == b"." || name == b".." {
                return Err(format!(
                    "malicious whiteout {:?}",
                    String::from_utf8_lossy(base)
                ));
            }
            let path = join(&real_parent, name);
            if !self.created.contains(&path) {
                match tree.remove(&path) {
                    Ok(()) | Err(FsError::NotFound) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
        Ok(())
    }

    /// Owner, mode, xattrs and times of a created object.
    fn metadata<R: Read>(
        &mut self,
        tree: &mut dyn TreeMut,
        path: &[u8],
        entry: &mut tar::Entry<'_, R>,
        warnings: &mut Vec<String>,
        existed: bool,
    ) -> Result<(), String> {
        let header = entry.header().clone();
        let is_symlink = header.entry_type().is_symlink();
        let uid = header.uid().map_err(|e| e.to_string())?;
        let gid = header.gid().map_err(|e| e.to_string())?;
        let mode = header.mode().map_err(|e| e.to_string())? & 0o7777;
        let mtime = header.mtime().map_err(|e| e.to_string())?;
        let mut mtime = (i64::try_from(mtime).unwrap_or(i64::MAX), 0);
        let map = &self.options.map;

        let mut xattrs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        if let Some(exts) = entry.pax_extensions().map_err(|e| e.to_string())? {
            for ext in exts {
                let ext = ext.map_err(|e| e.to_string())?;
                if let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                    xattrs.push((name.to_vec(), ext.value_bytes().to_vec()));
                } else if ext.key_bytes() == b"mtime" {
                    // Writers (Go, repack) put a time before 1970 or after 2242 here and
                    // 0 in the header field.
                    mtime = pax_time(ext.value_bytes()).ok_or_else(|| {
                        format!(
                            "malformed PAX mtime {:?}",
                            String::from_utf8_lossy(ext.value_bytes())
                        )
                    })?;
                }
            }
        }

        if map.rootless {
            // The layer's own value never survives: the header's owner is what counts
            // (and an owner of 0:0 is recorded by having no value at all).
            xattrs.retain(|(n, _)| n != ROOTLESS_XATTR);
            if let Some(value) = rootless_xattr(uid, gid) {
                xattrs.push((ROOTLESS_XATTR.to_vec(), value));
            }
        } else {
            let (u, g) = host_owner(map, uid, gid)?;
            tree.set_owner(path, u, g).map_err(|e| e.to_string())?;
        }
        if !is_symlink {
            tree.set_mode(path, mode).map_err(|e| e.to_string())?;
        }
        // Existing attributes (of a directory kept in place) give way to the layer's; a
        // new object has none to clear.
        if existed {
            for (name, _) in tree.xattrs(path).map_err(|e| e.to_string())? {
                if !KEPT_XATTRS.contains(&&name[..]) {
                    let _ = tree.remove_xattr(path, &name);
                }
            }
        }
        for (name, value) in &xattrs {
            if KEPT_XATTRS.contains(&&name[..]) {
                continue;
            }
            match tree.set_xattr(path, name, value) {
                Ok(()) => {}
                Err(e @ (FsError::NotSupported | FsError::PermissionDenied))
                    if map.rootless || is_symlink || !self.warned_xattrs =>
                {
                    if !self.warned_xattrs {
                        warnings.push(format!(
                            "{}: xattr {} not applied: {e}",
                            crate::repack::display(path),
                            String::from_utf8_lossy(name)
                        ));
                        self.warned_xattrs = true;
                    }
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        if let Some(kept) = self.parents.get_mut(path) {
            *kept = mtime;
        }
        tree.set_times(path, mtime, Some(mtime))
            .map_err(|e| e.to_string())
    }
}
