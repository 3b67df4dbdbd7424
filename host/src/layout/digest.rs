//! `sha256:<hex>` digests, the only algorithm a layout stores.

use std::fmt;

use sha2::{Digest as _, Sha256};

use super::LayoutError;

/// A validated sha256 digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Parse `sha256:<64 lowercase hex>`.
    pub fn parse(text: &str) -> Result<Self, LayoutError> {
        let bad = |why: &str| LayoutError::Reference(format!("digest {text:?}: {why}"));
        let (alg, hex) = text.split_once(':').ok_or_else(|| bad("no algorithm"))?;
        if alg != "sha256" {
            return Err(bad("only sha256 is supported"));
        }
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad("not 64 lowercase hex digits"));
        }
        Ok(Digest {
            hex: hex.to_owned(),
        })
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self::from_raw(&Sha256::digest(bytes))
    }

    /// The digest with these 32 raw bytes.
    pub fn from_raw(raw: &[u8]) -> Self {
        Digest {
            hex: raw.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// The hex part (the blob's file name).
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_sha256_hex() {
        let d = Digest::of(b"");
        assert_eq!(
            d.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
        assert!(Digest::parse("sha512:00").is_err());
        assert!(Digest::parse("sha256:../../etc/passwd").is_err());
        assert!(Digest::parse(&d.to_string().to_uppercase()).is_err());
    }
}
