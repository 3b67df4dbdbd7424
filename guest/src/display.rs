//! Paths in messages.

use crate::mtree;

/// A path for messages: `vis`-encoded so control characters cannot forge lines.
pub fn display(path: &[u8]) -> String {
    if path.is_empty() {
        ".".into()
    } else {
        mtree::vis::encode(path)
    }
}
