//! Trust boundaries: a layout, bundle or component cache that another user can write
//! must not turn the user running the tool (root, on build services) against the
//! machine. The layouts here belong to a real unprivileged user, who plants symlinks,
//! fifos and bad metadata; root runs the commands.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use repack_host::layout::{Layout, descriptor};
use serde_json::json;
use tempfile::TempDir;

use crate::support::{cache_dir, have, repack_host, root, run_fail, run_ok};

/// The unprivileged user that owns the layouts and bundles here.
const TENANT: &str = "repack-tenant";

/// The tenant's uid and gid, creating the user if it does not exist (root only).
fn tenant() -> (u32, u32) {
    static CREATING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = CREATING.lock().unwrap_or_else(|e| e.into_inner());
    let id = |flag: &str| {
        Command::new("id")
            .args([flag, TENANT])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse::<u32>().ok())
    };
    if id("-u").is_none() {
        let out = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
            ])
            .arg(TENANT)
            .output()
            .expect("spawning useradd");
        // 9: created meanwhile by another test process.
        assert!(
            out.status.success() || out.status.code() == Some(9),
            "useradd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (id("-u").unwrap(), id("-g").unwrap())
}

/// A scratch directory anyone may enter, with the layout `img` (tag `a`) owned by the
/// tenant and, outside it, a root-owned `victim` file.
struct Lab {
    tmp: TempDir,
    uid: u32,
}

impl Lab {
    fn new() -> Lab {
        let (uid, gid) = tenant();
        let tmp = tempfile::tempdir().unwrap();
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let lab = Lab { tmp, uid };
        run_ok(&mut lab.host(&["init", "--layout", "img"]));
        run_ok(&mut lab.host(&["new", "--image", "img:a"]));
        lab.chown_tenant("img", gid);
        fs::write(lab.victim(), b"root's secret\n").unwrap();
        fs::set_permissions(lab.victim(), fs::Permissions::from_mode(0o600)).unwrap();
        lab
    }

    fn chown_tenant(&self, rel: &str, gid: u32) {
        run_ok(
            Command::new("chown")
                .arg("-R")
                .arg(format!("{}:{gid}", self.uid))
                .arg(self.path().join(rel)),
        );
    }

    fn path(&self) -> &Path {
        self.tmp.path()
    }

    fn layout(&self) -> PathBuf {
        self.path().join("img")
    }

    fn victim(&self) -> PathBuf {
        self.path().join("victim")
    }

    /// `repack-host ARGS` as root, in the lab.
    fn host(&self, args: &[&str]) -> Command {
        let mut cmd = repack_host();
        cmd.current_dir(self.path()).args(args);
        cmd
    }

    /// A shell script run as the tenant, in the lab.
    fn as_tenant(&self, script: &str) {
        run_ok(
            Command::new("setpriv")
                .args([
                    &format!("--reuid={TENANT}"),
                    &format!("--regid={TENANT}"),
                    "--init-groups",
                    "sh",
                    "-euc",
                    script,
                ])
                .current_dir(self.path()),
        );
    }

    /// The victim is as it was: root's, 0600, same bytes.
    fn assert_victim_untouched(&self) {
        let meta = fs::metadata(self.victim()).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (0, 0), "victim changed owner");
        assert_eq!(meta.mode() & 0o7777, 0o600, "victim changed mode");
        assert_eq!(fs::read(self.victim()).unwrap(), b"root's secret\n");
    }

    /// The hex digest `img:TAG` points at.
    fn manifest_hex(&self, tag: &str) -> String {
        let layout = Layout::open(self.layout()).unwrap();
        layout
            .resolve_one(tag)
            .unwrap()
            .last()
            .unwrap()
            .digest
            .hex()
            .to_owned()
    }
}

/// Whether the privileged multi-user tests can run here.
fn ready() -> bool {
    root() && have("setpriv") && have("useradd")
}

/// Run `cmd`, killing it if it takes longer than `limit`; returns its stderr and
/// whether it succeeded.
fn run_within(cmd: &mut Command, limit: Duration) -> (bool, String) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("{cmd:?} still running after {limit:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// 1. Lock files.

#[test]
fn lock_files_that_are_symlinks_are_neither_followed_nor_chowned() {
    if !ready() {
        return;
    }
    let lab = Lab::new();
    lab.as_tenant("ln -sf ../victim img/.repack.lock && ln -sf ../victim img/.repack-writers.lock");
    for args in [
        &["tag", "--image", "img:a", "b"][..],
        &["gc", "--layout", "img"],
        &["rm", "--image", "img:a"],
    ] {
        let out = run_fail(&mut lab.host(args));
        assert!(
            out.stderr.contains(".repack") && out.stderr.contains("it is a symlink"),
            "{args:?}: {}",
            out.stderr
        );
        lab.assert_victim_untouched();
    }
    // A lock file root creates belongs to the layout's owner; one that exists is left
    // as it is.
    lab.as_tenant("rm img/.repack.lock img/.repack-writers.lock");
    run_ok(&mut lab.host(&["tag", "--image", "img:a", "b"]));
    let lock = fs::metadata(lab.layout().join(".repack.lock")).unwrap();
    assert_eq!(lock.uid(), lab.uid);
    lab.as_tenant("rm img/.repack.lock && ln ../victim img/.repack.lock 2>/dev/null || true");
    if lab.layout().join(".repack.lock").exists() {
        // Hard links to files of others are allowed only without protected_hardlinks.
        run_ok(&mut lab.host(&["tag", "--image", "img:a", "c"]));
        lab.assert_victim_untouched();
    }
}

// 2. The compiled-component cache.

/// A copy of the shared cache (its compiled component) in `dir`.
fn copy_cache(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    // Make sure the shared cache holds the compiled component.
    run_ok(repack_host().args(["raw", "mtree", "."]).current_dir(dir));
    for entry in fs::read_dir(cache_dir()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().ends_with(".cwasm") {
            fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn the_component_cache_is_used_only_when_it_is_the_users_own() {
    if !ready() {
        return;
    }
    let lab = Lab::new();
    let (uid, gid) = tenant();
    // A cache the tenant owns (root running with the tenant's HOME): a valid compiled
    // component there must not be loaded by root.
    let theirs = lab.path().join("theirs");
    copy_cache(&theirs);
    std::os::unix::fs::chown(&theirs, Some(uid), Some(gid)).unwrap();
    for entry in fs::read_dir(&theirs).unwrap() {
        std::os::unix::fs::chown(entry.unwrap().path(), Some(uid), Some(gid)).unwrap();
    }
    let mtree = |cache: &Path| {
        let out = repack_host()
            .env("REPACK_CACHE_DIR", cache)
            .args(["--log", "debug", "raw", "mtree", "."])
            .current_dir(lab.path().join("img"))
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let copied = fs::read_dir(&theirs).unwrap().count();
    let log = mtree(&theirs);
    assert!(
        log.contains(&format!(
            "the directory is owned by uid {uid}, not by uid 0"
        )),
        "{log}"
    );
    assert!(
        !log.contains("loaded compiled component from cache"),
        "{log}"
    );
    assert_eq!(
        fs::read_dir(&theirs).unwrap().count(),
        copied,
        "nothing stored there"
    );

    // Root's own cache: the copy it writes is 0600, and the next run loads it.
    let ours = lab.path().join("ours");
    fs::create_dir(&ours).unwrap();
    fs::set_permissions(&ours, fs::Permissions::from_mode(0o700)).unwrap();
    mtree(&ours);
    let stored: Vec<_> = fs::read_dir(&ours).unwrap().map(|e| e.unwrap()).collect();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].metadata().unwrap().mode() & 0o7777, 0o600);
    assert!(mtree(&ours).contains("loaded compiled component from cache"));
    // A compiled copy replaced by a symlink (to a valid copy) is not followed.
    let name = stored[0].file_name();
    fs::rename(ours.join(&name), lab.path().join("elsewhere.cwasm")).unwrap();
    symlink(lab.path().join("elsewhere.cwasm"), ours.join(&name)).unwrap();
    let log = mtree(&ours);
    assert!(log.contains("it is a symlink"), "{log}");
    assert!(
        !log.contains("loaded compiled component from cache"),
        "{log}"
    );
}

// 3. gc.

#[test]
fn gc_refuses_a_symlinked_blob_directory_and_keeps_stray_files() {
    if !ready() {
        return;
    }
    let lab = Lab::new();
    // Root's files elsewhere, named like blobs and not.
    let elsewhere = lab.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    let digest_named = elsewhere.join("0".repeat(64));
    fs::write(&digest_named, b"root's").unwrap();
    fs::write(elsewhere.join("notes"), b"root's").unwrap();
    lab.as_tenant("mv img/blobs/sha256 img/blobs/real && ln -s ../../elsewhere img/blobs/sha256");
    let out = run_fail(&mut lab.host(&["gc", "--layout", "img"]));
    assert!(
        out.stderr.contains("blobs/sha256: is a symlink"),
        "{}",
        out.stderr
    );
    assert!(digest_named.exists() && elsewhere.join("notes").exists());

    // Back in place: a stray file is left alone, an unreferenced blob goes.
    lab.as_tenant(&format!(
        "rm img/blobs/sha256 && mv img/blobs/real img/blobs/sha256 && echo x > img/blobs/sha256/stray && echo x > img/blobs/sha256/{}",
        "1".repeat(64)
    ));
    run_ok(&mut lab.host(&["gc", "--layout", "img"]));
    assert!(lab.layout().join("blobs/sha256/stray").exists());
    assert!(
        !lab.layout()
            .join("blobs/sha256")
            .join("1".repeat(64))
            .exists()
    );
}

// 4. Nested indexes.

/// Tag `top` at `levels` indexes, each listing the next `fanout` times, above `img:a`.
fn nest(layout: &Path, levels: usize, fanout: usize, top: &str) {
    let layout = Layout::open(layout).unwrap();
    let mut desc = layout.resolve_one("a").unwrap().pop().unwrap();
    desc.json.shift_remove("annotations");
    for _ in 0..levels {
        let manifests = vec![desc.to_value(); fanout];
        desc = layout
            .put_json(
                descriptor::INDEX,
                &json!({"schemaVersion": 2, "mediaType": descriptor::INDEX, "manifests": manifests}),
            )
            .unwrap();
    }
    layout.set_tag(top, &desc).unwrap();
}

#[test]
fn nested_indexes_are_walked_once_each_and_bounded() {
    let lab = tempfile::tempdir().unwrap();
    let host = |args: &[&str]| {
        let mut cmd = repack_host();
        cmd.current_dir(lab.path()).args(args);
        cmd
    };
    run_ok(&mut host(&["init", "--layout", "img"]));
    run_ok(&mut host(&["new", "--image", "img:a"]));
    let layout = lab.path().join("img");
    // 8^10 paths lead to the one manifest.
    nest(&layout, 10, 8, "wide");
    let start = Instant::now();
    let mut unpack = host(&["unpack", "--image", "img:wide", "bundle"]);
    if !rustix::process::geteuid().is_root() {
        unpack.arg("--rootless");
    }
    let (ok, err) = run_within(&mut unpack, Duration::from_secs(60));
    assert!(ok, "{err}");
    eprintln!("unpack through 10 levels of 8: {:?}", start.elapsed());
    run_ok(&mut host(&["stat", "--image", "img:wide"]));
    run_ok(&mut host(&["gc", "--layout", "img"]));

    nest(&layout, 17, 1, "deep");
    let out = run_fail(&mut host(&["stat", "--image", "img:deep"]));
    assert!(
        out.stderr.contains("nested more than 16 deep"),
        "{}",
        out.stderr
    );

    nest(&layout, 1, 70_000, "fat");
    let out = run_fail(&mut host(&["stat", "--image", "img:fat"]));
    assert!(
        out.stderr
            .contains("70000 descriptors listed; at most 65536"),
        "{}",
        out.stderr
    );
}

// 5. Modes.

#[test]
fn written_files_honour_the_umask_and_stay_readable_by_the_owner() {
    if !ready() {
        return;
    }
    let lab = Lab::new();
    let umask = |mask: &str, args: &str| {
        run_ok(
            Command::new("sh")
                .args(["-c", &format!("umask {mask}; exec \"$0\" {args}")])
                .arg(env!("CARGO_BIN_EXE_repack-host"))
                .env("REPACK_CACHE_DIR", cache_dir())
                .current_dir(lab.path()),
        );
    };
    let mode = |rel: &str| fs::metadata(lab.layout().join(rel)).unwrap().mode() & 0o7777;
    umask("077", "new --image img:private");
    let hex = lab.manifest_hex("private");
    assert_eq!(mode(&format!("blobs/sha256/{hex}")), 0o600);
    assert_eq!(mode("index.json"), 0o600);
    // Root wrote them for the layout's owner, who can read them.
    let blob = fs::metadata(lab.layout().join("blobs/sha256").join(&hex)).unwrap();
    assert_eq!(blob.uid(), lab.uid);
    lab.as_tenant(&format!(
        "cat img/index.json img/blobs/sha256/{hex} >/dev/null"
    ));

    umask("022", "tag --image img:a shared");
    assert_eq!(mode("index.json"), 0o644);
    // A umask that takes the owner's read bit: the owner keeps it.
    umask("0477", "tag --image img:a odd");
    assert_eq!(mode("index.json") & 0o400, 0o400);
}

// 6. Fifos and devices.

#[test]
fn a_fifo_in_blobs_is_refused_without_blocking() {
    if !ready() {
        return;
    }
    let lab = Lab::new();
    let hex = lab.manifest_hex("a");
    lab.as_tenant(&format!(
        "rm img/blobs/sha256/{hex} && mkfifo img/blobs/sha256/{hex}"
    ));
    for args in [
        &["gc", "--layout", "img"][..],
        &["unpack", "--image", "img:a", "bundle"],
        &["stat", "--image", "img:a"],
    ] {
        let (ok, err) = run_within(&mut lab.host(args), Duration::from_secs(30));
        assert!(!ok, "{args:?} succeeded");
        assert!(err.contains("it is a fifo"), "{args:?}: {err}");
    }
    assert!(!lab.path().join("bundle/rootfs").exists());
}

// 7. Bundle metadata.

#[test]
fn bundle_metadata_is_never_followed() {
    if !ready() {
        return;
    }
    let lab = Lab::new();
    run_ok(&mut lab.host(&["unpack", "--image", "img:a", "bundle"]));
    let (_, gid) = tenant();
    lab.chown_tenant("bundle", gid);
    let hex = lab.manifest_hex("a");
    let mtree = format!("sha256_{hex}.mtree");
    // umoci.json and the manifest as symlinks to copies of themselves: refused.
    for name in ["umoci.json", mtree.as_str()] {
        lab.as_tenant(&format!(
            "cp bundle/{name} bundle/copy && rm bundle/{name} && ln -s copy bundle/{name}"
        ));
        let out = run_fail(&mut lab.host(&["run", "--image", "img:b", "bundle"]));
        assert!(
            out.stderr.contains(name) && out.stderr.contains("it is a symlink"),
            "{name}: {}",
            out.stderr
        );
        lab.as_tenant(&format!("rm bundle/{name} && mv bundle/copy bundle/{name}"));
    }
    // A stat cache that is a symlink is not read, and is replaced, not written through.
    lab.as_tenant("rm bundle/repack.statcache && ln -s ../victim bundle/repack.statcache");
    run_ok(&mut lab.host(&["run", "--image", "img:b", "bundle"]));
    lab.assert_victim_untouched();
    assert!(
        fs::symlink_metadata(lab.path().join("bundle/repack.statcache"))
            .unwrap()
            .is_file()
    );

    // unpack into a destination that is a symlink: refused, the target untouched.
    let target = lab.path().join("target");
    fs::create_dir(&target).unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o755)).unwrap();
    symlink("target", lab.path().join("link")).unwrap();
    let out = run_fail(&mut lab.host(&["unpack", "--image", "img:a", "link"]));
    assert!(out.stderr.contains("link: is a symlink"), "{}", out.stderr);
    assert_eq!(fs::read_dir(&target).unwrap().count(), 0);
    assert_eq!(fs::metadata(&target).unwrap().mode() & 0o7777, 0o755);
}

// 8. Id mappings.

#[test]
fn id_mappings_out_of_range_are_refused() {
    let lab = tempfile::tempdir().unwrap();
    let host = |args: &[&str]| {
        let mut cmd = repack_host();
        cmd.current_dir(lab.path()).args(args);
        cmd
    };
    run_ok(&mut host(&["init", "--layout", "img"]));
    run_ok(&mut host(&["new", "--image", "img:a"]));
    for (map, says) in [
        ("4294967295:0:10", "container ids run past 4294967295"),
        ("0:4294967290:10", "host ids run past 4294967295"),
        ("0:0:0", "has size 0"),
    ] {
        let out = run_fail(&mut host(&[
            "unpack",
            "--rootless",
            "--uid-map",
            map,
            "--image",
            "img:a",
            "b",
        ]));
        assert!(out.stderr.contains(says), "{map}: {}", out.stderr);
        assert!(!lab.path().join("b/rootfs").exists());
    }
    let mut unpack = host(&["unpack", "--image", "img:a", "bundle"]);
    if !rustix::process::geteuid().is_root() {
        unpack.arg("--rootless");
    }
    run_ok(&mut unpack);
    let meta_path = lab.path().join("bundle/umoci.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&fs::read(&meta_path).unwrap()).unwrap();
    meta["map_options"]["uid_mappings"] =
        json!([{"containerID": 4294967295u32, "hostID": 0, "size": 10}]);
    fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
    let out = run_fail(&mut host(&["run", "--image", "img:b", "bundle"]));
    assert!(
        out.stderr.contains("umoci.json") && out.stderr.contains("container ids run past"),
        "{}",
        out.stderr
    );
}

// 9. Deep trees, refused xattr calls.

/// A chain of `depth` directories `d` under `top` (made relative to each other: the
/// whole path is longer than PATH_MAX), a file at the bottom.
fn chain(top: &Path, depth: usize) {
    use rustix::fs::{Mode, OFlags};
    let mut dir = rustix::fs::open(top, OFlags::DIRECTORY | OFlags::RDONLY, Mode::empty()).unwrap();
    for _ in 0..depth {
        rustix::fs::mkdirat(&dir, "d", Mode::from_raw_mode(0o755)).unwrap();
        dir = rustix::fs::openat(&dir, "d", OFlags::DIRECTORY | OFlags::RDONLY, Mode::empty())
            .unwrap();
    }
    let fd = rustix::fs::openat(
        &dir,
        "f",
        OFlags::CREATE | OFlags::WRONLY,
        Mode::from_raw_mode(0o644),
    )
    .unwrap();
    rustix::io::write(&fd, b"bottom\n").unwrap();
}

/// `repack-host ARGS` in `dir` with at most `fds` open descriptors.
fn with_fd_limit(dir: &Path, fds: u32, args: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &format!("ulimit -n {fds} && exec \"$0\" {args}")])
        .arg(env!("CARGO_BIN_EXE_repack-host"))
        .env("REPACK_CACHE_DIR", cache_dir())
        .current_dir(dir);
    cmd
}

#[test]
fn deep_trees_need_few_descriptors_and_have_a_bound() {
    let lab = tempfile::tempdir().unwrap();
    let rootless = if rustix::process::geteuid().is_root() {
        ""
    } else {
        "--rootless"
    };
    run_ok(&mut with_fd_limit(lab.path(), 1024, "init --layout img"));
    run_ok(&mut with_fd_limit(lab.path(), 1024, "new --image img:a"));
    run_ok(&mut with_fd_limit(
        lab.path(),
        1024,
        &format!("unpack {rootless} --image img:a bundle"),
    ));
    let rootfs = lab.path().join("bundle/rootfs");
    fs::create_dir(rootfs.join("deep")).unwrap();
    chain(&rootfs.join("deep"), 1500);
    // A walk 1,500 directories deep with 128 descriptors.
    run_ok(&mut with_fd_limit(
        lab.path(),
        128,
        "run --image img:deep bundle",
    ));
    // Unpacking it, then a layer that replaces the tree with a file (its removal).
    run_ok(&mut with_fd_limit(
        lab.path(),
        128,
        &format!("unpack {rootless} --image img:deep again"),
    ));
    let top = repack_host::handle::ambient_dir(&rootfs, true).unwrap();
    repack_host::handle::remove_tree(&top, "deep".as_ref()).unwrap();
    fs::write(rootfs.join("deep"), b"now a file\n").unwrap();
    run_ok(&mut with_fd_limit(
        lab.path(),
        128,
        "run --image img:flat bundle",
    ));
    run_ok(&mut with_fd_limit(
        lab.path(),
        128,
        &format!("unpack {rootless} --image img:flat replaced"),
    ));

    // Deeper than the bound: one clear error, nothing tagged.
    fs::remove_file(rootfs.join("deep")).unwrap();
    fs::create_dir(rootfs.join("deep")).unwrap();
    chain(&rootfs.join("deep"), 4200);
    let out = run_fail(&mut with_fd_limit(
        lab.path(),
        128,
        "run --image img:deeper bundle",
    ));
    assert!(out.stderr.contains("deeper than 4096"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    let layout = Layout::open(lab.path().join("img")).unwrap();
    assert!(layout.resolve("deeper").unwrap().is_empty());
}

/// `repack-host raw mtree .` in `dir`, with `listxattrat`/`getxattrat` (464, 465)
/// answering `errno` through a seccomp filter when one is given; the entry lines.
#[allow(unsafe_code)]
fn mtree_entries(dir: &Path, refuse_with: Option<i32>) -> Result<String, String> {
    use std::os::unix::process::CommandExt;
    let mut cmd = repack_host();
    cmd.args(["raw", "mtree", "."]).current_dir(dir);
    if let Some(errno) = refuse_with {
        let stmt = |code: u32, k: u32| libc::sock_filter {
            code: code as u16,
            jt: 0,
            jf: 0,
            k,
        };
        let jeq = |k: u32, jt: u8| libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt,
            jf: 0,
            k,
        };
        let filter = [
            stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0), // the call's number
            jeq(464, 2),
            jeq(465, 1),
            stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
            stmt(
                libc::BPF_RET | libc::BPF_K,
                libc::SECCOMP_RET_ERRNO | errno as u32,
            ),
        ];
        // SAFETY: between fork and exec only async-signal-safe calls are made (two
        // prctl), on a filter that lives in this (copied) stack frame until exec.
        unsafe {
            cmd.pre_exec(move || {
                let prog = libc::sock_fprog {
                    len: filter.len() as u16,
                    filter: filter.as_ptr().cast_mut(),
                };
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                    || libc::prctl(
                        libc::PR_SET_SECCOMP,
                        libc::SECCOMP_MODE_FILTER,
                        &raw const prog,
                    ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let out = cmd.output().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n"))
}

#[test]
fn xattrs_are_read_when_a_seccomp_profile_refuses_the_new_calls() {
    if !have("setfattr") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("dir")).unwrap();
    fs::write(tmp.path().join("dir/file"), b"x").unwrap();
    run_ok(
        Command::new("setfattr")
            .args(["-n", "user.note", "-v", "kept", "dir/file"])
            .current_dir(tmp.path()),
    );
    run_ok(
        Command::new("setfattr")
            .args(["-n", "user.note", "-v", "too", "dir"])
            .current_dir(tmp.path()),
    );
    let plain = mtree_entries(tmp.path(), None).unwrap();
    assert!(plain.contains("xattr.user.note="), "{plain}");
    // EPERM is what seccomp profiles answer for calls they do not know; EOPNOTSUPP
    // would otherwise read as "this filesystem has no attributes".
    for errno in [libc::EPERM, libc::EOPNOTSUPP, libc::EACCES] {
        assert_eq!(
            mtree_entries(tmp.path(), Some(errno)).as_deref(),
            Ok(plain.as_str()),
            "errno {errno}"
        );
    }
}
