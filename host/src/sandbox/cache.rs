//! The compiled-component cache.
//!
//! Compiling the component takes a noticeable fraction of a second; deserializing a
//! compiled copy takes well under a millisecond. Compiled copies live under the user's
//! cache directory (`$REPACK_CACHE_DIR`, else `$XDG_CACHE_HOME/repack`, else
//! `~/.cache/repack`), named by the SHA-256 of the component bytes and the engine's
//! compatibility hash, and are written atomically. Any problem with the cache only
//! costs a compile.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::SandboxError;

/// The default cache directory, if one can be named.
pub fn default_dir() -> Option<PathBuf> {
    let env = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("REPACK_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("repack")))
        .or_else(|| env("HOME").map(|d| d.join(".cache/repack")))
}

/// The cache file name for `bytes` compiled by `engine`.
fn key(engine: &Engine, bytes: &[u8]) -> String {
    let mut compat = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut compat);
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}-{:016x}.cwasm", compat.finish())
}

/// Load the component for `bytes`: from the cache when a compiled copy exists, else
/// compile it and store the result.
pub fn load(engine: &Engine, bytes: &[u8], dir: Option<&Path>) -> Result<Component, SandboxError> {
    let Some(dir) = dir else {
        return compile(engine, bytes);
    };
    let path = dir.join(key(engine, bytes));
    if path.exists() {
        // SAFETY: the file was produced by `Component::serialize` of this same engine
        // configuration (its name carries the compatibility hash) and written atomically
        // into the user's own cache directory; wasmtime checks its header on load.
        #[allow(unsafe_code)]
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => {
                tracing::debug!(path = %path.display(), "loaded compiled component from cache");
                return Ok(component);
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring unusable cache entry: {e:#}")
            }
        }
    }
    let component = compile(engine, bytes)?;
    match component.serialize() {
        Ok(compiled) => {
            if let Err(e) = store(dir, &path, &compiled) {
                tracing::warn!(path = %path.display(), "cannot cache compiled component: {e}");
            }
        }
        Err(e) => tracing::warn!("cannot serialize compiled component: {e:#}"),
    }
    Ok(component)
}

fn compile(engine: &Engine, bytes: &[u8]) -> Result<Component, SandboxError> {
    tracing::debug!(bytes = bytes.len(), "compiling the guest component");
    Component::new(engine, bytes).map_err(|e| SandboxError::Compile(format!("{e:#}")))
}

/// Write `data` to `path` atomically: temp file in the same directory, fsync, rename.
fn store(dir: &Path, path: &Path, data: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
