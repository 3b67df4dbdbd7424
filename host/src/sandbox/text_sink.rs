//! Text a guest writes for the host to keep (the contract's `text-writer`): a manifest
//! or stat cache handed over in pieces and written to its file as they come, so
//! neither the guest nor the host ever holds all of it.
//!
//! The file is [`Staged`]: it takes its name only when the caller commits it, after
//! the job succeeded. A write that fails is remembered and reported by
//! [`TextSink::commit`], not to the guest: the text is the host's business, and a
//! stat cache the bundle has no room for must not fail the job that made it.

use std::ffi::OsStr;
use std::io::{self, Write};

use crate::handle::Staged;

/// Where the text goes, and how much of it there was.
#[derive(Debug)]
pub struct TextSink {
    written: u64,
    file: Option<Staged>,
    failed: Option<io::Error>,
}

impl TextSink {
    /// Text written to `file`.
    pub fn staged(file: Staged) -> Self {
        TextSink {
            written: 0,
            file: Some(file),
            failed: None,
        }
    }

    /// Text only counted (where there is nowhere to keep it).
    pub fn discard() -> Self {
        TextSink {
            written: 0,
            file: None,
            failed: None,
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Append `text`.
    pub fn push(&mut self, text: &str) {
        self.written += text.len() as u64;
        if let (Some(file), None) = (&mut self.file, &self.failed)
            && let Err(e) = file.write_all(text.as_bytes())
        {
            self.failed = Some(e);
        }
    }

    /// Put the text in place as `name` in the directory it was staged in; the first
    /// error writing it, if any. A discarded text is nowhere.
    pub fn commit(self, name: &OsStr) -> io::Result<()> {
        match (self.file, self.failed) {
            (_, Some(e)) => Err(e),
            (Some(file), None) => file.commit(name),
            (None, None) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_counted_and_kept_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::handle::ambient_dir(tmp.path(), true).unwrap();
        let mut sink = TextSink::staged(Staged::create(&dir, 0o644).unwrap());
        sink.push("/set type=file\n");
        sink.push("./a size=1\n");
        assert_eq!(sink.written(), 26);
        sink.commit(OsStr::new("m.mtree")).unwrap();
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("m.mtree")).unwrap(),
            "/set type=file\n./a size=1\n"
        );
    }

    #[test]
    fn a_failed_write_is_reported_at_the_commit_and_nothing_is_placed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::handle::ambient_dir(tmp.path(), true).unwrap();
        let mut sink = TextSink::staged(Staged::create(&dir, 0o644).unwrap());
        sink.failed = Some(io::Error::other("no space left"));
        sink.push("text");
        assert_eq!(sink.written(), 4);
        let e = sink.commit(OsStr::new("cache")).unwrap_err();
        assert_eq!(e.to_string(), "no space left");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn discarded_text_is_only_counted() {
        let mut sink = TextSink::discard();
        sink.push("abc");
        assert_eq!(sink.written(), 3);
        sink.commit(OsStr::new("never")).unwrap();
    }
}
