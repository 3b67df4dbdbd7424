//! Guest text made safe to print: a guest chooses every byte of its stderr, its failure
//! messages and its warnings, and a terminal or log must show them as data.

use std::fmt::Write as _;

/// `text` with every control character escaped the way the mtree `vis` encoding
/// escapes bytes: `\ooo` (three octal digits) for each byte of the character's UTF-8
/// form, and a backslash as `\\`. Escaped are C0 controls (newline and tab included),
/// DEL, C1 controls (U+0080 to U+009F; some terminals obey them) and the Unicode
/// bidirectional overrides and isolates, which reorder what a reader sees. Everything
/// else, spaces and non-ASCII letters included, stays as it is.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if needs_escape(c) {
            let mut utf8 = [0u8; 4];
            for byte in c.encode_utf8(&mut utf8).bytes() {
                let _ = write!(out, "\\{byte:03o}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Longest excerpt line, in characters, before it is cut.
const LINE_CHARS: usize = 200;

/// Guest output as short, sanitized lines: blank lines and the standard library's
/// backtrace hint dropped, each line cut to [`LINE_CHARS`] characters. A carriage
/// return stays in its line, escaped, so it cannot pass for the start of one.
pub fn excerpt_lines(text: &str) -> Vec<String> {
    text.split('\n')
        .filter(|l| !l.trim().is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
        .map(|l| {
            let mut line = sanitize(l);
            if let Some((cut, _)) = line.char_indices().nth(LINE_CHARS) {
                line.truncate(cut);
                line.push_str(" ...");
            }
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_text_kept() {
        assert_eq!(sanitize("plain text, été"), "plain text, été");
        assert_eq!(sanitize("a\x1b[2Jb"), "a\\033[2Jb");
        assert_eq!(sanitize("\rfake\n"), "\\015fake\\012");
        assert_eq!(sanitize("back\\slash\x7f"), "back\\\\slash\\177");
        assert_eq!(sanitize("\u{9b}31m"), "\\302\\23331m");
        assert_eq!(sanitize("\u{202e}txt"), "\\342\\200\\256txt");
    }

    #[test]
    fn excerpt_lines_are_short_and_clean() {
        let long = "x".repeat(500);
        let text =
            format!("first\r\n\n{long}\nnote: run with `RUST_BACKTRACE=1` ...\n\x1b[31mlast");
        let lines = excerpt_lines(&text);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[0], "first\\015");
        assert_eq!(lines[1].len(), LINE_CHARS + 4);
        assert_eq!(lines[2], "\\033[31mlast");
    }
}
