//! JSON as Go's `encoding/json` writes it, on top of serde_json: `<`, `>`, `&`, U+2028
//! and U+2029 escaped as `\u` sequences, backspace and form feed as `\u0008` and
//! `\u000c`; compact, or indented with tabs as `json.MarshalIndent(v, "", "\t")`.

use std::io;

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, PrettyFormatter};

/// Go's escaping around another formatter's layout.
#[derive(Debug)]
pub struct GoFormatter<F>(pub F);

/// Forward every layout call to the inner formatter.
macro_rules! forward {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $name<W: ?Sized + io::Write>(&mut self, writer: &mut W $(, $arg: $ty)*) -> io::Result<()> {
                self.0.$name(writer $(, $arg)*)
            }
        )*
    };
}

impl<F: Formatter> Formatter for GoFormatter<F> {
    forward! {
        begin_array();
        end_array();
        begin_array_value(first: bool);
        end_array_value();
        begin_object();
        end_object();
        begin_object_key(first: bool);
        end_object_key();
        begin_object_value();
        end_object_value();
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escape = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(escape.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        match escape {
            CharEscape::Backspace => writer.write_all(b"\\u0008"),
            CharEscape::FormFeed => writer.write_all(b"\\u000c"),
            other => self.0.write_char_escape(writer, other),
        }
    }
}

/// `value` indented with tabs, then a newline, as umoci writes `config.json`.
pub fn encode_indented<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::new();
    let formatter = GoFormatter(PrettyFormatter::with_indent(b"\t"));
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    value.serialize(&mut ser)?;
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn indented_with_tabs_and_escaped_like_go() {
        let v = json!({"a": ["<x & y>", "\u{2028}\u{8}\u{c}\n"], "b": {}, "c": []});
        assert_eq!(
            String::from_utf8(encode_indented(&v).unwrap()).unwrap(),
            "{\n\t\"a\": [\n\t\t\"\\u003cx \\u0026 y\\u003e\",\n\t\t\"\\u2028\\u0008\\u000c\\n\"\n\t],\n\t\"b\": {},\n\t\"c\": []\n}\n"
        );
    }
}
