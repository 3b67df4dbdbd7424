//! The guest calls no WASI import on the way to a result: with every WASI import
//! defined as a trap (a host that has no WASI at all), `mtree`, `repack` and
//! `unpack-layer` give the same results as under the empty WASI context.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use repack_host::image::CompressionChoice;
use repack_host::layout::{ImageRef, Layout, empty};
use repack_host::repack::Request as RepackRequest;
use repack_host::sandbox::{Sandbox, Wasi};
use repack_host::unpack::Request as UnpackRequest;
use repack_host::{ComponentSource, Limits, MtreeRequest, Repacker};

use crate::support::cache_dir;

fn repacker(wasi: Wasi) -> Repacker {
    let sandbox = Sandbox::with_wasi(&ComponentSource::Embedded, Some(&cache_dir()), wasi);
    Repacker::with_sandbox(sandbox.unwrap())
}

/// A fixed header, so two manifests of one tree are byte-identical.
fn mtree(repacker: &Repacker, rootfs: &Path) -> String {
    let request = MtreeRequest {
        rootfs: rootfs.to_owned(),
        tree: "/rootfs".into(),
        user: Some("tester".into()),
        machine: Some("machine".into()),
        date: "Mon Jan  1 00:00:00 2024".into(),
    };
    repacker.mtree(&request, &Limits::default()).unwrap()
}

fn unpack(repacker: &Repacker, layout: &Path, tag: &str, bundle: &Path) {
    let request = UnpackRequest {
        image: ImageRef::parse(&format!("{}:{tag}", layout.display())).unwrap(),
        bundle: bundle.to_owned(),
        options: repack_host::unpack::Options {
            uid_maps: Vec::new(),
            gid_maps: Vec::new(),
            rootless: !rustix::process::geteuid().is_root(),
            keep_dirlinks: false,
            max_layer_size: 1 << 30,
            platform: None,
        },
    };
    repacker.unpack(&request, &Limits::default()).unwrap();
}

/// Objects of every kind the three jobs read and write without privileges.
fn fill(rootfs: &Path) {
    fs::create_dir_all(rootfs.join("etc/sub")).unwrap();
    fs::write(rootfs.join("etc/a"), "alpha\n").unwrap();
    fs::hard_link(rootfs.join("etc/a"), rootfs.join("etc/sub/a-link")).unwrap();
    symlink("/etc/a", rootfs.join("abs")).unwrap();
    symlink("a", rootfs.join("etc/rel")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        rootfs.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o640),
        0,
    )
    .unwrap();
    for i in 0..200 {
        fs::write(rootfs.join(format!("etc/sub/f{i}")), i.to_string()).unwrap();
    }
}

/// One round under `wasi`: repack an edit of an empty image, unpack the result, and
/// return the layer's diff_id, the guest's phase total and the new rootfs's manifest.
fn round(wasi: Wasi, work: &Path) -> (String, u128, String) {
    let repacker = repacker(wasi);
    let layout = work.join("layout");
    empty::new_image(
        &Layout::init(&layout).unwrap(),
        "base",
        "2024-01-01T00:00:00Z",
    )
    .unwrap();
    let bundle = work.join("bundle");
    unpack(&repacker, &layout, "base", &bundle);
    fill(&bundle.join("rootfs"));
    let request = RepackRequest {
        bundle: bundle.clone(),
        image: ImageRef::parse(&format!("{}:edited", layout.display())).unwrap(),
        masks: Vec::new(),
        mask_volumes: true,
        refresh_bundle: false,
        compression: CompressionChoice::Auto,
        history: None,
        source_date_epoch: Some("1700000000".into()),
        progress: None,
    };
    let outcome = repacker.repack(&request, &Limits::default()).unwrap();
    let layer = outcome.layer.expect("a layer");
    let guest_time: u128 = outcome
        .stats
        .phases
        .iter()
        .filter(|(name, _)| matches!(name.as_str(), "guest: parse" | "guest: walk" | "guest: tar"))
        .map(|(_, time)| time.as_nanos())
        .sum();
    let check = work.join("check");
    unpack(&repacker, &layout, "edited", &check);
    let manifest = mtree(&repacker, &check.join("rootfs"));
    (layer.diff_id.to_string(), guest_time, manifest)
}

#[test]
fn every_job_succeeds_when_every_wasi_import_traps() {
    let trapped = tempfile::tempdir().unwrap();
    let linked = tempfile::tempdir().unwrap();
    let (diff_id, guest_time, manifest) = round(Wasi::Trap, trapped.path());
    let (want_diff_id, _, want_manifest) = round(Wasi::Empty, linked.path());
    assert_eq!(diff_id, want_diff_id);
    assert_eq!(manifest, want_manifest);
    assert!(
        manifest.contains(" abs size=6 type=link mode=0777 link=/etc/a "),
        "{manifest}"
    );
    assert!(manifest.contains("nlink=2"), "{manifest}");
    // The phase times come from the host's clock, not WASI's.
    assert!(guest_time > 0, "the guest reported no time at all");
}
