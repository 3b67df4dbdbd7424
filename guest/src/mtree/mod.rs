//! mtree manifests as umoci writes and reads them.
//!
//! - [`vis`]: name encoding.
//! - [`keywords`]: the ten keywords of one object.
//! - [`walk`](mod@walk): visiting a tree in manifest order.
//! - [`write`](mod@write): manifest text from a walk.
//! - [`parse`](mod@parse): manifest text back into entries.

pub mod keywords;
pub mod parse;
pub mod vis;
pub mod walk;
pub mod write;

pub use keywords::KEYWORDS;
pub use parse::{Keywords, ParseError, ParsedEntry, parse};
pub use walk::{Event, Need, Needs, WalkError, walk, walk_with};
pub use write::{Header, Writer};

use crate::tree::Tree;

/// Walk `tree` and hand its manifest to `sink` in pieces of about `piece` bytes, so
/// the whole text is never held.
pub fn manifest_to<E: From<WalkError>>(
    tree: &dyn Tree,
    header: &Header,
    piece: usize,
    sink: &mut dyn FnMut(String) -> Result<(), E>,
) -> Result<(), E> {
    let mut writer = Writer::new(header);
    walk::<E>(tree, &mut |event| {
        writer.event(&event);
        if writer.pending() >= piece {
            sink(writer.take())?;
        }
        Ok(())
    })?;
    let rest = writer.finish();
    if !rest.is_empty() {
        sink(rest)?;
    }
    Ok(())
}

/// Walk `tree` and return its whole manifest.
pub fn manifest(tree: &dyn Tree, header: &Header) -> Result<String, WalkError> {
    let mut text = String::new();
    manifest_to::<WalkError>(tree, header, usize::MAX, &mut |piece| {
        text = piece;
        Ok(())
    })?;
    Ok(text)
}

#[cfg(test)]
mod tests;
