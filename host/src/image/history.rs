//! History entries and times: RFC 3339 as Go writes it, and `SOURCE_DATE_EPOCH`.

use chrono::{DateTime, FixedOffset, Local, SecondsFormat, TimeZone, Utc};
use serde_json::{Map, Value};

use crate::layout::json;

/// The history entry to add to a new image (`None` in a request adds none).
#[derive(Debug, Clone, Default)]
pub struct HistoryRequest {
    /// `author` (default: the config's author).
    pub author: Option<String>,
    /// `comment`.
    pub comment: Option<String>,
    /// `created`, RFC 3339 (default: `SOURCE_DATE_EPOCH`, else now).
    pub created: Option<String>,
    /// `created_by`.
    pub created_by: String,
}

/// `SOURCE_DATE_EPOCH` and a history request's `created` time, both checked.
pub fn times(
    source_date_epoch: Option<&str>,
    history: Option<&HistoryRequest>,
) -> Result<(Option<i64>, Option<DateTime<FixedOffset>>), String> {
    let epoch = self::source_date_epoch(source_date_epoch)?;
    let created = history
        .and_then(|h| h.created.as_deref())
        .map(parse_created)
        .transpose()?;
    Ok((epoch, created))
}

/// Parse `SOURCE_DATE_EPOCH` (unset or empty: `None`).
pub fn source_date_epoch(value: Option<&str>) -> Result<Option<i64>, String> {
    match value {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| format!("SOURCE_DATE_EPOCH {v:?} is not a whole number of seconds")),
    }
}

/// Parse an RFC 3339 time (fractional seconds optional), keeping its offset.
pub fn parse_created(text: &str) -> Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_rfc3339(text)
        .map_err(|e| format!("--history.created {text:?} is not an RFC 3339 time: {e}"))
}

/// Format a time as Go's RFC 3339 with nanoseconds: trailing fractional zeros dropped,
/// `Z` for a zero offset.
pub fn format_time<Tz: TimeZone>(time: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let fixed = time.fixed_offset();
    let mut text = fixed.to_rfc3339_opts(SecondsFormat::Nanos, true);
    // chrono writes nine digits; Go trims trailing zeros (and the dot with them).
    if let Some(dot) = text.find('.') {
        let end = text[dot..]
            .find(['Z', '+', '-'])
            .map_or(text.len(), |i| dot + i);
        let digits = text[dot + 1..end].trim_end_matches('0').to_owned();
        let tail = text[end..].to_owned();
        text.truncate(dot);
        if !digits.is_empty() {
            text.push('.');
            text.push_str(&digits);
        }
        text.push_str(&tail);
    }
    text
}

/// The time to record: `--history.created`, else `SOURCE_DATE_EPOCH`, else now.
pub fn created(flag: Option<&DateTime<FixedOffset>>, epoch: Option<i64>) -> String {
    if let Some(t) = flag {
        return format_time(t);
    }
    if let Some(secs) = epoch {
        let t = Utc.timestamp_opt(secs, 0).single().unwrap_or_default();
        return format_time(&t);
    }
    format_time(&Local::now())
}

/// A history entry in the OCI field order; empty values are left out.
pub fn entry(
    created: &str,
    created_by: &str,
    author: &str,
    comment: &str,
    empty_layer: bool,
) -> Value {
    let mut m = Map::new();
    for (key, value) in [
        ("created", created),
        ("created_by", created_by),
        ("author", author),
        ("comment", comment),
    ] {
        if !value.is_empty() {
            m.insert(key.into(), value.into());
        }
    }
    if empty_layer {
        m.insert("empty_layer".into(), true.into());
    }
    Value::Object(json::ordered(m, json::HISTORY_FIELDS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_times() {
        let t = parse_created("2020-01-02T03:04:05.500+01:00").unwrap();
        assert_eq!(format_time(&t), "2020-01-02T03:04:05.5+01:00");
        let t = parse_created("2020-01-02T03:04:05+00:00").unwrap();
        assert_eq!(format_time(&t), "2020-01-02T03:04:05Z");
        assert_eq!(created(None, Some(1_600_000_000)), "2020-09-13T12:26:40Z");
        assert!(parse_created("invalid date").is_err());
    }

    #[test]
    fn source_date_epoch_must_be_an_integer() {
        assert_eq!(source_date_epoch(Some("")), Ok(None));
        assert_eq!(source_date_epoch(Some("42")), Ok(Some(42)));
        assert!(source_date_epoch(Some("4.2")).is_err());
    }

    #[test]
    fn history_entries_leave_out_empty_fields() {
        assert_eq!(
            serde_json::to_string(&entry("t", "by", "", "", true)).unwrap(),
            r#"{"created":"t","created_by":"by","empty_layer":true}"#
        );
    }
}
