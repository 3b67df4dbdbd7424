//! Objects queued for one batched `create` call: unpack's small files, directories and
//! symlinks go to the host many at a time, each with its metadata.

use crate::tree::{FsError, NewObject, Refused, TreeMut};

/// Bytes of file contents queued before the batch is sent.
const MAX_BYTES: usize = 512 << 10;
/// Objects queued before the batch is sent.
const MAX_OBJECTS: usize = 1024;

/// The queue, with each object's archive name for messages.
#[derive(Debug, Default)]
pub struct Pending {
    objects: Vec<NewObject>,
    names: Vec<Vec<u8>>,
    bytes: usize,
}

/// An object of a sent batch that was refused an xattr.
#[derive(Debug)]
pub struct RefusedXattr {
    /// The object's path in the tree.
    pub path: Vec<u8>,
    /// Whether the object is a symlink.
    pub symlink: bool,
    /// The refusal.
    pub refused: Refused,
}

/// An object of a sent batch that could not be created: its archive name and why.
pub type Failed = (Vec<u8>, FsError);

impl Pending {
    /// Queue `object` (from the archive entry `name`); true when the batch is full.
    pub fn push(&mut self, name: Vec<u8>, object: NewObject) -> bool {
        if let crate::tree::NewKind::Regular(contents) = &object.kind {
            self.bytes += contents.len();
        }
        self.objects.push(object);
        self.names.push(name);
        self.bytes >= MAX_BYTES || self.objects.len() >= MAX_OBJECTS
    }

    /// Send the queued objects to `tree`; returns the xattrs it refused.
    pub fn flush(&mut self, tree: &mut dyn TreeMut) -> Result<Vec<RefusedXattr>, Failed> {
        if self.objects.is_empty() {
            return Ok(Vec::new());
        }
        let objects = std::mem::take(&mut self.objects);
        let names = std::mem::take(&mut self.names);
        self.bytes = 0;
        // The paths and kinds outlive the call, for what the host reports back.
        let kept: Vec<(Vec<u8>, bool)> = objects
            .iter()
            .map(|o| {
                (
                    o.path.clone(),
                    matches!(o.kind, crate::tree::NewKind::Symlink(_)),
                )
            })
            .collect();
        match tree.create(objects) {
            Ok(refused) => Ok(refused
                .into_iter()
                .filter_map(|r| {
                    let (path, symlink) = kept.get(r.index)?.clone();
                    Some(RefusedXattr {
                        path,
                        symlink,
                        refused: r,
                    })
                })
                .collect()),
            Err((index, e)) => {
                let name = names.get(index).cloned().unwrap_or_default();
                Err((name, e))
            }
        }
    }
}
