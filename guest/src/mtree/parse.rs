//! Reading manifests back: go-mtree's parsing rules, with clear errors on corrupt input.

use std::collections::BTreeMap;

use thiserror::Error;

use super::vis;

/// One entry of a parsed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEntry {
    /// Path relative to the root, lexically cleaned: `.` for the root, then `etc`,
    /// `etc/passwd` (raw bytes, decoded from `vis`).
    pub path: Vec<u8>,
    /// The entry's effective keywords: the `/set` in force merged with its own (its own
    /// win). Values are as written (`link` stays `vis`-encoded).
    pub keywords: BTreeMap<String, String>,
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
pub fn parse(text: &str) -> Result<Vec<ParsedEntry>, ParseError> {
    let mut entries = Vec::new();
    let mut set: BTreeMap<String, String> = BTreeMap::new();
    // Current directory as cleaned path components; `None` before the root entry.
    let mut dirs: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut after_comment = false;
    let mut pending = String::new();
    let mut pending_start = 0;
    let mut continued = false;

    for (index, raw) in text.split('\n').enumerate() {
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
        let joined;
        let line = if pending.is_empty() {
            raw
        } else {
            pending.push_str(raw);
            joined = std::mem::take(&mut pending);
            &joined
        };
        let fail = |cause: String| ParseError {
            line: pending_start,
            cause,
        };
        let line = line.trim_start_matches([' ', '\t']);
        let mut tokens = line.split([' ', '\t']).filter(|t| !t.is_empty());
        let Some(first) = tokens.next() else {
            continue;
        };
        if first.starts_with('#') {
            after_comment = true;
            continue;
        }
        match first {
            "/set" => {
                for token in tokens {
                    let (key, value) = keyword(token).map_err(fail)?;
                    set.insert(key, value);
                }
            }
            "/unset" => {
                for token in tokens {
                    if token == "all" {
                        set.clear();
                    } else {
                        set.remove(token.split('=').next().unwrap_or(token));
                    }
                }
            }
            ".." => {
                dirs.pop();
            }
            _ if first.starts_with('/') => {
                return Err(fail(format!("unknown special command {first:?}")));
            }
            _ => {
                let own = tokens.map(keyword).collect::<Result<BTreeMap<_, _>, _>>();
                let own = own.map_err(fail)?;
                if own.is_empty() && after_comment && !first.contains('/') {
                    continue; // the tail of a comment broken by a newline in a name
                }
                let name = vis::decode(first).map_err(|e| fail(e.to_string()))?;
                let parent = if name.contains(&b'/') {
                    &[][..]
                } else {
                    dirs.last().map_or(&[][..], |d| &d[..])
                };
                let components = clean(parent, &name);
                if !name.contains(&b'/') && own.get("type").is_some_and(|t| t == "dir") {
                    dirs.push(components.clone());
                }
                let mut keywords = set.clone();
                keywords.extend(own);
                entries.push(ParsedEntry {
                    path: render(&components),
                    keywords,
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

/// Whether a line ends in a backslash that is not itself escaped.
fn ends_with_continuation(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Split `key=value`; a bare keyword has an empty value.
fn keyword(token: &str) -> Result<(String, String), String> {
    let (key, value) = token.split_once('=').unwrap_or((token, ""));
    if key.is_empty() {
        return Err(format!("keyword without a name in {token:?}"));
    }
    Ok((key.to_owned(), value.to_owned()))
}

/// Lexically clean `name` below `parent`: drop empty and `.` components, resolve `..`
/// without ever climbing above the root.
fn clean(parent: &[Vec<u8>], name: &[u8]) -> Vec<Vec<u8>> {
    let mut out = parent.to_vec();
    for part in name.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            _ => out.push(part.to_vec()),
        }
    }
    out
}

/// Join cleaned components into a path (`.` for the root).
fn render(components: &[Vec<u8>]) -> Vec<u8> {
    if components.is_empty() {
        return b".".to_vec();
    }
    components.join(&b'/')
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
        let ash = &entries[3].keywords;
        assert_eq!(ash["type"], "file");
        assert_eq!(ash["mode"], "0755", "own keyword wins over /set");
        assert_eq!(ash["uid"], "0");
        assert_eq!(ash["xattr.user.note"], "aGVsbG8=");
        assert_eq!(entries[4].keywords["uid"], "1000");
        assert_eq!(entries[4].keywords["type"], "dir");
    }

    #[test]
    fn full_paths_do_not_change_directory_and_cannot_escape() {
        let text = ". type=dir\n../../etc/x type=dir\n    y size=1\n";
        let entries = parse(text).unwrap();
        assert_eq!(paths(&entries), [".", "etc/x", "y"]);
    }

    #[test]
    fn continuation_lines_join() {
        let text = ". type=dir\n    a size=1 \\\n   mode=0600\n    b\\\\ size=2\n";
        let entries = parse(text).unwrap();
        assert_eq!(paths(&entries), [".", "a", "b\\"]);
        assert_eq!(entries[1].keywords["mode"], "0600");
        assert_eq!(entries[2].keywords["size"], "2");
    }

    #[test]
    fn unset_removes_defaults() {
        let text = "/set uid=0 gid=0\n/unset uid\n. type=dir\n/unset all\n    f size=1\n";
        let entries = parse(text).unwrap();
        assert!(!entries[0].keywords.contains_key("uid"));
        assert_eq!(entries[0].keywords["gid"], "0");
        assert_eq!(entries[1].keywords.len(), 1);
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
