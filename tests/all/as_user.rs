//! Running commands as a real unprivileged user.
//!
//! As root, the tests create the user `repack-tester` (once) and run commands as it with
//! `setpriv`; the binary is copied to a directory every user can reach, since the build
//! tree may sit below a directory only root can enter. Run as any other user, the tests
//! run commands as that user, directly.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support::run_ok;

/// The name of the user the tests create when they run as root.
const NAME: &str = "repack-tester";

/// A search path without root's own shims (unreadable to other users).
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// An unprivileged user to run commands as.
#[derive(Debug)]
pub struct User {
    /// Its user id.
    pub uid: u32,
    /// Its primary group id.
    pub gid: u32,
    home: PathBuf,
    /// Whether commands must switch to it (the tests run as root).
    switch: bool,
    /// A copy of `repack-host` every user can run.
    binary: PathBuf,
    /// The user's own component cache.
    cache: PathBuf,
}

/// The user (created on first use when the tests run as root).
pub fn user() -> &'static User {
    static USER: OnceLock<User> = OnceLock::new();
    USER.get_or_init(|| {
        let switch = rustix::process::geteuid().is_root();
        if switch
            && !Command::new("id")
                .arg(NAME)
                .output()
                .unwrap()
                .status
                .success()
        {
            run_ok(Command::new("useradd").args(["--create-home", "--shell", "/bin/sh", NAME]));
        }
        let id = |flag: &str| -> u32 {
            let mut cmd = Command::new("id");
            cmd.arg(flag);
            if switch {
                cmd.arg(NAME);
            }
            run_ok(&mut cmd).trim().parse().unwrap()
        };
        let (uid, gid) = (id("-u"), id("-g"));
        let home = if switch {
            PathBuf::from(run_ok(Command::new("sh").args(["-c", &format!("echo ~{NAME}")])).trim())
        } else {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into()))
        };
        // One directory per test process: a copy of the binary and the user's cache.
        let shared = std::env::temp_dir().join(format!("repack-user-{}", std::process::id()));
        let _ = fs::remove_dir_all(&shared);
        fs::create_dir_all(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o755)).unwrap();
        let binary = shared.join("repack-host");
        fs::copy(env!("CARGO_BIN_EXE_repack-host"), &binary).unwrap();
        fs::set_permissions(&binary, fs::Permissions::from_mode(0o755)).unwrap();
        let cache = shared.join("cache");
        fs::create_dir(&cache).unwrap();
        fs::set_permissions(&cache, fs::Permissions::from_mode(0o700)).unwrap();
        rustix::fs::chown(
            &cache,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
        )
        .unwrap();
        User {
            uid,
            gid,
            home,
            switch,
            binary,
            cache,
        }
    })
}

impl User {
    /// `program` run as the user, in `dir`.
    pub fn command(&self, dir: &Path, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = if self.switch {
            let mut cmd = Command::new("setpriv");
            cmd.arg(format!("--reuid={}", self.uid))
                .arg(format!("--regid={}", self.gid))
                .arg("--init-groups")
                .arg("--")
                .arg(program);
            cmd
        } else {
            Command::new(program)
        };
        cmd.current_dir(dir)
            .env("HOME", &self.home)
            .env("PATH", PATH)
            .env("REPACK_CACHE_DIR", &self.cache)
            .env_remove("XDG_CACHE_HOME");
        cmd
    }

    /// `repack-host ARGS` run as the user, in `dir`.
    pub fn repack_host(&self, dir: &Path) -> Command {
        self.command(dir, &self.binary)
    }

    /// Run a bash script as the user in `dir`, requiring success.
    pub fn sh(&self, dir: &Path, script: &str) {
        let mut cmd = self.command(dir, "bash");
        cmd.args(["-euo", "pipefail", "-c", script])
            .env("REPACK", &self.binary);
        run_ok(&mut cmd);
    }

    /// Give `path` and everything below it to the user (a no-op when not root).
    pub fn own(&self, path: &Path) {
        if self.switch {
            run_ok(
                Command::new("chown")
                    .arg("-R")
                    .arg(format!("{}:{}", self.uid, self.gid))
                    .arg(path),
            );
        }
    }

    /// A new scratch directory the user owns.
    pub fn scratch(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        self.own(dir.path());
        dir
    }
}
