//! Text a guest writes for the host to keep (the contract's `text-writer`): a manifest
//! handed over in pieces, so the guest never holds all of it.

/// The text written so far.
#[derive(Debug, Default)]
pub struct TextSink(String);

impl TextSink {
    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Append `text`.
    pub fn push(&mut self, text: &str) {
        self.0.push_str(text);
    }

    /// Everything written.
    pub fn into_string(self) -> String {
        self.0
    }
}
