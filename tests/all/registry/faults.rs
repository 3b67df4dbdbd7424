//! Failures: each refused request is one line naming the registry, the repository and
//! what to do; 5xx answers and dropped connections are retried (a blob resumes where
//! it broke); an interrupted pull leaves no partial blob and no tag; an interrupted
//! push leaves the remote tag as it was, and a rerun completes.

use super::fixture::{self, Auth, Registry};
use super::images::{assert_blobs_whole, entries, fails, layers, ok, small_image, tag_digest};
use super::proxy::{Fault, Proxy};

#[test]
fn registry_errors_are_one_line() {
    if !fixture::available() {
        return;
    }
    let registry = Registry::start(false, Auth::Anonymous);
    let proxy = Proxy::start(&registry.host);
    let dir = tempfile::tempdir().unwrap();
    let layout = small_image(dir.path(), "src", 16);
    let image = format!("{}:base", layout.display());
    let flags = registry.flags();
    let fast = ["--retry-times".to_owned(), "1".to_owned()];
    let flags_fast: Vec<String> = flags.iter().chain(&fast).cloned().collect();
    ok(
        &["push", "--image", &image, &proxy.reference("team/app:v1")],
        &flags,
    );
    let out = dir.path().join("out");
    let out = out.display().to_string();

    let line = fails(
        &["pull", &proxy.reference("team/app:nope"), "--image", &out],
        &flags,
    );
    for part in [proxy.host.as_str(), "team/app", "404", "not found", "nope"] {
        assert!(line.contains(part), "{line}");
    }
    for (status, words) in [
        (403, "may not pull from"),
        (429, "rate-limiting (tried 2 times)"),
        (503, "failed (tried 2 times)"),
        (500, "run again later"),
    ] {
        proxy.set_policy(move |r, _| {
            if r.path.contains("/manifests/") {
                Fault::Status(status)
            } else {
                Fault::None
            }
        });
        let line = fails(
            &["pull", &proxy.reference("team/app:v1"), "--image", &out],
            &flags_fast,
        );
        for part in [proxy.host.as_str(), "team/app", &status.to_string(), words] {
            assert!(line.contains(part), "{status}: {line}");
        }
    }
    assert!(
        !std::path::Path::new(&out).exists(),
        "a failed pull leaves no new layout"
    );
}

#[test]
fn registry_retries_and_resumes() {
    if !fixture::available() {
        return;
    }
    let registry = Registry::start(false, Auth::Anonymous);
    let proxy = Proxy::start(&registry.host);
    let dir = tempfile::tempdir().unwrap();
    let layout = small_image(dir.path(), "src", 2048);
    let digest = tag_digest(&layout, "base");
    let (layer, size) = layers(&layout, &digest).remove(0);
    ok(
        &[
            "push",
            "--image",
            &format!("{}:base", layout.display()),
            &proxy.reference("r/x:1"),
        ],
        &registry.flags(),
    );

    // Every third request fails with 503, and the layer's first answer is cut after
    // half its bytes: the pull still lands every blob whole.
    let cut_layer = layer.clone();
    let mut cut = false;
    proxy.set_policy(move |r, n| {
        if r.method == "GET" && r.path.ends_with(&cut_layer) && !cut {
            cut = true;
            return Fault::Cut(size as usize / 2);
        }
        if n % 3 == 2 {
            Fault::Status(503)
        } else {
            Fault::None
        }
    });
    proxy.take();
    let pulled = dir.path().join("pulled");
    ok(
        &[
            "pull",
            &proxy.reference("r/x:1"),
            "--image",
            &pulled.display().to_string(),
        ],
        &registry.flags(),
    );
    assert_eq!(tag_digest(&pulled, "1"), digest);
    assert_blobs_whole(&pulled);
    let gets = proxy
        .take()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(&layer))
        .count();
    assert!(gets >= 2, "the cut layer was asked for again");
}

#[test]
fn registry_interruptions_leave_nothing_half_done() {
    if !fixture::available() {
        return;
    }
    let registry = Registry::start(false, Auth::Anonymous);
    let proxy = Proxy::start(&registry.host);
    let dir = tempfile::tempdir().unwrap();
    let layout = small_image(dir.path(), "src", 1024);
    let digest = tag_digest(&layout, "base");
    let (layer, _) = layers(&layout, &digest).remove(0);
    let flags = registry.flags();
    let image = format!("{}:base", layout.display());
    ok(
        &["push", "--image", &image, &proxy.reference("r/x:1")],
        &flags,
    );

    // A pull whose layer download always breaks: no blob for it, no tag.
    let cut_layer = layer.clone();
    proxy.set_policy(move |r, _| {
        if r.method == "GET" && r.path.ends_with(&cut_layer) {
            Fault::Cut(5000)
        } else {
            Fault::None
        }
    });
    let pulled = dir.path().join("pulled");
    let target = pulled.display().to_string();
    ok(&["init", "--layout", &target], &[]);
    let line = fails(
        &[
            "pull",
            &proxy.reference("r/x:1"),
            "--image",
            &target,
            "--retry-times",
            "1",
        ],
        &flags,
    );
    assert!(line.contains("dropped") && line.contains(&layer), "{line}");
    assert!(
        !pulled
            .join("blobs/sha256")
            .join(layer.trim_start_matches("sha256:"))
            .exists()
    );
    assert!(entries(&pulled).is_empty(), "no tag after a failed pull");
    assert_blobs_whole(&pulled);
    proxy.set_policy(|_, _| Fault::None);
    ok(
        &["pull", &proxy.reference("r/x:1"), "--image", &target],
        &flags,
    );
    assert_eq!(tag_digest(&pulled, "1"), digest);

    // A push of a new image whose manifest is refused: the remote tag still names the
    // old image; a rerun sends only the manifest.
    let newer = small_image(dir.path(), "newer", 64);
    let newer_image = format!("{}:base", newer.display());
    proxy.set_policy(|r, _| {
        if r.method == "PUT" && r.path.contains("/manifests/") {
            Fault::Status(500)
        } else {
            Fault::None
        }
    });
    let line = fails(
        &[
            "push",
            "--image",
            &newer_image,
            &proxy.reference("r/x:1"),
            "--retry-times",
            "0",
        ],
        &flags,
    );
    assert!(
        line.contains("500") && line.contains("PUT manifest 1"),
        "{line}"
    );
    proxy.set_policy(|_, _| Fault::None);
    let check = dir.path().join("check");
    ok(
        &[
            "pull",
            &proxy.reference("r/x:1"),
            "--image",
            &check.display().to_string(),
        ],
        &flags,
    );
    assert_eq!(
        tag_digest(&check, "1"),
        digest,
        "the remote tag is unchanged"
    );
    let out = ok(
        &["push", "--image", &newer_image, &proxy.reference("r/x:1")],
        &flags,
    );
    assert!(
        out.contains("0 blobs uploaded (0 bytes), 2 already there"),
        "{out}"
    );
    let again = dir.path().join("again");
    ok(
        &[
            "pull",
            &proxy.reference("r/x:1"),
            "--image",
            &again.display().to_string(),
        ],
        &flags,
    );
    assert_eq!(tag_digest(&again, "1"), tag_digest(&newer, "base"));
}
