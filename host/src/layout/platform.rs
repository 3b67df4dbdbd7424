//! Platforms of multi-platform images: `--platform OS/ARCH[/VARIANT]`, and the choice
//! of one manifest among those an image index lists.
//!
//! Names are normalised as the container world normalises them (containerd's
//! `platforms.Normalize`): `x86_64` is `amd64`, `aarch64` is `arm64`, and a missing
//! variant is the architecture's default (`arm64` is `v8`, `arm` is `v7`, `amd64` is
//! `v1`), so `linux/arm64` and `linux/arm64/v8` name the same platform.

use std::fmt;

use serde_json::Value;

use super::DescriptorPath;
use super::{Layout, LayoutError};

/// An operating system, an architecture and an optional variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `os`, e.g. `linux`.
    pub os: String,
    /// `architecture`, e.g. `amd64`.
    pub architecture: String,
    /// `variant`, e.g. `v8`; empty when none was given.
    pub variant: String,
}

impl Platform {
    /// Parse `OS/ARCH[/VARIANT]`.
    pub fn parse(text: &str) -> Result<Self, LayoutError> {
        let bad = || {
            LayoutError::Reference(format!(
                "invalid --platform {text:?}: expected OS/ARCH or OS/ARCH/VARIANT (e.g. linux/arm64/v8)"
            ))
        };
        let parts: Vec<&str> = text.split('/').collect();
        let valid = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(|p| valid(p)) {
            return Err(bad());
        }
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture: parts[1].to_ascii_lowercase(),
            variant: parts
                .get(2)
                .map_or(String::new(), |v| v.to_ascii_lowercase()),
        })
    }

    /// The platform this program runs on.
    pub fn host() -> Self {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "x86" => "386",
            "aarch64" => "arm64",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            other => other,
        };
        Platform {
            os: std::env::consts::OS.to_owned(),
            architecture: architecture.to_owned(),
            variant: String::new(),
        }
    }

    /// The platform a descriptor's `platform` object names, if it has one.
    pub fn of_descriptor(json: &serde_json::Map<String, Value>) -> Option<Self> {
        let p = json.get("platform")?.as_object()?;
        let field = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        Some(Platform {
            os: field("os"),
            architecture: field("architecture"),
            variant: field("variant"),
        })
    }

    /// The same platform under its normal names, the variant filled in with the
    /// architecture's default.
    pub fn normalized(&self) -> Self {
        let (architecture, variant) = match (self.architecture.as_str(), self.variant.as_str()) {
            ("x86_64" | "x86-64" | "amd64", "") => ("amd64", "v1"),
            ("x86_64" | "x86-64" | "amd64", v) => ("amd64", v),
            ("i386" | "i486" | "i586" | "i686", v) => ("386", v),
            ("aarch64" | "arm64", "" | "8") => ("arm64", "v8"),
            ("aarch64" | "arm64", v) => ("arm64", v),
            ("armhf", _) => ("arm", "v7"),
            ("armel", _) => ("arm", "v6"),
            ("arm", "") => ("arm", "v7"),
            ("arm", v @ ("5" | "6" | "7" | "8")) => return self.with("arm", &format!("v{v}")),
            (a, v) => (a, v),
        };
        self.with(architecture, variant)
    }

    fn with(&self, architecture: &str, variant: &str) -> Self {
        Platform {
            os: self.os.to_ascii_lowercase(),
            architecture: architecture.to_owned(),
            variant: variant.to_owned(),
        }
    }

    /// Whether `self` and `other` name the same platform once normalised.
    pub fn matches(&self, other: &Platform) -> bool {
        self.normalized() == other.normalized()
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

impl Layout {
    /// The one image `tag` names, for `platform`.
    ///
    /// A tag that names a single manifest is that manifest (as [`Layout::resolve_one`]),
    /// unless `platform` is given and the manifest's descriptor names another platform.
    /// A tag naming an index with several manifests (nested indexes included) is the
    /// one whose descriptor's `platform` matches `platform`, by default this machine's.
    pub fn resolve_platform(
        &self,
        tag: &str,
        platform: Option<&Platform>,
    ) -> Result<DescriptorPath, LayoutError> {
        let mut paths = self.resolve(tag)?;
        let fail = |why: String| LayoutError::Platform {
            layout: self.path().display().to_string(),
            tag: tag.to_owned(),
            why,
        };
        let of = |path: &DescriptorPath| {
            Platform::of_descriptor(&path.last().expect("paths are never empty").json)
        };
        if paths.len() == 1 {
            return match (platform, of(&paths[0])) {
                (Some(wanted), Some(has)) if !wanted.matches(&has) => {
                    Err(fail(format!("has no manifest for {wanted}; it has {has}")))
                }
                _ => Ok(paths.remove(0)),
            };
        }
        // No manifests at all, or several with no platform to choose by: not found, or
        // ambiguous, as without --platform.
        if paths.iter().all(|p| of(p).is_none()) {
            return self.resolve_one(tag);
        }
        let wanted = platform.cloned().unwrap_or_else(Platform::host);
        let listed: Vec<String> = paths
            .iter()
            .map(|p| of(p).map_or_else(|| "(no platform)".to_owned(), |p| p.to_string()))
            .collect();
        let mut chosen: Vec<DescriptorPath> = paths
            .into_iter()
            .filter(|p| of(p).is_some_and(|has| wanted.matches(&has)))
            .collect();
        match chosen.len() {
            1 => Ok(chosen.remove(0)),
            0 => Err(fail(format!(
                "has no manifest for {wanted}{}; it has {} (choose one with --platform)",
                if platform.is_none() {
                    " (this machine)"
                } else {
                    ""
                },
                listed.join(", ")
            ))),
            n => Err(fail(format!(
                "lists {n} manifests for {wanted}; it has {}",
                listed.join(", ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        let p = Platform::parse("linux/arm64").unwrap();
        assert_eq!(p.to_string(), "linux/arm64");
        assert!(p.matches(&Platform::parse("linux/arm64/v8").unwrap()));
        assert!(p.matches(&Platform::parse("linux/aarch64").unwrap()));
        assert!(!p.matches(&Platform::parse("linux/arm64/v9").unwrap()));
        assert!(!p.matches(&Platform::parse("linux/amd64").unwrap()));
        let amd = Platform::parse("linux/x86_64").unwrap();
        assert!(amd.matches(&Platform::parse("linux/amd64").unwrap()));
        assert!(!amd.matches(&Platform::parse("windows/amd64").unwrap()));
        assert!(
            Platform::parse("linux/arm")
                .unwrap()
                .matches(&Platform::parse("linux/arm/v7").unwrap())
        );
        assert!(
            !Platform::parse("linux/arm")
                .unwrap()
                .matches(&Platform::parse("linux/arm/v6").unwrap())
        );
        for bad in [
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v8/x",
            "linux/amd 64",
            "",
        ] {
            assert!(Platform::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn this_machine_is_a_platform() {
        let host = Platform::host();
        assert_eq!(host.os, "linux");
        if cfg!(target_arch = "x86_64") {
            assert_eq!(host.to_string(), "linux/amd64");
        }
        assert!(host.matches(&host.clone()));
    }
}
