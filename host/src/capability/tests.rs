//! The granted directory is a hard boundary: every way out is refused.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;

use super::*;

/// `<tmp>/outside/secret` and a granted `<tmp>/root` full of ways out.
fn fixture() -> (tempfile::TempDir, CapDir) {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), b"secret").unwrap();
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::write(root.join("sub/file"), b"hello\n").unwrap();
    symlink("..", root.join("up")).unwrap();
    symlink(&outside, root.join("abs")).unwrap();
    symlink("sub", root.join("inner")).unwrap();
    symlink("../outside/secret", root.join("final")).unwrap();
    symlink("/etc/passwd", root.join("passwd")).unwrap();
    let cap = CapDir::open_ambient(&root).unwrap();
    (tmp, cap)
}

fn escapes<T: std::fmt::Debug>(r: Result<T, CapError>) {
    assert!(matches!(r, Err(CapError::EscapesRoot)), "{r:?}");
}

#[test]
fn dot_dot_and_absolute_paths_are_refused() {
    let (_tmp, cap) = fixture();
    escapes(cap.metadata(b".."));
    escapes(cap.metadata(b"sub/../../outside/secret"));
    escapes(cap.read_dir(b".."));
    escapes(cap.digest(b"/etc/passwd"));
    escapes(cap.metadata(b"/"));
}

#[test]
fn symlinked_intermediate_directories_are_not_followed() {
    let (_tmp, cap) = fixture();
    // Pointing out, relative and absolute.
    escapes(cap.metadata(b"up/outside/secret"));
    escapes(cap.digest(b"abs/secret"));
    escapes(cap.read_dir(b"abs"));
    escapes(cap.read_dir(b"up"));
    escapes(cap.xattrs(b"abs/secret"));
    // Even a symlink that stays inside is not a path: the walk sees real directories.
    escapes(cap.read_dir(b"inner"));
    escapes(cap.digest(b"inner/file"));
}

#[test]
fn a_final_symlink_is_described_not_followed() {
    let (_tmp, cap) = fixture();
    for link in [&b"final"[..], b"abs", b"up", b"passwd"] {
        assert_eq!(cap.metadata(link).unwrap().kind, Kind::Symlink);
        assert!(matches!(cap.digest(link), Err(CapError::NotSupported)));
        assert!(matches!(cap.open_read(link), Err(CapError::NotSupported)));
    }
    assert_eq!(cap.read_link(b"final").unwrap(), b"../outside/secret");
    assert_eq!(cap.read_link(b"passwd").unwrap(), b"/etc/passwd");
    let entries = cap.read_dir(b"").unwrap();
    let abs = entries.iter().find(|e| e.name == b"abs").unwrap();
    assert_eq!(abs.meta.kind, Kind::Symlink);
}

#[test]
fn xattrs_of_a_final_symlink_are_its_own() {
    let (tmp, cap) = fixture();
    let secret = tmp.path().join("outside/secret");
    rustix::fs::setxattr(&secret, "user.leak", b"x", rustix::fs::XattrFlags::empty())
        .expect("the test directory's filesystem takes user xattrs");
    let inside = tmp.path().join("root/sub/file");
    rustix::fs::setxattr(&inside, "user.ok", b"y", rustix::fs::XattrFlags::empty()).unwrap();
    // Through the handle: the file's own attribute, and none through the symlink.
    assert_eq!(
        cap.xattrs(b"sub/file").unwrap(),
        [(b"user.ok".to_vec(), b"y".to_vec())]
    );
    assert!(cap.xattrs(b"final").unwrap().is_empty());
}

#[test]
fn reads_inside_work() {
    let (tmp, cap) = fixture();
    let digest = cap.digest(b"sub/file").unwrap();
    assert_eq!(
        digest[..4],
        [0x58, 0x91, 0xb5, 0xb5],
        "sha256 of \"hello\\n\""
    );
    let mut names: Vec<_> = cap
        .read_dir(b"sub")
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    names.sort();
    assert_eq!(names, [b"file".to_vec()]);
    let meta = cap.metadata(b"./sub//file").unwrap();
    assert_eq!((meta.kind, meta.size, meta.nlink), (Kind::Regular, 6, 1));
    assert_eq!(cap.metadata(b"").unwrap().kind, Kind::Directory);

    let odd = std::ffi::OsStr::from_bytes(b"caf\xe9 \n\\name");
    fs::write(tmp.path().join("root/sub").join(odd), b"").unwrap();
    let path = [&b"sub/"[..], odd.as_bytes()].concat();
    assert_eq!(cap.metadata(&path).unwrap().size, 0);
}

#[test]
fn fifos_are_described_and_never_opened() {
    let (tmp, cap) = fixture();
    let fifo = tmp.path().join("root/fifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    assert_eq!(cap.metadata(b"fifo").unwrap().kind, Kind::Fifo);
    // Would block forever if the host opened it without O_NONBLOCK.
    assert!(matches!(cap.digest(b"fifo"), Err(CapError::NotSupported)));

    // Not even opened: a writer waiting for a reader keeps waiting. (A non-blocking
    // open for reading, as a check after opening would need, lets it through.)
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::OpenOptions::new().write(true).open(&fifo).is_ok())
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    for _ in 0..3 {
        assert!(matches!(
            cap.open_read(b"fifo"),
            Err(CapError::NotSupported)
        ));
        assert!(matches!(cap.digest(b"fifo"), Err(CapError::NotSupported)));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!writer.is_finished(), "the fifo was opened for reading");
    // Let the writer go.
    let _reader = fs::File::open(&fifo).unwrap();
    assert!(writer.join().unwrap());
}

#[test]
fn deep_paths_hold_few_descriptors_and_are_bounded() {
    let (tmp, cap) = fixture();
    let count_fds = || fs::read_dir("/proc/self/fd").unwrap().count();
    let mut deep = tmp.path().join("root");
    let mut rel = Vec::new();
    for _ in 0..300 {
        deep.push("d");
        rel.extend_from_slice(b"d/");
    }
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("f"), b"deep").unwrap();
    rel.extend_from_slice(b"f");
    let before = count_fds();
    assert_eq!(cap.metadata(&rel).unwrap().size, 4);
    assert!(
        count_fds() < before + KEPT_OPEN + 8,
        "{} descriptors open for a path 300 deep",
        count_fds() - before
    );
    let too_deep = b"d/".repeat(MAX_DEPTH + 1);
    assert!(matches!(cap.metadata(&too_deep), Err(CapError::TooDeep)));
}

#[test]
fn a_directory_swapped_for_a_symlink_after_use_does_not_lead_out() {
    use std::os::unix::fs::MetadataExt as _;
    let (tmp, cap) = fixture();
    let root = tmp.path().join("root");
    let inside = cap.metadata(b"sub/file").unwrap().ino;
    // The open directory of "sub" is kept; now "sub" becomes a way out.
    fs::rename(root.join("sub"), root.join("sub.old")).unwrap();
    symlink(tmp.path().join("outside"), root.join("sub")).unwrap();
    fs::write(tmp.path().join("outside/file"), b"outside").unwrap();
    let secret = fs::metadata(tmp.path().join("outside/file")).unwrap().ino();
    match cap.metadata(b"sub/file") {
        Ok(meta) => assert_eq!(meta.ino, inside, "must not reach {secret}"),
        Err(e) => assert!(matches!(e, CapError::EscapesRoot), "{e:?}"),
    }
    // A path that starts afresh sees the symlink and refuses it.
    escapes(cap.read_dir(b"sub.old").and_then(|_| cap.read_dir(b"sub")));
}

#[test]
fn open_read_reads_regular_files_only() {
    use std::io::Read as _;
    let (_tmp, cap) = fixture();
    let mut contents = String::new();
    cap.open_read(b"sub/file")
        .unwrap()
        .read_to_string(&mut contents)
        .unwrap();
    assert_eq!(contents, "hello\n");
    assert!(matches!(cap.open_read(b"sub"), Err(CapError::NotSupported)));
    assert!(matches!(cap.open_read(b""), Err(CapError::NotSupported)));
    assert!(matches!(cap.open_read(b"nope"), Err(CapError::NotFound)));
}

/// `create` makes objects with their metadata, never through or over a symlink.
#[test]
fn create_makes_objects_with_metadata_and_never_follows_symlinks() {
    let (tmp, read_only) = fixture();
    let root = tmp.path().join("root");
    let attrs = |mode| Attributes {
        owner: None,
        mode,
        xattrs: &[],
        mtime: (1_600_000_000, 123_456_789),
        atime: Some((1_500_000_000, 0)),
    };
    // A read-only handle refuses.
    assert!(matches!(
        read_only.create(b"new", NewKind::Regular(b"x"), &attrs(0o644)),
        Err(CapError::PermissionDenied)
    ));
    let cap = CapDir::open_ambient_writable(&root).unwrap();

    let refused = cap
        .create(b"sub/made", NewKind::Regular(b"contents"), &attrs(0o4751))
        .unwrap();
    assert!(refused.is_empty());
    let made = fs::symlink_metadata(root.join("sub/made")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(made.mode() & 0o7777, 0o4751);
    assert_eq!(
        (made.mtime(), made.mtime_nsec()),
        (1_600_000_000, 123_456_789)
    );
    assert_eq!(made.atime(), 1_500_000_000);
    assert_eq!(fs::read(root.join("sub/made")).unwrap(), b"contents");
    // The digest was taken as it was written.
    assert_eq!(
        cap.written_digest(b"sub/made").unwrap(),
        Some(Sha256::digest(b"contents").into())
    );

    cap.create(b"sub/dir", NewKind::Directory, &attrs(0o750))
        .unwrap();
    assert_eq!(
        fs::symlink_metadata(root.join("sub/dir")).unwrap().mode() & 0o7777,
        0o750
    );
    cap.create(b"sub/link", NewKind::Symlink(b"/etc/passwd"), &attrs(0))
        .unwrap();
    assert_eq!(
        fs::read_link(root.join("sub/link")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!(
        fs::symlink_metadata(root.join("sub/link")).unwrap().mtime(),
        1_600_000_000
    );

    // Nothing is made over an existing name, a symlink above all (the secret outside
    // stays as it is), nor through a symlinked directory.
    assert!(
        cap.create(b"final", NewKind::Regular(b"pwned"), &attrs(0o644))
            .is_err()
    );
    assert!(
        cap.create(b"sub/file", NewKind::Directory, &attrs(0o755))
            .is_err()
    );
    escapes(cap.create(b"abs/new", NewKind::Regular(b"pwned"), &attrs(0o644)));
    escapes(cap.create(b"inner/new", NewKind::Symlink(b"x"), &attrs(0o644)));
    escapes(cap.create(b"../escape", NewKind::Directory, &attrs(0o755)));
    assert_eq!(
        fs::read(tmp.path().join("outside/secret")).unwrap(),
        b"secret"
    );
    assert!(!tmp.path().join("outside/new").exists());
    assert!(!tmp.path().join("escape").exists());
}
