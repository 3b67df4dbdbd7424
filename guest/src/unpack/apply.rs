//! Applying one archive entry: umoci's rules for names, whiteouts, clobbering,
//! creation and metadata.

use rustc_hash::{FxHashMap, FxHashSet};
use std::io::Read;

use super::owner::{host_owner, rootless_xattr};
use super::pending::{Pending, RefusedXattr};
use super::resolve::{Missing, clean, resolve_dir, split};
use super::{Options, UnpackError, contents};
use crate::display::display;
use crate::ids::ROOTLESS_XATTR;
use crate::tar::read::{Entry, Kind as EntryKind, Reader};
use crate::tree::{Attributes, FsError, Kind, NewKind, NewObject, TreeMut, Xattrs, join};

/// xattrs never applied from a layer, nor cleared from an existing object.
const KEPT_XATTRS: [&[u8]; 2] = [b"security.selinux", b"system.nfs4_acl"];

/// The prefix of whiteout names, and the opaque marker.
const WHITEOUT: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";

/// Largest regular file sent with its contents in a batched `create`; larger ones are
/// streamed through a writer of their own.
const INLINE_MAX: u64 = 512 << 10;

/// State kept across the entries of one layer.
#[derive(Debug)]
pub struct Layer<'o> {
    options: &'o Options,
    /// Real paths created by this layer, with their ancestors.
    created: FxHashSet<Vec<u8>>,
    /// Directories whose children this layer changed, with the modification time each
    /// must have when the layer is done (set back by [`Layer::finish`]).
    parents: FxHashMap<Vec<u8>, (i64, u32)>,
    /// Archive directory paths already resolved to real directories (valid until the
    /// layer removes something).
    resolved: FxHashMap<Vec<u8>, Vec<u8>>,
    /// Real directories this layer made (the root too, when the layer began on an
    /// empty tree): a child exists only if this layer made it, so none needs a look.
    fresh: FxHashSet<Vec<u8>>,
    /// New objects waiting for one batched `create`.
    pending: Pending,
    warned_xattrs: bool,
}

impl<'o> Layer<'o> {
    /// Fresh state for a layer.
    pub fn new(options: &'o Options) -> Self {
        Layer {
            options,
            created: FxHashSet::default(),
            parents: FxHashMap::default(),
            resolved: FxHashMap::default(),
            fresh: FxHashSet::default(),
            pending: Pending::default(),
            warned_xattrs: false,
        }
    }

    /// Look at the tree before the first entry: on an empty one (a new rootfs) every
    /// object the layer makes is new, and none needs a look before it is made.
    pub fn begin(&mut self, tree: &mut dyn TreeMut) -> Result<(), UnpackError> {
        let listed = tree.read_dir(b"").map_err(|e| UnpackError::Entry {
            path: Vec::new(),
            message: e.to_string(),
        })?;
        if listed.is_empty() {
            self.fresh.insert(Vec::new());
        }
        Ok(())
    }

    /// Send the objects queued for a batched `create`, and deal with the xattrs the
    /// tree refused them as if each had been set on its own.
    fn flush(
        &mut self,
        tree: &mut dyn TreeMut,
        warnings: &mut Vec<String>,
    ) -> Result<(), UnpackError> {
        let refused = self
            .pending
            .flush(tree)
            .map_err(|(path, e)| UnpackError::Entry {
                path,
                message: e.to_string(),
            })?;
        for RefusedXattr {
            path,
            symlink,
            refused,
        } in refused
        {
            self.xattr_refused(&path, &refused.name, refused.error, symlink, warnings)
                .map_err(|message| UnpackError::Entry {
                    path: path.clone(),
                    message,
                })?;
        }
        Ok(())
    }

    /// An xattr the tree would not set on `path`: a warning (once) where that is
    /// expected (rootless, symlinks, the first refusal), else the error.
    fn xattr_refused(
        &mut self,
        path: &[u8],
        name: &[u8],
        e: FsError,
        symlink: bool,
        warnings: &mut Vec<String>,
    ) -> Result<(), String> {
        let expected = matches!(e, FsError::NotSupported | FsError::PermissionDenied)
            && (self.options.map.rootless || symlink || !self.warned_xattrs);
        if !expected {
            return Err(e.to_string());
        }
        if !self.warned_xattrs {
            warnings.push(format!(
                "{}: xattr {} not applied: {e}",
                display(path),
                String::from_utf8_lossy(name)
            ));
            self.warned_xattrs = true;
        }
        Ok(())
    }

    /// The archive directory `parent` as a real directory, resolved once per layer (or
    /// again after a removal).
    fn resolve(&mut self, tree: &mut dyn TreeMut, parent: &[u8]) -> Result<Vec<u8>, FsError> {
        if let Some(real) = self.resolved.get(parent) {
            return Ok(real.clone());
        }
        let real = resolve_dir(tree, parent, Missing::Create)?;
        self.resolved.insert(parent.to_vec(), real.clone());
        Ok(real)
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
    pub fn finish(
        mut self,
        tree: &mut dyn TreeMut,
        warnings: &mut Vec<String>,
    ) -> Result<(), UnpackError> {
        self.flush(tree, warnings)?;
        let mut dirs: Vec<(Vec<u8>, (i64, u32))> = self.parents.into_iter().collect();
        dirs.sort_unstable_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
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

    /// Remove `path` from the tree, and forget the times of the directories that went
    /// with it: they are not put back, and one made again at such a path is
    /// remembered afresh.
    fn remove(&mut self, tree: &mut dyn TreeMut, path: &[u8]) -> Result<(), FsError> {
        tree.remove(path)?;
        let below = |dir: &[u8]| {
            dir.starts_with(path) && (dir.len() == path.len() || dir[path.len()] == b'/')
        };
        self.parents.retain(|dir, _| !below(dir));
        self.fresh.retain(|dir| !below(dir));
        self.resolved.clear();
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
        entry: &Entry,
        archive: &mut Reader<R>,
        warnings: &mut Vec<String>,
    ) -> Result<(), UnpackError> {
        let raw_name = entry.name.clone();
        let fail = |message: String| UnpackError::Entry {
            path: raw_name.clone(),
            message,
        };
        let fs_fail = |e: FsError| fail(e.to_string());
        let kind = entry.kind;
        let is_dir = kind == EntryKind::Directory;
        let name = clean(&raw_name);

        if name.is_empty() {
            if !is_dir {
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

        if !base.starts_with(WHITEOUT)
            && let Some(object) = self.new_object(&name, &parent, &base, entry, archive)?
        {
            self.mark_created(&object.path);
            if self.pending.push(raw_name.clone(), object) {
                self.flush(tree, warnings)?;
            }
            return Ok(());
        }
        // Everything below looks at or changes the tree: what is queued goes first.
        self.flush(tree, warnings)?;

        if base.starts_with(WHITEOUT) {
            return self.whiteout(tree, &parent, &base).map_err(fail);
        }

        let real_parent = self.resolve(tree, &parent).map_err(fs_fail)?;
        self.touch_parent(tree, &real_parent).map_err(fs_fail)?;
        let mut path = join(&real_parent, &base);

        // Clobber what is in the way, unless a directory meets a directory.
        let mut existed = false;
        match tree.metadata(&path) {
            Ok(existing) => {
                let keep_dir = existing.kind == Kind::Directory && is_dir;
                let dirlink =
                    is_dir && existing.kind == Kind::Symlink && self.options.keep_dirlinks;
                if keep_dir {
                    existed = true;
                } else if dirlink {
                    match resolve_dir(tree, &path, Missing::Fail) {
                        Ok(target) => {
                            path = target;
                            existed = true;
                        }
                        Err(_) => self.remove(tree, &path).map_err(fs_fail)?,
                    }
                } else {
                    self.remove(tree, &path).map_err(fs_fail)?;
                }
            }
            Err(FsError::NotFound) => {}
            Err(e) => return Err(fs_fail(e)),
        }

        let mode = (entry.mode & 0o7777) as u32;
        let rootless = self.options.map.rootless;
        let mut metadata = true;
        if matches!(kind, EntryKind::Regular | EntryKind::Contiguous) {
            let mut file = tree.create_file(&path, 0o600).map_err(fs_fail)?;
            contents::write(archive, entry.size, &mut *file).map_err(fail)?;
        } else if is_dir {
            if tree.metadata(&path).is_err() {
                tree.mkdir(&path, 0o700).map_err(fs_fail)?;
                self.fresh.insert(path.clone());
            }
            self.resolved.insert(name.clone(), path.clone());
        } else if kind == EntryKind::Symlink {
            if entry.linkname.is_empty() {
                return Err(fail("a symlink without a target".into()));
            }
            tree.symlink(&path, &entry.linkname).map_err(fs_fail)?;
        } else if kind == EntryKind::Hardlink {
            if entry.linkname.is_empty() {
                return Err(fail("a hardlink without a target".into()));
            }
            let target = clean(&entry.linkname);
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
        } else if matches!(kind, EntryKind::CharDevice | EntryKind::BlockDevice) {
            if rootless {
                warnings.push(format!(
                    "{}: device nodes cannot be created without privileges; made an empty file",
                    display(&raw_name)
                ));
                tree.create_file(&path, 0o600).map_err(fs_fail)?;
            } else {
                let number = |n: i64| {
                    u32::try_from(n).map_err(|_| fail(format!("device number {n} out of range")))
                };
                let (major, minor) = (number(entry.devmajor)?, number(entry.devminor)?);
                let k = if kind == EntryKind::CharDevice {
                    Kind::CharDevice
                } else {
                    Kind::BlockDevice
                };
                tree.mknod(&path, k, mode, major, minor).map_err(fs_fail)?;
            }
        } else if kind == EntryKind::Fifo {
            tree.mknod(&path, Kind::Fifo, mode, 0, 0).map_err(fs_fail)?;
        } else {
            let EntryKind::Other(typeflag) = kind else {
                unreachable!("every other kind is handled above")
            };
            return Err(fail(format!(
                "unsupported entry type {:?}",
                typeflag as char
            )));
        }
        if metadata {
            self.metadata(tree, &path, entry, warnings, existed)
                .map_err(fail)?;
        }
        self.mark_created(&path);
        Ok(())
    }

    /// The entry as an object for a batched `create`, when that is all it takes: a
    /// small file, a directory or a symlink, in a directory this layer made (so
    /// nothing is in its way and no symlink is on its path) whose time is already
    /// kept. Reads a file's contents from the archive.
    fn new_object<R: Read>(
        &mut self,
        name: &[u8],
        parent: &[u8],
        base: &[u8],
        entry: &Entry,
        archive: &mut Reader<R>,
    ) -> Result<Option<NewObject>, UnpackError> {
        let fail = |message: String| UnpackError::Entry {
            path: entry.name.clone(),
            message,
        };
        let batched = match entry.kind {
            EntryKind::Regular | EntryKind::Contiguous => {
                entry.size <= INLINE_MAX && entry.holes() == 0
            }
            EntryKind::Directory => true,
            EntryKind::Symlink => !entry.linkname.is_empty(),
            _ => false,
        };
        if !batched {
            return Ok(None);
        }
        let Some(real_parent) = self.resolved.get(parent) else {
            return Ok(None);
        };
        if !self.fresh.contains(real_parent) || !self.parents.contains_key(real_parent) {
            return Ok(None);
        }
        let path = join(real_parent, base);
        if self.created.contains(&path) {
            return Ok(None);
        }
        let attributes = self.attributes(entry).map_err(fail)?;
        let kind = match entry.kind {
            EntryKind::Directory => {
                self.fresh.insert(path.clone());
                self.parents.insert(path.clone(), entry.mtime);
                self.resolved.insert(name.to_vec(), path.clone());
                NewKind::Directory
            }
            EntryKind::Symlink => NewKind::Symlink(entry.linkname.clone()),
            _ => NewKind::Regular(contents::read_all(archive, entry.size).map_err(fail)?),
        };
        Ok(Some(NewObject {
            path,
            kind,
            attributes,
        }))
    }

    /// Owner, mode, xattrs and times of a new object, as [`Layer::metadata`] gives
    /// them.
    fn attributes(&self, entry: &Entry) -> Result<Attributes, String> {
        let (uid, gid) = entry_owner(entry)?;
        let map = &self.options.map;
        let mut xattrs = layer_xattrs(entry, map.rootless, uid, gid);
        xattrs.retain(|(n, _)| !KEPT_XATTRS.contains(&&n[..]));
        let owner = if map.rootless {
            None
        } else {
            Some(host_owner(map, uid, gid)?)
        };
        Ok(Attributes {
            owner,
            mode: (entry.mode & 0o7777) as u32,
            xattrs,
            mtime: entry.mtime,
            atime: Some(entry.mtime),
        })
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
                    self.remove(tree, &path).map_err(|e| e.to_string())?;
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
                match self.remove(tree, &path) {
                    Ok(()) | Err(FsError::NotFound) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
        Ok(())
    }

    /// Owner, mode, xattrs and times of a created object.
    fn metadata(
        &mut self,
        tree: &mut dyn TreeMut,
        path: &[u8],
        entry: &Entry,
        warnings: &mut Vec<String>,
        existed: bool,
    ) -> Result<(), String> {
        let is_symlink = entry.kind == EntryKind::Symlink;
        let (uid, gid) = entry_owner(entry)?;
        let mode = (entry.mode & 0o7777) as u32;
        let mtime = entry.mtime;
        let map = &self.options.map;
        let xattrs = layer_xattrs(entry, map.rootless, uid, gid);

        if !map.rootless {
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
            if let Err(e) = tree.set_xattr(path, name, value) {
                self.xattr_refused(path, name, e, is_symlink, warnings)?;
            }
        }
        if let Some(kept) = self.parents.get_mut(path) {
            *kept = mtime;
        }
        tree.set_times(path, mtime, Some(mtime))
            .map_err(|e| e.to_string())
    }
}

/// The entry's owner ids.
fn entry_owner(entry: &Entry) -> Result<(u64, u64), String> {
    let id = |n: i64| u64::try_from(n).map_err(|_| format!("negative owner id {n}"));
    Ok((id(entry.uid)?, id(entry.gid)?))
}

/// The xattrs the entry's object gets: the layer's, and in rootless mode the owner
/// recorded in `user.rootlesscontainers` instead of the layer's own value (which never
/// survives: an owner of 0:0 is recorded by having no value at all).
fn layer_xattrs(entry: &Entry, rootless: bool, uid: u64, gid: u64) -> Xattrs {
    let mut xattrs = entry.xattrs.clone();
    if rootless {
        xattrs.retain(|(n, _)| n != ROOTLESS_XATTR);
        if let Some(value) = rootless_xattr(uid, gid) {
            xattrs.push((ROOTLESS_XATTR.to_vec(), value));
        }
    }
    xattrs
}
