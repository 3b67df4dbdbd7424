//! `unpack --image docker://…` (one network read per layer, the image kept in a local
//! layout), `run --push` (only what the registry lacks: no base-layer bytes), and
//! multi-platform images (one platform pulled, the index kept).

use std::path::Path;

use super::fixture::{self, Auth, Registry};
use super::images::{
    assert_blobs_whole, debian_image, entries, layers, mtree, ok, rh, small_image, tag_digest,
};
use super::proxy::Proxy;
use crate::support::run_ok;

fn unpack_remote(reference: &str, layout: &Path, bundle: &Path, flags: &[String]) -> String {
    ok(
        &[
            "unpack",
            "--image",
            reference,
            "--layout",
            &layout.display().to_string(),
            &bundle.display().to_string(),
        ],
        flags,
    )
}

#[test]
fn registry_unpack_reads_each_layer_once() {
    if !fixture::available() {
        return;
    }
    let registry = Registry::start(false, Auth::Anonymous);
    let proxy = Proxy::start(&registry.host);
    let dir = tempfile::tempdir().unwrap();
    // Two layers.
    let layout = small_image(dir.path(), "src", 512);
    let src_bundle = dir.path().join("src-bundle");
    std::fs::write(src_bundle.join("rootfs/etc/second"), "layer two\n").unwrap();
    run_ok(
        rh(["run", "--image"])
            .arg(format!("{}:base", layout.display()))
            .arg(&src_bundle),
    );
    let digest = tag_digest(&layout, "base");
    let flags = registry.flags();
    ok(
        &[
            "push",
            "--image",
            &format!("{}:base", layout.display()),
            &proxy.reference("r/two:1"),
        ],
        &flags,
    );
    proxy.take();

    let local = dir.path().join("local");
    let bundle = dir.path().join("bundle");
    unpack_remote(&proxy.reference("r/two:1"), &local, &bundle, &flags);
    let seen = proxy.take();
    let layer_list = layers(&layout, &digest);
    assert_eq!(layer_list.len(), 2);
    for (layer, _) in &layer_list {
        let gets = seen
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with(layer))
            .count();
        assert_eq!(gets, 1, "layer {layer} read {gets} times: {seen:#?}");
    }
    // The tree is the local unpack's; the layout holds the image under the
    // reference's tag, and `run` works from it.
    let reference_bundle = dir.path().join("reference-bundle");
    run_ok(
        rh(["unpack", "--image"])
            .arg(format!("{}:base", layout.display()))
            .arg(&reference_bundle),
    );
    assert_eq!(
        mtree(&bundle.join("rootfs")),
        mtree(&reference_bundle.join("rootfs"))
    );
    assert_eq!(tag_digest(&local, "1"), digest);
    assert_blobs_whole(&local);
    std::fs::write(bundle.join("rootfs/etc/third"), "3\n").unwrap();
    run_ok(
        rh(["run", "--image"])
            .arg(format!("{}:next", local.display()))
            .arg(&bundle),
    );

    // With the layers already in the layout, none is fetched again.
    let again = dir.path().join("again");
    unpack_remote(&proxy.reference("r/two:1"), &local, &again, &flags);
    let layer_gets = proxy
        .take()
        .iter()
        .filter(|r| layer_list.iter().any(|(l, _)| r.path.ends_with(l.as_str())))
        .count();
    assert_eq!(layer_gets, 0);
}

#[test]
fn registry_run_push_sends_no_base_layer_bytes() {
    if !fixture::available() {
        return;
    }
    let registry = Registry::start(false, Auth::Anonymous);
    let proxy = Proxy::start(&registry.host);
    let dir = tempfile::tempdir().unwrap();
    let base = debian_image(dir.path(), "debian");
    let base_digest = tag_digest(&base, "base");
    let (base_layer, base_size) = layers(&base, &base_digest).remove(0);
    assert!(base_size > 1 << 20, "a base of some size: {base_size}");
    let flags = registry.flags();
    ok(
        &[
            "push",
            "--image",
            &format!("{}:base", base.display()),
            &proxy.reference("debian:12"),
        ],
        &flags,
    );

    let local = dir.path().join("local");
    let bundle = dir.path().join("bundle");
    unpack_remote(&proxy.reference("debian:12"), &local, &bundle, &flags);
    std::fs::write(
        bundle.join("rootfs/usr/share/zoneinfo/changed"),
        "small change\n",
    )
    .unwrap();
    proxy.take();
    let out = ok(
        &[
            "run",
            "--image",
            &format!("{}:app", local.display()),
            &bundle.display().to_string(),
            "--push",
            &proxy.reference("apps/app:1"),
        ],
        &flags,
    );
    let seen = proxy.take();
    let sent: u64 = seen.iter().map(|r| r.body).sum();
    let app = tag_digest(&local, "app");
    let new_layer = layers(&local, &app).pop().unwrap();
    assert!(
        sent < base_size / 10,
        "{sent} bytes sent for a base layer of {base_size}: {seen:#?}"
    );
    assert!(sent >= new_layer.1, "the new layer was sent");
    assert!(
        !seen
            .iter()
            .any(|r| r.body > 0 && r.path.contains(base_layer.trim_start_matches("sha256:"))),
        "base layer bytes were sent: {seen:#?}"
    );
    assert!(out.contains("1 mounted"), "{out}");
    let last = seen.last().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("PUT", "/v2/apps/app/manifests/1")
    );

    // The same push again: every blob is there, only the manifest is put.
    ok(
        &[
            "push",
            "--image",
            &format!("{}:app", local.display()),
            &proxy.reference("apps/app:1"),
        ],
        &flags,
    );
    let seen = proxy.take();
    assert!(
        seen.iter()
            .all(|r| r.method != "PATCH" && r.method != "POST"),
        "{seen:#?}"
    );
}

#[test]
fn registry_multi_platform_pull_keeps_the_index() {
    if !fixture::available() {
        return;
    }
    let registry = Registry::start(false, Auth::Anonymous);
    let dir = tempfile::tempdir().unwrap();
    let layout = small_image(dir.path(), "src", 8);
    let image = |tag: &str| format!("{}:{tag}", layout.display());
    // Two platforms of one image, in one index.
    for (tag, arch) in [("amd", "amd64"), ("arm", "arm64")] {
        run_ok(&mut rh([
            "config",
            "--image",
            &image("base"),
            "--tag",
            tag,
            "--platform.arch",
            arch,
        ]));
    }
    let descriptor = |tag: &str, arch: &str| {
        let digest = tag_digest(&layout, tag);
        let size = super::images::blob(&layout, &digest).len();
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest, "size": size,
            "platform": {"os": "linux", "architecture": arch},
        })
    };
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [descriptor("amd", "amd64"), descriptor("arm", "arm64")],
    });
    let bytes = serde_json::to_vec(&index).unwrap();
    let index_digest = format!(
        "sha256:{}",
        super::images::hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes))
    );
    std::fs::write(
        layout
            .join("blobs/sha256")
            .join(index_digest.trim_start_matches("sha256:")),
        &bytes,
    )
    .unwrap();
    let mut top = serde_json::from_slice::<serde_json::Value>(
        &std::fs::read(layout.join("index.json")).unwrap(),
    )
    .unwrap();
    top["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": index_digest, "size": bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": "multi"},
        }));
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    let flags = registry.flags();
    let out = ok(
        &[
            "push",
            "--image",
            &image("multi"),
            &registry.reference("r/multi:1"),
        ],
        &flags,
    );
    assert!(out.contains("3 manifests"), "{out}");

    let pulled = dir.path().join("pulled");
    let target = format!("{}:arm", pulled.display());
    ok(
        &[
            "pull",
            &registry.reference("r/multi:1"),
            "--image",
            &target,
            "--platform",
            "linux/arm64",
        ],
        &flags,
    );
    assert_eq!(tag_digest(&pulled, "arm"), tag_digest(&layout, "arm"));
    let list = entries(&pulled);
    let kept = list
        .iter()
        .find(|e| e["digest"] == index_digest.as_str())
        .expect("the index is kept");
    assert!(
        kept["annotations"]
            .get("org.opencontainers.image.ref.name")
            .is_none()
    );
    // The index is whole: gc keeps it and both manifests, and unpack works.
    run_ok(rh(["gc", "--layout"]).arg(&pulled));
    assert_blobs_whole(&pulled);
    for tag in ["amd", "arm"] {
        assert!(
            pulled
                .join("blobs/sha256")
                .join(tag_digest(&layout, tag).trim_start_matches("sha256:"))
                .exists()
        );
    }
    run_ok(rh(["unpack", "--image", &target]).arg(dir.path().join("bundle")));

    // This machine's platform by default (the tests run on linux/amd64 or arm64).
    let host = dir.path().join("host");
    ok(
        &[
            "pull",
            &registry.reference("r/multi:1"),
            "--image",
            &host.display().to_string(),
        ],
        &flags,
    );
    let want = if cfg!(target_arch = "aarch64") {
        "arm"
    } else {
        "amd"
    };
    assert_eq!(tag_digest(&host, "1"), tag_digest(&layout, want));
    let line = super::images::fails(
        &[
            "pull",
            &registry.reference("r/multi:1"),
            "--image",
            &host.display().to_string(),
            "--platform",
            "linux/s390x",
        ],
        &flags,
    );
    assert!(
        line.contains("no image for linux/s390x") && line.contains("linux/amd64, linux/arm64"),
        "{line}"
    );
}
