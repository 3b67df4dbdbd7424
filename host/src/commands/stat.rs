//! `stat --image LAYOUT[:TAG] [--json]`: an image's history, paired with its layers.
//!
//! JSON has umoci 0.6's shape: `{"manifest":{"descriptor","blob"},"config":{"descriptor",
//! "blob"},"history":[…]}`, each history entry being the config's entry with `layer`
//! (its descriptor, `null` for an `empty_layer` entry) and `diff_id` (`""`) in front.
//! Text is umoci 0.4.7's table (LAYER, CREATED, CREATED BY, SIZE, COMMENT).

use std::io::{self, Write};

use anyhow::{Context, Result};
use repack_host::image::{BaseImage, history};
use repack_host::layout::{Descriptor, ImageRef, Layout, json};
use serde_json::{Map, Value};

use crate::cli::StatArgs;

/// One history entry and the layer it made.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryStat {
    /// The layer, `None` for an empty-layer entry.
    pub layer: Option<Descriptor>,
    /// The layer's diff_id, `""` for an empty-layer entry.
    pub diff_id: String,
    /// The config's history entry.
    pub entry: Map<String, Value>,
}

/// Pair history entries with layers: each entry that is not `empty_layer` takes the
/// next layer and diff_id. Entries beyond the layers get none (with a warning).
pub fn history_stats(
    history: &[Value],
    layers: &[Descriptor],
    diff_ids: &[Value],
) -> Vec<HistoryStat> {
    let mut next = 0;
    history
        .iter()
        .map(|h| {
            let entry = h.as_object().cloned().unwrap_or_default();
            let empty = entry.get("empty_layer").and_then(Value::as_bool) == Some(true);
            let (layer, diff_id) = if empty {
                (None, String::new())
            } else {
                let layer = layers.get(next).cloned();
                let diff_id = diff_ids
                    .get(next)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                if layer.is_none() {
                    tracing::warn!("history entry {} has no layer", next + 1);
                }
                next += 1;
                (layer, diff_id)
            };
            HistoryStat {
                layer,
                diff_id,
                entry,
            }
        })
        .collect()
}

impl HistoryStat {
    /// `{"layer":…,"diff_id":…, <the history entry's fields>}`.
    pub fn to_value(&self) -> Value {
        let mut out = Map::new();
        out.insert(
            "layer".into(),
            self.layer
                .as_ref()
                .map_or(Value::Null, Descriptor::to_value),
        );
        out.insert("diff_id".into(), self.diff_id.clone().into());
        let entry = json::ordered(self.entry.clone(), json::HISTORY_FIELDS);
        for (k, v) in entry {
            if k != "layer" && k != "diff_id" {
                out.insert(k, v);
            }
        }
        Value::Object(out)
    }

    /// The table row: layer, created, created by, size, comment.
    fn row(&self) -> [String; 5] {
        let text = |key: &str| self.entry.get(key).and_then(Value::as_str).unwrap_or("");
        let created = text("created");
        let created = history::parse_created(created)
            .map(|t| history::format_time(&t))
            .unwrap_or_else(|_| created.to_owned());
        let (layer, size) = match &self.layer {
            Some(d) => (d.digest.to_string(), human_size(d.size)),
            None => ("<none>".to_owned(), "<none>".to_owned()),
        };
        [
            layer,
            quote(&created),
            quote(text("created_by")),
            size,
            quote(text("comment")),
        ]
    }
}

/// A size as Docker's `HumanSize`: decimal units, four significant digits.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let decimals = match value {
        v if v >= 100.0 => 1,
        v if v >= 10.0 => 2,
        _ => 3,
    };
    let mut text = format!("{value:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    format!("{text}{}", UNITS[unit])
}

/// Quote a cell only when it holds characters that would break the table (quotes,
/// backslashes, control characters), as umoci 0.6 does.
pub fn quote(text: &str) -> String {
    if !text
        .chars()
        .any(|c| c == '"' || c == '\\' || c.is_control())
    {
        return text.to_owned();
    }
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() && (c as u32) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Lay rows out as Go's tabwriter (min width 4, padding 1): every cell but the last
/// padded to its column's width.
pub fn table(rows: &[[String; 5]]) -> String {
    let mut widths = [4usize; 4];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count() + 1);
        }
    }
    let mut out = String::new();
    for row in rows {
        for (w, cell) in widths.iter().zip(row) {
            out.push_str(cell);
            out.extend(std::iter::repeat_n(' ', w - cell.chars().count()));
        }
        out.push_str(&row[4]);
        out.push('\n');
    }
    out
}

/// The stat JSON of an image.
pub fn stat_json(image: &BaseImage, history: &[HistoryStat]) -> Value {
    let manifest = image.walk.last().expect("walks are never empty");
    serde_json::json!({
        "manifest": {
            "descriptor": manifest.to_value(),
            "blob": Value::Object(image.manifest.clone()),
        },
        "config": {
            "descriptor": image.config_desc.to_value(),
            "blob": Value::Object(image.config.clone()),
        },
        "history": history.iter().map(HistoryStat::to_value).collect::<Vec<_>>(),
    })
}

/// Run `stat`.
pub fn run(args: &StatArgs) -> Result<()> {
    let image = ImageRef::parse(&args.image.image)?;
    let layout = Layout::open(&image.layout)?;
    let platform = super::unpack::platform(&args.platform)?;
    let walk = layout.resolve_platform(&image.tag, platform.as_ref())?;
    let base = BaseImage::load(&layout, walk)?;
    let list = |v: Option<&Value>| v.and_then(Value::as_array).cloned().unwrap_or_default();
    let stats = history_stats(
        &list(base.config.get("history")),
        &base.layers(),
        &list(base.config.get("rootfs").and_then(|r| r.get("diff_ids"))),
    );
    let text = if args.json {
        json::encode(&stat_json(&base, &stats))
    } else {
        let header = ["LAYER", "CREATED", "CREATED BY", "SIZE", "COMMENT"].map(String::from);
        let rows: Vec<[String; 5]> = std::iter::once(header)
            .chain(stats.iter().map(HistoryStat::row))
            .collect();
        table(&rows).into_bytes()
    };
    let mut out = io::stdout().lock();
    match out.write_all(&text).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn layer(n: u8, size: u64) -> Descriptor {
        Descriptor::from_json(
            &json!({"mediaType": "l", "digest": format!("sha256:{}", format!("{n:02x}").repeat(32)), "size": size}),
            "test",
        )
        .unwrap()
    }

    #[test]
    fn sizes_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(134), "134B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1500), "1.5kB");
        assert_eq!(human_size(123_456), "123.5kB");
        assert_eq!(human_size(99_996), "100kB");
        assert_eq!(human_size(12_345_678), "12.35MB");
        assert_eq!(human_size(1_000_000_000_000), "1TB");
    }

    #[test]
    fn empty_layers_take_no_layer() {
        let history = [
            json!({"created_by": "a"}),
            json!({"created_by": "b", "empty_layer": true}),
            json!({"created_by": "c", "comment": "x", "created": "2020-01-01T00:00:00Z"}),
        ];
        let layers = [layer(1, 10), layer(2, 20)];
        let ids = [json!("sha256:d1"), json!("sha256:d2")];
        let stats = history_stats(&history, &layers, &ids);
        assert_eq!(stats[0].layer.as_ref().unwrap().size, 10);
        assert_eq!(stats[1].layer, None);
        assert_eq!(stats[1].diff_id, "");
        assert_eq!(stats[2].diff_id, "sha256:d2");
        assert_eq!(
            serde_json::to_string(&stats[1].to_value()).unwrap(),
            r#"{"layer":null,"diff_id":"","created_by":"b","empty_layer":true}"#
        );
        let v = stats[2].to_value();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["layer", "diff_id", "created", "created_by", "comment"]
        );
        // More entries than layers: no panic, no layer.
        let short = history_stats(&history, &layers[..1], &ids[..1]);
        assert_eq!(short[2].layer, None);
    }

    #[test]
    fn table_pads_like_tabwriter() {
        let rows = vec![
            ["LAYER", "CREATED", "CREATED BY", "SIZE", "COMMENT"].map(String::from),
            ["sha256:aa", "t1", "umoci repack", "134B", ""].map(String::from),
            ["<none>", "t2", "umoci config", "<none>", ""].map(String::from),
        ];
        assert_eq!(
            table(&rows),
            "LAYER     CREATED CREATED BY   SIZE   COMMENT\n\
             sha256:aa t1      umoci repack 134B   \n\
             <none>    t2      umoci config <none> \n"
        );
    }

    #[test]
    fn cells_are_quoted_only_when_needed() {
        assert_eq!(quote("umoci config"), "umoci config");
        assert_eq!(quote("a\tb"), "\"a\\tb\"");
        assert_eq!(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
    }
}
