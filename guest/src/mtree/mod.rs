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
pub use walk::{Event, WalkError, walk};
pub use write::{Header, Writer};

use crate::tree::Tree;

/// Walk `tree` and return its whole manifest.
pub fn manifest(tree: &dyn Tree, header: &Header) -> Result<String, WalkError> {
    let mut writer = Writer::new(header);
    walk::<WalkError>(tree, &mut |event| {
        writer.event(&event);
        Ok(())
    })?;
    Ok(writer.finish())
}

#[cfg(test)]
mod tests;
