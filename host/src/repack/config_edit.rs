//! Edits of an image configuration and its manifest's annotations, as umoci's `config`
//! makes them: clears first, then the new values. The config is edited as JSON, so
//! fields we do not know are kept.

use serde_json::{Map, Value};

use crate::layout::json;

/// Field order of the `config` object of an image configuration.
pub const IMAGE_CONFIG_FIELDS: &[&str] = &[
    "User",
    "ExposedPorts",
    "Env",
    "Entrypoint",
    "Cmd",
    "Volumes",
    "WorkingDir",
    "Labels",
    "StopSignal",
    "ArgsEscaped",
];

/// What `--clear` can empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clear {
    /// `config.Labels`.
    Labels,
    /// The manifest's annotations.
    Annotations,
    /// `config.ExposedPorts`.
    ExposedPorts,
    /// `config.Env`.
    Env,
    /// `config.Volumes`.
    Volumes,
    /// `config.Cmd`.
    Cmd,
    /// `config.Entrypoint`.
    Entrypoint,
}

/// One `config` invocation's changes; `None` and empty lists change nothing.
#[derive(Debug, Clone, Default)]
pub struct ConfigEdit {
    /// Emptied before anything is added.
    pub clear: Vec<Clear>,
    /// `created`, already formatted.
    pub created: Option<String>,
    /// `author`.
    pub author: Option<String>,
    /// `os`.
    pub os: Option<String>,
    /// `architecture`.
    pub architecture: Option<String>,
    /// `variant`.
    pub variant: Option<String>,
    /// `config.User`.
    pub user: Option<String>,
    /// `config.WorkingDir`.
    pub working_dir: Option<String>,
    /// `config.StopSignal`.
    pub stop_signal: Option<String>,
    /// Added to `config.ExposedPorts`.
    pub exposed_ports: Vec<String>,
    /// Set in `config.Env`, each replacing the entry with the same name.
    pub env: Vec<(String, String)>,
    /// Replaces `config.Entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// Replaces `config.Cmd`.
    pub cmd: Option<Vec<String>>,
    /// Added to `config.Volumes`.
    pub volumes: Vec<String>,
    /// Set in `config.Labels`.
    pub labels: Vec<(String, String)>,
    /// Set in the manifest's annotations.
    pub annotations: Vec<(String, String)>,
}

/// Split `NAME=VALUE` (at the first `=`); the name must not be empty.
pub fn parse_kv(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        None => Err(format!("{text:?} must contain '='")),
        Some(("", _)) => Err(format!("{text:?} must have a non-empty name")),
        Some((name, value)) => Ok((name.to_owned(), value.to_owned())),
    }
}

impl ConfigEdit {
    /// Apply the edit to an image configuration and the manifest's annotations.
    pub fn apply(
        &self,
        config: &mut Map<String, Value>,
        annotations: &mut Option<Map<String, Value>>,
    ) {
        for (key, value) in [
            ("created", &self.created),
            ("author", &self.author),
            ("os", &self.os),
            ("architecture", &self.architecture),
            ("variant", &self.variant),
        ] {
            if let Some(v) = value {
                // Go leaves out an empty author or variant; os and architecture stay.
                if v.is_empty() && matches!(key, "author" | "variant") {
                    config.shift_remove(key);
                } else {
                    config.insert(key.into(), v.as_str().into());
                }
            }
        }
        let inner = config
            .entry("config")
            .or_insert_with(|| Value::Object(Map::new()));
        if !inner.is_object() {
            *inner = Value::Object(Map::new());
        }
        if let Value::Object(inner) = inner {
            self.apply_inner(inner);
            let edited = std::mem::take(inner);
            *inner = json::ordered(edited, IMAGE_CONFIG_FIELDS);
        }

        if self.clear.contains(&Clear::Annotations) {
            *annotations = None;
        }
        if !self.annotations.is_empty() {
            let map = annotations.get_or_insert_with(Map::new);
            for (k, v) in &self.annotations {
                map.insert(k.clone(), v.as_str().into());
            }
            map.sort_keys();
        }
    }

    /// The edits inside `config`.
    fn apply_inner(&self, inner: &mut Map<String, Value>) {
        for (what, key) in [
            (Clear::Labels, "Labels"),
            (Clear::ExposedPorts, "ExposedPorts"),
            (Clear::Env, "Env"),
            (Clear::Volumes, "Volumes"),
            (Clear::Cmd, "Cmd"),
            (Clear::Entrypoint, "Entrypoint"),
        ] {
            if self.clear.contains(&what) {
                inner.shift_remove(key);
            }
        }
        for (key, value) in [
            ("User", &self.user),
            ("WorkingDir", &self.working_dir),
            ("StopSignal", &self.stop_signal),
        ] {
            match value.as_deref() {
                None => {}
                Some("") => {
                    inner.shift_remove(key);
                }
                Some(v) => {
                    inner.insert(key.into(), v.into());
                }
            }
        }
        add_to_set(inner, "ExposedPorts", &self.exposed_ports);
        add_to_set(inner, "Volumes", &self.volumes);
        if !self.labels.is_empty() {
            let labels = object_at(inner, "Labels");
            for (k, v) in &self.labels {
                labels.insert(k.clone(), v.as_str().into());
            }
            labels.sort_keys();
        }
        for (name, value) in &self.env {
            set_env(inner, name, value);
        }
        for (key, value) in [("Entrypoint", &self.entrypoint), ("Cmd", &self.cmd)] {
            match value {
                None => {}
                Some(list) if list.is_empty() => {
                    inner.shift_remove(key);
                }
                Some(list) => {
                    inner.insert(
                        key.into(),
                        Value::Array(list.iter().map(|s| s.as_str().into()).collect()),
                    );
                }
            }
        }
    }
}

/// The object at `key`, made one if it is missing or something else.
fn object_at<'a>(inner: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = inner
        .entry(key)
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(m) => m,
        _ => unreachable!("made an object above"),
    }
}

/// Add `items` to the set (an object of empty objects, Go's `map[string]struct{}`).
fn add_to_set(inner: &mut Map<String, Value>, key: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let set = object_at(inner, key);
    for item in items {
        set.insert(item.clone(), Value::Object(Map::new()));
    }
    set.sort_keys();
}

/// Replace the first `NAME=` entry of `Env`, or append one.
fn set_env(inner: &mut Map<String, Value>, name: &str, value: &str) {
    let slot = inner
        .entry("Env")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    let Value::Array(env) = slot else {
        unreachable!("made a list above")
    };
    let entry = Value::from(format!("{name}={value}"));
    let prefix = format!("{name}=");
    match env
        .iter_mut()
        .find(|e| e.as_str().is_some_and(|s| s.starts_with(&prefix)))
    {
        Some(existing) => *existing = entry,
        None => env.push(entry),
    }
}

/// Append a history entry to the config's `history`.
pub fn push_history(config: &mut Map<String, Value>, entry: Value) {
    let history = config
        .entry("history")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !history.is_array() {
        *history = Value::Array(Vec::new());
    }
    if let Value::Array(h) = history {
        h.push(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(text: &str) -> Map<String, Value> {
        match serde_json::from_str(text).unwrap() {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn text(config: &Map<String, Value>) -> String {
        serde_json::to_string(config).unwrap()
    }

    #[test]
    fn kv_needs_an_equals_sign_and_a_name() {
        assert_eq!(parse_kv("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert_eq!(parse_kv("a=").unwrap(), ("a".into(), String::new()));
        assert!(parse_kv("foo").unwrap_err().contains("must contain '='"));
        assert!(parse_kv("=v").unwrap_err().contains("non-empty name"));
    }

    #[test]
    fn env_replaces_the_same_name_and_appends_others() {
        let mut config = object(r#"{"config":{"Env":["PATH=/bin","A=1"]}}"#);
        let edit = ConfigEdit {
            env: vec![("PATH".into(), "/usr/bin".into()), ("B".into(), "2".into())],
            ..ConfigEdit::default()
        };
        edit.apply(&mut config, &mut None);
        assert_eq!(
            text(&config),
            r#"{"config":{"Env":["PATH=/usr/bin","A=1","B=2"]}}"#
        );
    }

    #[test]
    fn fields_in_go_order_sets_sorted_unknown_kept() {
        let mut config = object(
            r#"{"os":"linux","config":{"Hostname":"h","Cmd":["sh"],"User":"root"},"x-extra":1}"#,
        );
        let edit = ConfigEdit {
            user: Some("1234:1332".into()),
            exposed_ports: vec!["80/tcp".into(), "443/tcp".into()],
            volumes: vec!["/data".into()],
            labels: vec![("z".into(), "1".into()), ("a".into(), "2".into())],
            working_dir: Some("/srv".into()),
            entrypoint: Some(vec!["/bin/app".into(), "-v".into()]),
            author: Some("me".into()),
            ..ConfigEdit::default()
        };
        edit.apply(&mut config, &mut None);
        assert_eq!(
            text(&config),
            concat!(
                r#"{"os":"linux","config":{"User":"1234:1332","ExposedPorts":{"443/tcp":{},"80/tcp":{}},"#,
                r#""Entrypoint":["/bin/app","-v"],"Cmd":["sh"],"Volumes":{"/data":{}},"WorkingDir":"/srv","#,
                r#""Labels":{"a":"2","z":"1"},"Hostname":"h"},"x-extra":1,"author":"me"}"#
            )
        );
    }

    #[test]
    fn clears_come_before_additions() {
        let mut config = object(
            r#"{"config":{"Env":["A=1"],"Labels":{"old":"x"},"Cmd":["a"],"Entrypoint":["e"],"Volumes":{"/v":{}},"ExposedPorts":{"1/tcp":{}}}}"#,
        );
        let mut annotations = Some(object(r#"{"old":"1"}"#));
        let edit = ConfigEdit {
            clear: vec![
                Clear::Env,
                Clear::Labels,
                Clear::Cmd,
                Clear::Entrypoint,
                Clear::Volumes,
                Clear::ExposedPorts,
                Clear::Annotations,
            ],
            labels: vec![("new".into(), "y".into())],
            annotations: vec![("k".into(), "v".into())],
            ..ConfigEdit::default()
        };
        edit.apply(&mut config, &mut annotations);
        assert_eq!(text(&config), r#"{"config":{"Labels":{"new":"y"}}}"#);
        assert_eq!(text(&annotations.unwrap()), r#"{"k":"v"}"#);

        let mut annotations = Some(object(r#"{"old":"1"}"#));
        let edit = ConfigEdit {
            clear: vec![Clear::Annotations],
            ..ConfigEdit::default()
        };
        edit.apply(&mut config, &mut annotations);
        assert!(annotations.is_none());
    }

    #[test]
    fn a_missing_config_object_is_made() {
        let mut config = object(r#"{"config":null}"#);
        let edit = ConfigEdit {
            stop_signal: Some("SIGTERM".into()),
            ..ConfigEdit::default()
        };
        edit.apply(&mut config, &mut None);
        assert_eq!(text(&config), r#"{"config":{"StopSignal":"SIGTERM"}}"#);
    }

    #[test]
    fn history_is_appended() {
        let mut config = object(r#"{"history":[{"created_by":"a"}]}"#);
        push_history(&mut config, serde_json::json!({"created_by":"b"}));
        assert_eq!(
            text(&config),
            r#"{"history":[{"created_by":"a"},{"created_by":"b"}]}"#
        );
    }
}
