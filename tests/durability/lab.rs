//! The durability tests' own helpers: scratch labs holding a layout, random data, and
//! mounts undone on drop. Running commands is the shared `support` module's.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::support::{repack_host, run_ok};

/// A scratch directory holding the layout `img` with `img:base`, an empty image made
/// by `repack-host new`.
#[derive(Debug)]
pub struct Lab {
    tmp: TempDir,
}

impl Lab {
    /// A lab in a new temp directory.
    pub fn new() -> Lab {
        Self::with_layout_in("img")
    }

    /// A lab whose layout is at `rel` (relative to the lab; its parents must exist
    /// or be creatable).
    pub fn with_layout_in(rel: &str) -> Lab {
        let lab = Lab::empty();
        run_ok(&mut lab.host(&["init", "--layout", rel]));
        run_ok(&mut lab.host(&["new", "--image", &format!("{rel}:base")]));
        lab
    }

    /// A lab with nothing in it yet.
    pub fn empty() -> Lab {
        Lab {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    /// The lab directory.
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// The layout `img`.
    pub fn layout(&self) -> PathBuf {
        self.path().join("img")
    }

    /// `repack-host ARGS` in the lab directory.
    pub fn host(&self, args: &[&str]) -> Command {
        let mut cmd = repack_host();
        cmd.current_dir(self.path()).args(args);
        cmd
    }

    /// `repack-host unpack --image IMAGE BUNDLE` (rootless when not root).
    pub fn unpack_cmd(&self, image: &str, bundle: &str) -> Command {
        let mut cmd = self.host(&["unpack", "--image", image, bundle]);
        if !rustix::process::geteuid().is_root() {
            cmd.arg("--rootless");
        }
        cmd
    }

    /// Unpack `image` into the bundle `bundle`, requiring success.
    pub fn unpack(&self, image: &str, bundle: &str) {
        run_ok(&mut self.unpack_cmd(image, bundle));
    }

    /// `repack-host run --image IMAGE [EXTRA...] BUNDLE`.
    pub fn run_cmd(&self, image: &str, bundle: &str, extra: &[&str]) -> Command {
        let mut cmd = self.host(&["run", "--image", image]);
        cmd.args(extra).arg(bundle);
        cmd
    }
}

/// A fast, seeded generator (xorshift64*): incompressible bytes without a syscall.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator; `seed` 0 is fine.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Write `size` random bytes (seeded by `seed`) to `path`.
pub fn write_random(path: &Path, size: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut file = std::io::BufWriter::new(fs::File::create(path).unwrap());
    let mut chunk = vec![0u8; 1 << 16];
    let mut left = size;
    while left > 0 {
        for word in chunk.chunks_exact_mut(8) {
            word.copy_from_slice(&rng.next().to_le_bytes());
        }
        let n = left.min(chunk.len());
        file.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
    file.flush().unwrap();
}

/// A mount, unmounted (lazily, so a failing test cannot leave it behind busy) on drop.
#[derive(Debug)]
pub struct Mount {
    target: PathBuf,
}

impl Mount {
    /// `mount ARGS... TARGET`, requiring success.
    pub fn new(args: &[&str], target: &Path) -> Mount {
        fs::create_dir_all(target).unwrap();
        let out = Command::new("mount")
            .args(args)
            .arg(target)
            .output()
            .expect("spawning mount");
        assert!(
            out.status.success(),
            "mount {args:?} {} failed: {}",
            target.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Mount {
            target: target.to_owned(),
        }
    }

    /// A tmpfs of `size` (e.g. `20m`) at `target`.
    pub fn tmpfs(size: &str, target: &Path) -> Mount {
        Mount::new(
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ],
            target,
        )
    }

    /// A read-only bind mount of `dir` over itself.
    pub fn read_only_bind(dir: &Path) -> Mount {
        let mount = Mount::new(&["--bind", &dir.display().to_string()], dir);
        // A bind mount is made read-write; make it read-only in a second step (older
        // mount(8) ignores `-o ro` on the bind itself).
        let out = Command::new("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(dir)
            .output()
            .expect("spawning mount");
        assert!(
            out.status.success(),
            "remounting {} read-only failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        mount
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.target)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.target).status();
        }
    }
}
