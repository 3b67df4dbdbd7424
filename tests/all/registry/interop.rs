//! Interop with skopeo and umoci both ways: what we push, `skopeo inspect` and
//! `skopeo copy` read and `umoci unpack` unpacks to our tree; what skopeo pushes, we
//! pull and unpack to the same tree.

use std::process::Command;

use super::fixture::{self, Auth, PASS, Registry, USER};
use super::images::{assert_blobs_whole, layers, mtree, ok, small_image, tag_digest};
use super::proxy::Proxy;
use crate::support::{have, run_ok, umoci_unpack};

fn skopeo(args: &[String]) -> String {
    run_ok(Command::new("skopeo").args(args))
}

#[test]
fn registry_round_trip_read_by_skopeo_and_umoci() {
    if !fixture::available() || !have("skopeo") || !have("umoci") {
        return;
    }
    let registry = Registry::start(false, Auth::Anonymous);
    let proxy = Proxy::start(&registry.host);
    let dir = tempfile::tempdir().unwrap();
    // 3 MiB of random bytes: a layer of more than three 1 MiB chunks.
    let layout = small_image(dir.path(), "src", 3 * 1024);
    let image = format!("{}:base", layout.display());
    let digest = tag_digest(&layout, "base");
    let flags = registry.flags();

    let out = ok(
        &[
            "push",
            "--image",
            &image,
            &proxy.reference("team/app:v1"),
            "--chunk-size",
            "1M",
        ],
        &flags,
    );
    assert!(out.contains("0 already there"), "{out}");
    let seen = proxy.take();
    let patches = seen.iter().filter(|r| r.method == "PATCH").count();
    assert!(patches >= 3, "a 3 MiB layer in 1 MiB chunks: {seen:#?}");
    let last = seen.last().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("PUT", "/v2/team/app/manifests/v1")
    );

    // skopeo reads what we pushed.
    let inspect = skopeo(&[
        "inspect".into(),
        "--tls-verify=false".into(),
        registry.reference("team/app:v1"),
    ]);
    let inspect: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(inspect["Digest"], digest.as_str());
    let copied = dir.path().join("copied");
    skopeo(&[
        "copy".into(),
        "--src-tls-verify=false".into(),
        registry.reference("team/app:v1"),
        format!("oci:{}:v1", copied.display()),
    ]);
    assert_eq!(tag_digest(&copied, "v1"), digest);
    let umoci_bundle = dir.path().join("umoci-bundle");
    run_ok(
        umoci_unpack()
            .arg("--image")
            .arg(format!("{}:v1", copied.display()))
            .arg(&umoci_bundle),
    );

    // Our unpack straight from the registry gives umoci's tree.
    let local = dir.path().join("local");
    let bundle = dir.path().join("bundle");
    ok(
        &[
            "unpack",
            "--image",
            &registry.reference("team/app:v1"),
            "--layout",
            &local.display().to_string(),
            &bundle.display().to_string(),
        ],
        &flags,
    );
    assert_eq!(
        mtree(&bundle.join("rootfs")),
        mtree(&umoci_bundle.join("rootfs"))
    );

    // A pull gives back the same image, blob for blob.
    let pulled = dir.path().join("pulled");
    ok(
        &[
            "pull",
            &registry.reference("team/app:v1"),
            "--image",
            &pulled.display().to_string(),
        ],
        &flags,
    );
    assert_eq!(tag_digest(&pulled, "v1"), digest);
    for (layer, _) in layers(&layout, &digest) {
        assert_eq!(
            super::images::blob(&pulled, &layer),
            super::images::blob(&layout, &layer)
        );
    }
    assert_blobs_whole(&pulled);
}

#[test]
fn registry_pulls_what_skopeo_pushes() {
    if !fixture::available() || !have("skopeo") || !have("umoci") {
        return;
    }
    let registry = Registry::start(true, Auth::Htpasswd);
    let dir = tempfile::tempdir().unwrap();
    let layout = small_image(dir.path(), "src", 64);
    let digest = tag_digest(&layout, "base");
    let mut args = vec!["copy".to_owned(), format!("--dest-creds={USER}:{PASS}")];
    args.extend(registry.skopeo_flags("dest-"));
    args.push(format!("oci:{}:base", layout.display()));
    args.push(registry.reference("lib/debian:12"));
    skopeo(&args);

    let creds = ["--creds".to_owned(), format!("{USER}:{PASS}")];
    let mut flags = registry.flags();
    flags.extend(creds.clone());
    let pulled = dir.path().join("pulled");
    let out = ok(
        &[
            "pull",
            &registry.reference("lib/debian:12"),
            "--image",
            &format!("{}:mine", pulled.display()),
        ],
        &flags,
    );
    assert!(out.starts_with(&digest), "{out}");
    assert_eq!(tag_digest(&pulled, "mine"), digest);
    assert_blobs_whole(&pulled);

    // skopeo copy + umoci unpack, against our unpack from the registry.
    let copied = dir.path().join("copied");
    let mut args = vec!["copy".to_owned(), format!("--src-creds={USER}:{PASS}")];
    args.extend(registry.skopeo_flags("src-"));
    args.push(registry.reference("lib/debian:12"));
    args.push(format!("oci:{}:12", copied.display()));
    skopeo(&args);
    let umoci_bundle = dir.path().join("umoci-bundle");
    run_ok(
        umoci_unpack()
            .arg("--image")
            .arg(format!("{}:12", copied.display()))
            .arg(&umoci_bundle),
    );
    let bundle = dir.path().join("bundle");
    ok(
        &[
            "unpack",
            "--image",
            &registry.reference("lib/debian:12"),
            "--layout",
            &dir.path().join("local").display().to_string(),
            &bundle.display().to_string(),
        ],
        &flags,
    );
    assert_eq!(
        mtree(&bundle.join("rootfs")),
        mtree(&umoci_bundle.join("rootfs"))
    );
}
