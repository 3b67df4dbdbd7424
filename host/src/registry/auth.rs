//! Credentials and authentication challenges.
//!
//! Credentials come from `--creds USER:PASS`, else the first auth file that has an
//! entry for the registry: `$REGISTRY_AUTH_FILE` (or `--authfile`),
//! `$XDG_RUNTIME_DIR/containers/auth.json`, `~/.config/containers/auth.json`,
//! `~/.docker/config.json`. An entry keyed by `HOST/REPO…` is used for that repository
//! and those below it, the longest key first, then the registry's own entry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::RegistryError;

/// A user name and password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user.
    pub user: String,
    /// The password (or token).
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Parse `USER:PASS` (the password may hold `:`).
    pub fn parse(text: &str) -> Result<Self, RegistryError> {
        match text.split_once(':') {
            Some((user, password)) if !user.is_empty() => Ok(Credentials {
                user: user.to_owned(),
                password: password.to_owned(),
            }),
            _ => Err(RegistryError::Reference(
                "--creds must be USER:PASS with a non-empty user".into(),
            )),
        }
    }

    /// The `Authorization` value for Basic authentication.
    pub fn basic(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.user, self.password))
        )
    }
}

/// The auth files searched, in order, when `explicit` (`--authfile`) is not given.
pub fn auth_files(explicit: Option<&Path>) -> Vec<PathBuf> {
    if let Some(path) = explicit {
        return vec![path.to_owned()];
    }
    if let Some(path) = std::env::var_os("REGISTRY_AUTH_FILE") {
        return vec![PathBuf::from(path)];
    }
    let mut files = Vec::new();
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR") {
        files.push(Path::new(&run).join("containers/auth.json"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        let home = Path::new(&home);
        files.push(home.join(".config/containers/auth.json"));
        files.push(home.join(".docker/config.json"));
    }
    files
}

/// The credentials for `registry`/`repository` in the first of `files` that has any.
/// A missing file is skipped; an unreadable or malformed one is an error.
pub fn lookup(
    files: &[PathBuf],
    registry: &str,
    repository: &str,
) -> Result<Option<Credentials>, RegistryError> {
    for file in files {
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(RegistryError::Config {
                    path: file.clone(),
                    why: e.to_string(),
                });
            }
        };
        if let Some(found) =
            from_file(&bytes, registry, repository).map_err(|why| RegistryError::Config {
                path: file.clone(),
                why,
            })?
        {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// The credentials an auth file's `auths` holds for the repository.
fn from_file(
    bytes: &[u8],
    registry: &str,
    repository: &str,
) -> Result<Option<Credentials>, String> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let Some(auths) = doc.get("auths").and_then(Value::as_object) else {
        return Ok(None);
    };
    // Normalized key -> entry; docker's keys may be URLs (https://host/v1/).
    let mut entries = BTreeMap::new();
    for (key, entry) in auths {
        entries.insert(normalize_key(key), entry);
    }
    let full = format!("{registry}/{repository}");
    let mut best: Option<(&str, &Value)> = None;
    for (key, entry) in &entries {
        let matches = key == registry
            || (full.starts_with(key.as_str()) && full.as_bytes().get(key.len()) == Some(&b'/'))
            || key == &full;
        if matches && best.is_none_or(|(k, _)| key.len() > k.len()) {
            best = Some((key, entry));
        }
    }
    let Some((key, entry)) = best else {
        return Ok(None);
    };
    let auth = entry.get("auth").and_then(Value::as_str).unwrap_or("");
    if auth.is_empty() {
        return Err(format!(
            "the entry for {key} has no \"auth\" value (credential helpers are not supported)"
        ));
    }
    let decoded = STANDARD
        .decode(auth)
        .map_err(|e| format!("the entry for {key}: \"auth\" is not base64: {e}"))?;
    let text = String::from_utf8(decoded)
        .map_err(|_| format!("the entry for {key}: \"auth\" is not UTF-8"))?;
    Credentials::parse(&text)
        .map(Some)
        .map_err(|_| format!("the entry for {key}: \"auth\" is not USER:PASS"))
}

/// `https://host/v1/` and `host` are the same key.
fn normalize_key(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let key = key.strip_suffix("/v1/").unwrap_or(key);
    let key = key.strip_suffix("/v2/").unwrap_or(key);
    key.trim_end_matches('/').to_owned()
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm=…`.
    Basic,
    /// `Bearer realm=…,service=…[,scope=…]`.
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The service to ask a token for.
        service: Option<String>,
        /// The scope the registry asked for.
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parse a `WWW-Authenticate` value (the first scheme we know).
    pub fn parse(header: &str) -> Option<Self> {
        let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Challenge::Basic),
            "bearer" => {
                let params = parse_params(params);
                Some(Challenge::Bearer {
                    realm: params.get("realm")?.clone(),
                    service: params.get("service").cloned(),
                    scope: params.get("scope").cloned(),
                })
            }
            _ => None,
        }
    }
}

/// `key="value", key=value` pairs (quoted values may hold commas and `\"`).
fn parse_params(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                value.push(c);
            }
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            Challenge::parse(r#"Basic realm="basic-realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://auth.example/token",service="registry, one",scope="repository:a/b:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry, one".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
        assert_eq!(Challenge::parse("Bearer service=x"), None);
    }

    #[test]
    fn auth_file_entries() {
        let enc = |s: &str| STANDARD.encode(s);
        let doc = format!(
            r#"{{"auths":{{"https://reg:5000/v1/":{{"auth":"{}"}},"reg:5000/team":{{"auth":"{}"}},"other":{{}}}}}}"#,
            enc("alice:pw:with:colons"),
            enc("bob:pw2")
        );
        let found = from_file(doc.as_bytes(), "reg:5000", "app")
            .unwrap()
            .unwrap();
        assert_eq!(
            (found.user.as_str(), found.password.as_str()),
            ("alice", "pw:with:colons")
        );
        let found = from_file(doc.as_bytes(), "reg:5000", "team/app")
            .unwrap()
            .unwrap();
        assert_eq!(found.user, "bob");
        assert_eq!(from_file(doc.as_bytes(), "reg", "team").unwrap(), None);
        assert!(from_file(doc.as_bytes(), "other", "x").is_err());
        assert!(from_file(b"[", "reg", "x").is_err());
    }
}
