//! Reading manifests back: go-mtree's parsing rules, with clear errors on corrupt input.
//!
//! Keyword names and values borrow from the manifest text (a manifest of 50,000 entries
//! holds half a million of them); only lines joined by a continuation own theirs.

use std::borrow::Cow;
use std::rc::Rc;

use thiserror::Error;

use super::vis;

/// An entry's keywords: unique names with their values, as written. Two sets are equal
/// when they hold the same names with the same values, in whatever order.
#[derive(Debug, Clone, Default)]
pub struct Keywords<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl PartialEq for Keywords<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl Eq for Keywords<'_> {}

impl<'a> Keywords<'a> {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| &**v)
    }

    /// Whether `key` is there.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// How many keywords.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Names and values, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }

    /// The names.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| &**k)
    }

    /// The same keywords, owning their text.
    pub fn into_owned(self) -> Keywords<'static> {
        Keywords(
            self.0
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned())))
                .collect(),
        )
    }

    /// The keywords as a sorted map.
    pub fn to_map(&self) -> std::collections::BTreeMap<String, String> {
        self.iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// Keep only the keywords whose name passes `keep`.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.0.retain(|(k, _)| keep(k));
    }

    /// Set `key` to `value`, replacing an earlier value.
    fn insert(&mut self, key: Cow<'a, str>, value: Cow<'a, str>) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// Remove `key`.
    fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key);
    }
}

/// One entry of a parsed manifest: its path, and its keywords as written, turned into
/// [`Keywords`] only when asked for ([`ParsedEntry::keywords`]). A repack that the stat
/// cache tells most entries are unchanged never looks at theirs.
#[derive(Debug, Clone)]
pub struct ParsedEntry<'a> {
    /// Path relative to the root, lexically cleaned: `.` for the root, then `etc`,
    /// `etc/passwd` (raw bytes, decoded from `vis`).
    pub path: Vec<u8>,
    /// The `/set` in force at the entry (shared by all entries under it).
    set: Rc<Keywords<'a>>,
    /// The entry's own keyword tokens, as written (checked when parsed).
    own: Cow<'a, str>,
}

impl<'a> ParsedEntry<'a> {
    /// The entry's effective keywords: the `/set` in force merged with its own (its own
    /// win). Values are as written (`link` stays `vis`-encoded).
    pub fn keywords(&self) -> Keywords<'a> {
        let mut keywords = (*self.set).clone();
        for t in tokens(&self.own) {
            let (key, value) = keyword(t).unwrap_or((t, ""));
            keywords.insert(token(&self.own, key), token(&self.own, value));
        }
        keywords
    }

    /// The same entry, owning its text.
    pub fn into_owned(self) -> ParsedEntry<'static> {
        ParsedEntry {
            path: self.path,
            set: Rc::new((*self.set).clone().into_owned()),
            own: Cow::Owned(self.own.into_owned()),
        }
    }
}

impl PartialEq for ParsedEntry<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path && self.keywords() == other.keywords()
    }
}

impl Eq for ParsedEntry<'_> {}

/// The tokens of `text`: separated by runs of spaces and tabs.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split([' ', '\t']).filter(|t| !t.is_empty())
}

/// A manifest that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {cause}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub cause: String,
}

/// A token of `line`: borrowed from the manifest when `line` is, else owned.
fn token<'a>(line: &Cow<'a, str>, t: &str) -> Cow<'a, str> {
    if let Cow::Borrowed(whole) = line {
        // `t` is usually a slice of `whole`: borrow the same bytes for the manifest's
        // lifetime (anything else, such as a bare keyword's empty value, is copied).
        let start = (t.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
        if let Some(same) = whole.get(start..start.wrapping_add(t.len()))
            && same.as_ptr() == t.as_ptr()
        {
            return Cow::Borrowed(same);
        }
    }
    Cow::Owned(t.to_owned())
}

/// Parse manifest text into its entries, in file order.
///
/// Rules: `#` lines are comments and empty lines are ignored; a trailing unescaped `\`
/// joins the next line; `/set` replaces the keyword defaults and `/unset` removes some
/// (or `all`); `..` leaves the current directory; any other line is an entry whose first
/// token is its `vis`-encoded name. A name with a `/` is a path from the root; any other
/// name is relative to the current directory, and becomes the current directory when the
/// entry's own keywords say `type=dir`.
///
/// A manifest written by umoci for a directory whose name holds a newline has the
/// directory's `# path` comment broken over several lines; keyword-less lines straight
/// after a comment are taken as the rest of that comment.
pub fn parse(text: &str) -> Result<Vec<ParsedEntry<'_>>, ParseError> {
    let mut entries = Vec::new();
    let mut set = Rc::new(Keywords::default());
    // The current directories' cleaned paths (the root's is empty).
    let mut dirs: Vec<Vec<u8>> = Vec::new();
    let mut after_comment = false;
    let mut pending = String::new();
    let mut pending_start = 0;
    let mut continued = false;

    for (index, raw) in lines(text).enumerate() {
        let number = index + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if !continued {
            pending_start = number;
        }
        continued = ends_with_continuation(raw);
        if continued {
            pending.push_str(&raw[..raw.len() - 1]);
            continue;
        }
        let line: Cow<'_, str> = if pending.is_empty() {
            Cow::Borrowed(raw)
        } else {
            pending.push_str(raw);
            Cow::Owned(std::mem::take(&mut pending))
        };
        let fail = |cause: String| ParseError {
            line: pending_start,
            cause,
        };
        let trimmed = line.trim_start_matches([' ', '\t']);
        let Some(first) = tokens(trimmed).next() else {
            continue;
        };
        if first.starts_with('#') {
            after_comment = true;
            continue;
        }
        // What follows the first token (it starts the trimmed line).
        let rest = &trimmed[first.len()..];
        match first {
            "/set" => {
                let mut new = (*set).clone();
                for t in tokens(rest) {
                    let (key, value) = keyword(t).map_err(fail)?;
                    new.insert(token(&line, key), token(&line, value));
                }
                set = Rc::new(new);
            }
            "/unset" => {
                let mut new = (*set).clone();
                for t in tokens(rest) {
                    if t == "all" {
                        new = Keywords::default();
                    } else {
                        new.remove(t.split('=').next().unwrap_or(t));
                    }
                }
                set = Rc::new(new);
            }
            ".." => {
                dirs.pop();
            }
            _ if first.starts_with('/') => {
                return Err(fail(format!("unknown special command {first:?}")));
            }
            _ => {
                // The keywords are checked now and read when asked for; only whether
                // there are any and whether the entry says `type=dir` matter here
                // (the last `type` given wins).
                let mut count = 0;
                let mut dir = false;
                for t in tokens(rest) {
                    if t.starts_with('=') {
                        keyword(t).map_err(fail)?;
                    }
                    count += 1;
                    if let Some(kind) = t.strip_prefix("type") {
                        match kind.strip_prefix('=') {
                            Some(value) => dir = value == "dir",
                            None if kind.is_empty() => dir = false,
                            None => {}
                        }
                    }
                }
                if count == 0 && after_comment && !first.contains('/') {
                    continue; // the tail of a comment broken by a newline in a name
                }
                let name: Cow<'_, [u8]> = if first.contains('\\') {
                    Cow::Owned(vis::decode(first).map_err(|e| fail(e.to_string()))?)
                } else {
                    Cow::Borrowed(first.as_bytes())
                };
                let relative = !name.contains(&b'/');
                let parent = match dirs.last() {
                    Some(dir) if relative => &dir[..],
                    _ => &[][..],
                };
                let path = clean(parent, &name);
                if relative && dir {
                    dirs.push(path.clone());
                }
                entries.push(ParsedEntry {
                    path: if path.is_empty() { b".".to_vec() } else { path },
                    set: set.clone(),
                    own: token(&line, rest),
                });
            }
        }
        after_comment = false;
    }
    if continued {
        return Err(ParseError {
            line: pending_start,
            cause: "the last line ends in a continuation backslash".into(),
        });
    }
    Ok(entries)
}

/// The pieces of `text` between newlines (what `text.split('\n')` gives), found a
/// word at a time.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let r = rest?;
        match crate::bytes::find(r.as_bytes(), b'\n') {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// Whether a line ends in an odd number of backslashes (a continuation).
fn ends_with_continuation(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Split `key=value`; a bare `key` has an empty value.
fn keyword(token: &str) -> Result<(&str, &str), String> {
    let (key, value) = token.split_once('=').unwrap_or((token, ""));
    if key.is_empty() {
        return Err(format!("keyword without a name in {token:?}"));
    }
    Ok((key, value))
}

/// `name` resolved against the cleaned path `parent`, lexically: empty and `.`
/// components vanish and `..` removes one (never going above the root). The root is the
/// empty path.
fn clean(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let simple = !name.contains(&b'/') && !matches!(name, b"" | b"." | b"..");
    let mut out = Vec::with_capacity(parent.len() + name.len() + 1);
    out.extend_from_slice(parent);
    if simple {
        if !out.is_empty() {
            out.push(b'/');
        }
        out.extend_from_slice(name);
        return out;
    }
    for part in name.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                let keep = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
                out.truncate(keep);
            }
            _ => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(part);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(entries: &[ParsedEntry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| String::from_utf8_lossy(&e.path).into_owned())
            .collect()
    }

    const SAMPLE: &str = "#          user: root
#      keywords: size,type,uid,gid,mode,link,nlink,tar_time,sha256digest,xattr

# .
/set type=file nlink=1 mode=0664 uid=0 gid=0
. size=4096 type=dir mode=0755 nlink=4 tar_time=0.000000000
    motd\\040file size=6 mode=0644 tar_time=859293600.000000000 sha256digest=ab

# bin
bin size=4096 type=dir mode=0755 nlink=2 tar_time=859293600.000000000
    ash size=12 mode=0755 nlink=2 tar_time=1.000000000 xattr.user.note=aGVsbG8=
..

# home
/set type=file nlink=1 mode=0664 uid=1000 gid=100
home size=4096 type=dir mode=0700 nlink=2 tar_time=859293600.000000000
..
..
";

    #[test]
    fn reads_structure_and_merges_set() {
        let entries = parse(SAMPLE).unwrap();
        assert_eq!(
            paths(&entries),
            [".", "motd file", "bin", "bin/ash", "home"]
        );
        let ash = &entries[3].keywords();
        assert_eq!(ash.get("type"), Some("file"));
        assert_eq!(ash.get("mode"), Some("0755"), "own keyword wins over /set");
        assert_eq!(ash.get("uid"), Some("0"));
        assert_eq!(ash.get("xattr.user.note"), Some("aGVsbG8="));
        assert_eq!(entries[4].keywords().get("uid"), Some("1000"));
        assert_eq!(entries[4].keywords().get("type"), Some("dir"));
    }

    #[test]
    fn full_paths_do_not_change_directory_and_cannot_escape() {
        let text = ". type=dir\n../../etc/x type=dir\n    y size=1\n";
        let entries = parse(text).unwrap();
        assert_eq!(paths(&entries), [".", "etc/x", "y"]);
    }

    #[test]
    fn bare_keywords_have_empty_values() {
        let entries = parse(". type=dir\n    f nlink  mode=0644\n    g\tsize \\\n  uid\n").unwrap();
        assert_eq!(entries[1].keywords().get("nlink"), Some(""));
        assert_eq!(entries[1].keywords().get("mode"), Some("0644"));
        assert_eq!(entries[2].keywords().get("size"), Some(""));
        assert_eq!(entries[2].keywords().get("uid"), Some(""));
        assert!(parse("garbage line = %%\n").is_err());
    }

    #[test]
    fn keyword_sets_compare_by_content_not_order() {
        let a = &parse(". type=dir mode=0755 uid=0\n").unwrap()[0].keywords();
        let b = &parse("/set uid=0\n. mode=0755 type=dir\n").unwrap()[0].keywords();
        let c = &parse(". type=dir mode=0700 uid=0\n").unwrap()[0].keywords();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.to_map(), b.clone().into_owned().to_map());
    }

    #[test]
    fn continuation_lines_join() {
        let text = ". type=dir\n    a size=1 \\\n   mode=0600\n    b\\\\ size=2\n";
        let entries = parse(text).unwrap();
        assert_eq!(paths(&entries), [".", "a", "b\\"]);
        assert_eq!(entries[1].keywords().get("mode"), Some("0600"));
        assert_eq!(entries[2].keywords().get("size"), Some("2"));
    }

    #[test]
    fn unset_removes_defaults() {
        let text = "/set uid=0 gid=0\n/unset uid\n. type=dir\n/unset all\n    f size=1\n";
        let entries = parse(text).unwrap();
        assert!(!entries[0].keywords().contains_key("uid"));
        assert_eq!(entries[0].keywords().get("gid"), Some("0"));
        assert_eq!(entries[1].keywords().len(), 1);
    }

    #[test]
    fn umoci_broken_comment_for_newline_names_is_skipped() {
        // What umoci 0.4.7 writes for a directory named "nl\ndir".
        let text =
            "# .\n. type=dir\n\n# nl\ndir\n/set uid=0\nnl\\012dir type=dir\n    f size=0\n..\n..\n";
        let entries = parse(text).unwrap();
        assert_eq!(paths(&entries), [".", "nl\ndir", "nl\ndir/f"]);
    }

    #[test]
    fn corrupt_input_names_the_line() {
        let err = parse(". type=dir\n    bad\\q size=1\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(
            err.to_string().starts_with("line 2: unknown escape"),
            "{err}"
        );
        let err = parse(". type=dir\n/bogus x\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 2: unknown special command \"/bogus\""
        );
        let err = parse(". type=dir =x\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(parse(". type=dir \\").is_err());
    }
}
