//! The compiled-component cache.
//!
//! Compiling the component takes a noticeable fraction of a second; mapping a
//! compiled copy takes well under a millisecond. Compiled copies live under the user's
//! cache directory (`$REPACK_CACHE_DIR`, else `$XDG_CACHE_HOME/repack`, else
//! `~/.cache/repack`), named by the SHA-256 of the component bytes and the engine's
//! compatibility hash, and are written atomically. Any problem with the cache only
//! costs a compile.
//!
//! A compiled copy is native code that runs outside the sandbox, so it is only loaded
//! from a directory owned by the effective user that no one else can write (no group
//! or other write bit), and only if it is a regular file (never followed if it is a
//! symlink) owned by that user and writable by no one else. Anything else is ignored
//! with a warning and the component is compiled instead (and not stored in a directory
//! others can write). Copies are written with mode 0600.

use std::ffi::OsStr;
use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use cap_std::fs::Dir;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::SandboxError;
use crate::handle;

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

/// The SHA-256 of `bytes`, hex: what names a component's compiled copies.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The cache file name for the component with SHA-256 `digest` (hex) compiled by
/// `engine`.
fn key(engine: &Engine, digest: &str) -> String {
    let mut compat = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut compat);
    format!("{digest}-{:016x}.cwasm", compat.finish())
}

/// Why an object in the cache is not trusted, if it is not: it must belong to the
/// effective user and be writable by no one else.
fn distrust(stat: &rustix::fs::Stat) -> Option<String> {
    let me = rustix::process::geteuid().as_raw();
    if stat.st_uid != me {
        return Some(format!("owned by uid {}, not by uid {me}", stat.st_uid));
    }
    if stat.st_mode & 0o022 != 0 {
        return Some(format!(
            "writable by others (mode {:04o})",
            stat.st_mode & 0o7777
        ));
    }
    None
}

/// Open the cache directory `path` (creating it, mode 0700, if it is missing); `None`
/// (with a warning) when it cannot be used or is not trusted.
fn open_dir(path: &Path) -> Option<Dir> {
    if let Err(e) = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
    {
        tracing::warn!(path = %path.display(), "cannot create the component cache: {e}");
        return None;
    }
    let dir = match handle::ambient_dir(path, true) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(path = %path.display(), "cannot open the component cache: {e}");
            return None;
        }
    };
    let why = match rustix::fs::fstat(&dir) {
        Ok(stat) => distrust(&stat),
        Err(e) => Some(e.to_string()),
    };
    if let Some(why) = why {
        tracing::warn!(
            path = %path.display(),
            "not using the component cache: the directory is {why}; compiling instead"
        );
        return None;
    }
    Some(dir)
}

/// The compiled copy `name` in `dir`, opened for reading, if there is a trusted one.
fn open_trusted(dir: &Dir, name: &str, shown: &Path) -> Option<File> {
    let file = match handle::open_regular(dir, name) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(path = %shown.display(), "ignoring the cache entry: {e}");
            return None;
        }
    };
    let why = match rustix::fs::fstat(&file) {
        Ok(stat) => distrust(&stat),
        Err(e) => Some(e.to_string()),
    };
    if let Some(why) = why {
        tracing::warn!(
            path = %shown.display(),
            "ignoring the cache entry: it is {why}; compiling instead"
        );
        return None;
    }
    Some(file)
}

/// Load the compiled copy opened as `file`. It is mapped rather than read and copied
/// (a few milliseconds less at every start): wasmtime maps the path it is given, and
/// `/proc/self/fd/N` reopens the very file checked. Without `/proc` it is read.
///
/// # Safety
///
/// `file` is a [`Component::serialize`] output of `engine`'s configuration that no one
/// but this user writes (see [`open_trusted`]). Copies are replaced by rename, never
/// written in place, so a mapped copy does not change under the component.
#[allow(unsafe_code)]
unsafe fn deserialize(engine: &Engine, file: &File) -> wasmtime::Result<Component> {
    let by_fd = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    // SAFETY: as this function's.
    match unsafe { Component::deserialize_file(engine, &by_fd) } {
        Ok(component) => Ok(component),
        Err(mapped) => {
            tracing::debug!("mapping the compiled component failed ({mapped:#}); reading it");
            let mut bytes = Vec::new();
            (&*file).read_to_end(&mut bytes)?;
            // SAFETY: as this function's.
            unsafe { Component::deserialize(engine, &bytes) }
        }
    }
}

/// Load the component for `bytes` (SHA-256 `digest`, hex): from the cache when a
/// trusted compiled copy exists, else compile it and store the result.
pub fn load(
    engine: &Engine,
    bytes: &[u8],
    digest: &str,
    dir: Option<&Path>,
) -> Result<Component, SandboxError> {
    let Some(path) = dir else {
        return compile(engine, bytes);
    };
    let Some(dir) = open_dir(path) else {
        return compile(engine, bytes);
    };
    let name = key(engine, digest);
    let shown = path.join(&name);
    if let Some(compiled) = open_trusted(&dir, &name, &shown) {
        // SAFETY: the file is a regular file owned by the effective user, in a
        // directory owned by that user, neither writable by anyone else (checked on
        // the very descriptors used): a file only this user (or root) could have
        // written, and we write nothing there but `Component::serialize` output of this
        // engine configuration (the name carries its compatibility hash). wasmtime
        // checks the header on load.
        #[allow(unsafe_code)]
        match unsafe { deserialize(engine, &compiled) } {
            Ok(component) => {
                tracing::debug!(path = %shown.display(), "loaded compiled component from cache");
                return Ok(component);
            }
            Err(e) => {
                tracing::warn!(path = %shown.display(), "ignoring unusable cache entry: {e:#}")
            }
        }
    }
    let component = compile(engine, bytes)?;
    match component.serialize() {
        Ok(compiled) => {
            if let Err(e) = store(&dir, &name, &compiled) {
                tracing::warn!(path = %shown.display(), "cannot cache compiled component: {e}");
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

/// Write `data` as `name` in `dir` atomically, mode 0600: temp file, fsync, rename.
fn store(dir: &Dir, name: &str, data: &[u8]) -> std::io::Result<()> {
    let (mut file, tmp) = handle::create_temp(dir, ".tmp-", 0o600)?;
    let written = (|| -> std::io::Result<()> {
        file.write_all(data)?;
        file.sync_all()?;
        rustix::fs::renameat(dir, &tmp, dir, OsStr::new(name))?;
        Ok(())
    })();
    if written.is_err() {
        let _ = rustix::fs::unlinkat(dir, &tmp, rustix::fs::AtFlags::empty());
    }
    written
}
