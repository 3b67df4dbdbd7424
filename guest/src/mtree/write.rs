//! Rendering walk events as manifest text, byte-compatible with umoci's `.mtree` files.

use std::fmt::Write as _;

use super::keywords::KEYWORDS;
use super::vis;
use super::walk::Event;

/// The comment lines that open a manifest.
#[derive(Debug, Clone, Default)]
pub struct Header {
    /// Name of the user running the walk (`None` omits the line).
    pub user: Option<String>,
    /// Host name (`None` omits the line).
    pub machine: Option<String>,
    /// The tree's path as the user named it.
    pub tree: String,
    /// Formatted date.
    pub date: String,
}

/// Builds manifest text from walk events.
///
/// A `/set` line is emitted for the root and again whenever a directory's uid or gid is
/// not the current one; it is never restored on the way back up. Any `key=value` equal
/// to one in the current `/set` is left out of an entry.
#[derive(Debug)]
pub struct Writer {
    out: String,
    set: Vec<String>,
}

impl Writer {
    /// Start a manifest with `header`.
    pub fn new(header: &Header) -> Self {
        let mut out = String::new();
        let mut line = |label: &str, value: &str| {
            let _ = writeln!(out, "#{label:>14}: {value}");
        };
        if let Some(user) = &header.user {
            line("user", user);
        }
        if let Some(machine) = &header.machine {
            line("machine", machine);
        }
        line("tree", &header.tree);
        line("date", &header.date);
        line("keywords", &KEYWORDS.join(","));
        Writer {
            out,
            set: Vec::new(),
        }
    }

    /// Append one walk event (never one vouched for: it has no keywords).
    pub fn event(&mut self, event: &Event<'_>) {
        debug_assert!(
            !matches!(
                event,
                Event::Dir { vouched: true, .. } | Event::Object { vouched: true, .. }
            ),
            "a manifest is written from keywords"
        );
        match *event {
            Event::Dir {
                path,
                name,
                meta,
                keywords,
                ..
            } => {
                self.out.push_str("\n# ");
                if path.is_empty() {
                    self.out.push('.');
                } else {
                    // umoci writes the raw path here, so a newline in a directory name
                    // breaks the comment into a bogus entry line; encoding avoids that.
                    vis::encode_into(path, &mut self.out);
                }
                self.out.push('\n');
                let uid = format!("uid={}", meta.uid);
                let gid = format!("gid={}", meta.gid);
                if !self.set.contains(&uid) || !self.set.contains(&gid) {
                    self.set = ["type=file", "nlink=1", "mode=0664"]
                        .map(String::from)
                        .into_iter()
                        .chain([uid, gid])
                        .collect();
                    self.out.push_str("/set ");
                    self.out.push_str(&self.set.join(" "));
                    self.out.push('\n');
                }
                self.entry(name, keywords, "");
            }
            Event::Object { name, keywords, .. } => self.entry(name, keywords, "    "),
            Event::Up => self.out.push_str("..\n"),
        }
    }

    fn entry(&mut self, name: &[u8], keywords: &[String], indent: &str) {
        self.out.push_str(indent);
        vis::encode_into(name, &mut self.out);
        for kw in keywords.iter().filter(|kw| !self.set.contains(kw)) {
            self.out.push(' ');
            self.out.push_str(kw);
        }
        self.out.push('\n');
    }

    /// The text written since the last call (to hand a long manifest on in pieces).
    pub fn take(&mut self) -> String {
        std::mem::take(&mut self.out)
    }

    /// Bytes of text waiting for [`Writer::take`].
    pub fn pending(&self) -> usize {
        self.out.len()
    }

    /// The finished manifest (what is left of it after [`Writer::take`]).
    pub fn finish(self) -> String {
        self.out
    }
}
