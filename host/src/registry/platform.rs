//! `--platform OS/ARCH[/VARIANT]` and the choice of one manifest from an index.

use std::fmt;

use serde_json::Value;

use super::RegistryError;
use crate::layout::Descriptor;

/// An OCI platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`, …
    pub os: String,
    /// `amd64`, `arm64`, …
    pub architecture: String,
    /// `v7`, `v8`, …
    pub variant: Option<String>,
}

impl Platform {
    /// Parse `OS/ARCH[/VARIANT]`.
    pub fn parse(text: &str) -> Result<Self, RegistryError> {
        let parts: Vec<&str> = text.split('/').collect();
        let ok = |s: &&str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        };
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: None,
            }),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(Platform {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: Some((*variant).to_owned()),
            }),
            _ => Err(RegistryError::Reference(format!(
                "--platform {text:?}: expected OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm/v7"
            ))),
        }
    }

    /// This machine's platform, in Go's names.
    pub fn host() -> Self {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "aarch64" => ("arm64", None),
            "arm" => ("arm", Some("v7")),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "loongarch64" => ("loong64", None),
            other => (other, None),
        };
        Platform {
            os: std::env::consts::OS.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
        }
    }

    /// Whether an index entry's `platform` object is this platform. A missing variant
    /// on either side matches (arm64's is `v8` when given).
    fn matches(&self, platform: &Value) -> bool {
        let field = |k: &str| platform.get(k).and_then(Value::as_str);
        if field("os") != Some(self.os.as_str())
            || field("architecture") != Some(self.architecture.as_str())
        {
            return false;
        }
        match (&self.variant, field("variant")) {
            (Some(want), Some(have)) => want == have,
            _ => true,
        }
    }

    /// The entry of `manifests` for this platform: an exact variant first, then one
    /// without a variant, then any variant (when none was asked for).
    pub fn select<'a>(&self, manifests: &'a [Descriptor]) -> Option<&'a Descriptor> {
        let candidates: Vec<&Descriptor> = manifests
            .iter()
            .filter(|d| d.json.get("platform").is_some_and(|p| self.matches(p)))
            .collect();
        let variant = |d: &Descriptor| {
            d.json
                .get("platform")
                .and_then(|p| p.get("variant"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        candidates
            .iter()
            .find(|d| self.variant.is_some() && variant(d) == self.variant)
            .or_else(|| candidates.iter().find(|d| variant(d).is_none()))
            .or_else(|| candidates.first())
            .copied()
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Digest;

    fn entry(platform: Value, n: u8) -> Descriptor {
        let mut d = Descriptor::new(crate::layout::descriptor::MANIFEST, Digest::of(&[n]), 1);
        d.json.insert("platform".into(), platform);
        d
    }

    #[test]
    fn selects_the_platform() {
        let list = vec![
            entry(
                serde_json::json!({"os":"linux","architecture":"arm","variant":"v6"}),
                0,
            ),
            entry(
                serde_json::json!({"os":"linux","architecture":"arm","variant":"v7"}),
                1,
            ),
            entry(serde_json::json!({"os":"linux","architecture":"amd64"}), 2),
            entry(
                serde_json::json!({"os":"unknown","architecture":"unknown"}),
                3,
            ),
        ];
        let pick = |p: &str| {
            Platform::parse(p)
                .unwrap()
                .select(&list)
                .map(|d| d.digest.clone())
        };
        assert_eq!(pick("linux/amd64"), Some(Digest::of(&[2])));
        assert_eq!(pick("linux/arm/v7"), Some(Digest::of(&[1])));
        assert_eq!(pick("linux/arm"), Some(Digest::of(&[0])));
        assert_eq!(pick("linux/s390x"), None);
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux/amd64/v1/x").is_err());
        assert_eq!(Platform::host().os, "linux");
    }
}
