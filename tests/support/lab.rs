//! [`Lab`]: a scratch directory for one test, holding the layout `img` and bundles
//! named relative to it; `repack-host`, umoci and shell scripts run in it. Test modules
//! wrap it with their own setup and readers.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

/// A scratch directory; the layout in it is `img`.
pub struct Lab {
    tmp: TempDir,
}

impl Lab {
    /// A new, empty scratch directory.
    pub fn scratch() -> Lab {
        Lab {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn at(&self, rel: &str) -> PathBuf {
        self.path().join(rel)
    }

    /// Run `script` with `sh -e` in the lab directory.
    pub fn sh(&self, script: &str) {
        super::sh(self.path(), script);
    }

    /// `repack-host ARGS` in the lab directory (see [`super::repack_host_with`]).
    pub fn host(&self, args: &[&str]) -> Command {
        let mut cmd = super::repack_host_with(args);
        cmd.current_dir(self.path());
        cmd
    }

    /// `umoci ARGS` in the lab directory.
    pub fn umoci(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("umoci");
        cmd.current_dir(self.path()).args(args);
        cmd
    }

    /// `img/index.json`.
    pub fn index(&self) -> Value {
        serde_json::from_slice(&fs::read(self.at("img/index.json")).unwrap()).unwrap()
    }

    /// The index entry tagged `tag` (exactly one).
    pub fn tagged(&self, tag: &str) -> Value {
        let index = self.index();
        let found: Vec<&Value> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag)
            .collect();
        assert_eq!(found.len(), 1, "tag {tag} in {index}");
        found[0].clone()
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.at("img/blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap())
    }

    pub fn blob(&self, digest: &str) -> Vec<u8> {
        fs::read(self.blob_path(digest)).unwrap()
    }

    pub fn json_blob(&self, digest: &str) -> Value {
        serde_json::from_slice(&self.blob(digest)).unwrap()
    }

    /// The manifest `tag` points at.
    pub fn manifest(&self, tag: &str) -> Value {
        self.json_blob(self.tagged(tag)["digest"].as_str().unwrap())
    }
}
