//! `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]`, as skopeo spells a registry image.

use std::fmt;

use super::RegistryError;
use crate::layout::Digest;

/// The transport prefix.
pub const SCHEME: &str = "docker://";

/// What a reference names inside its repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A tag.
    Tag(String),
    /// A manifest (or index) digest.
    Digest(Digest),
}

/// A parsed registry reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef {
    /// `HOST[:PORT]`, as given (it is also the credentials key).
    pub registry: String,
    /// The repository path, lowercase components separated by `/`.
    pub repository: String,
    /// The tag or digest (tag `latest` when neither is given).
    pub target: Target,
}

impl RemoteRef {
    /// Whether `text` is meant as a registry reference.
    pub fn is_remote(text: &str) -> bool {
        text.starts_with(SCHEME)
    }

    /// Parse `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]`. The host is required: there is
    /// no default registry.
    pub fn parse(text: &str) -> Result<Self, RegistryError> {
        let bad = |why: &str| RegistryError::Reference(format!("{text:?}: {why}"));
        let rest = text
            .strip_prefix(SCHEME)
            .ok_or_else(|| bad("a registry image starts with docker://"))?;
        let (registry, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("expected docker://HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]"))?;
        if !host_ok(registry) {
            return Err(bad(
                "the registry must be HOST[:PORT] (letters, digits, '.', '-', or [IPv6])",
            ));
        }
        let (name, target) = if let Some((name, digest)) = path.split_once('@') {
            let digest = Digest::parse(digest).map_err(|e| bad(&e.to_string()))?;
            (name, Target::Digest(digest))
        } else {
            // A tag follows the last ':' after the last '/'.
            let last = path.rfind('/').map_or(0, |i| i + 1);
            match path[last..].rfind(':') {
                Some(i) => {
                    let tag = &path[last + i + 1..];
                    if !tag_ok(tag) {
                        return Err(bad(
                            "a tag is 1-128 of letters, digits, '_', '.', '-', not starting with '.' or '-'",
                        ));
                    }
                    (&path[..last + i], Target::Tag(tag.to_owned()))
                }
                None => (path, Target::Tag("latest".into())),
            }
        };
        if !repository_ok(name) {
            return Err(bad(
                "the repository must be lowercase components of letters and digits joined by '.', '_', '__' or '-', separated by '/'",
            ));
        }
        Ok(RemoteRef {
            registry: registry.to_owned(),
            repository: name.to_owned(),
            target,
        })
    }

    /// The tag or digest as it goes in a manifest URL.
    pub fn reference(&self) -> String {
        match &self.target {
            Target::Tag(t) => t.clone(),
            Target::Digest(d) => d.to_string(),
        }
    }

    /// The tag, if the reference names one.
    pub fn tag(&self) -> Option<&str> {
        match &self.target {
            Target::Tag(t) => Some(t),
            Target::Digest(_) => None,
        }
    }

    /// The same repository with another target.
    pub fn with_target(&self, target: Target) -> Self {
        RemoteRef {
            target,
            ..self.clone()
        }
    }
}

impl fmt::Display for RemoteRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = match self.target {
            Target::Tag(_) => ':',
            Target::Digest(_) => '@',
        };
        write!(
            f,
            "{SCHEME}{}/{}{sep}{}",
            self.registry,
            self.repository,
            self.reference()
        )
    }
}

fn host_ok(host: &str) -> bool {
    let (name, port) = if let Some(v6) = host.strip_prefix('[') {
        match v6.split_once(']') {
            Some((addr, "")) if addr.parse::<std::net::Ipv6Addr>().is_ok() => (addr, None),
            Some((addr, rest)) if addr.parse::<std::net::Ipv6Addr>().is_ok() => {
                match rest.strip_prefix(':') {
                    Some(port) => (addr, Some(port)),
                    None => return false,
                }
            }
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    let name_ok = host.starts_with('[')
        || (!name.is_empty()
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            }));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    name_ok && port_ok
}

fn tag_ok(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn repository_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.split('/').all(|component| {
            let b = component.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && !component.contains("..")
                && !component.contains("___")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_skopeo_references() {
        let r = RemoteRef::parse("docker://127.0.0.1:5000/library/debian:bookworm").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "library/debian");
        assert_eq!(r.target, Target::Tag("bookworm".into()));
        assert_eq!(
            r.to_string(),
            "docker://127.0.0.1:5000/library/debian:bookworm"
        );

        let r = RemoteRef::parse("docker://localhost/a/b").unwrap();
        assert_eq!(r.tag(), Some("latest"));

        let digest = Digest::of(b"x");
        let r = RemoteRef::parse(&format!("docker://[::1]:5000/x@{digest}")).unwrap();
        assert_eq!(r.registry, "[::1]:5000");
        assert_eq!(r.target, Target::Digest(digest));
    }

    #[test]
    fn refuses_bad_references() {
        for bad in [
            "oci:layout:tag",
            "docker://debian",
            "docker:///repo",
            "docker://host:99999/repo",
            "docker://host/Upper",
            "docker://host/repo:",
            "docker://host/repo:.tag",
            "docker://host/repo@sha256:00",
            "docker://host/a//b",
            "docker://host/-a",
            "docker://ho st/a",
        ] {
            assert!(RemoteRef::parse(bad).is_err(), "{bad}");
        }
    }
}
