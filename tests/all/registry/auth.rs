//! Authentication and TLS: Basic (htpasswd) over TLS with a custom CA, credentials
//! from `--creds`, auth.json and ~/.docker/config.json, and Bearer tokens, with
//! cross-repository mounts under a token.

use base64::Engine as _;

use super::fixture::{self, Auth, PASS, Registry, USER};
use super::images::{fails, ok, rh, small_image, tag_digest};
use crate::support::run_ok;

#[test]
fn registry_basic_auth_over_tls() {
    if !fixture::available() {
        return;
    }
    let registry = Registry::start(true, Auth::Htpasswd);
    let dir = tempfile::tempdir().unwrap();
    let layout = small_image(dir.path(), "src", 16);
    let image = format!("{}:base", layout.display());
    let target = registry.reference("team/app:v1");
    let tls = registry.flags();
    let creds = format!("{USER}:{PASS}");

    // No credentials, wrong ones, no CA: one line each, naming the registry, the
    // repository and what to do.
    let line = fails(&["push", "--image", &image, &target], &tls);
    for part in [registry.host.as_str(), "team/app", "401", "--creds"] {
        assert!(line.contains(part), "{line}");
    }
    let line = fails(
        &[
            "push",
            "--image",
            &image,
            &target,
            "--creds",
            "builder:wrong",
        ],
        &tls,
    );
    assert!(
        line.contains("401") && line.contains(&registry.host),
        "{line}"
    );
    let line = fails(
        &["push", "--image", &image, &target, "--creds", &creds],
        &[],
    );
    assert!(
        line.contains("--cert-dir") && line.contains(&registry.host),
        "{line}"
    );

    ok(
        &["push", "--image", &image, &target, "--creds", &creds],
        &tls,
    );

    // Credentials from auth.json under XDG_RUNTIME_DIR, then from ~/.docker/config.json.
    let auth = base64::engine::general_purpose::STANDARD.encode(&creds);
    let entry = format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, registry.host);
    let runtime = dir.path().join("run");
    std::fs::create_dir_all(runtime.join("containers")).unwrap();
    std::fs::write(runtime.join("containers/auth.json"), &entry).unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".docker")).unwrap();
    std::fs::write(
        home.join(".docker/config.json"),
        entry.replace(&registry.host, &format!("https://{}/v1/", registry.host)),
    )
    .unwrap();
    let empty_home = dir.path().join("empty-home");
    std::fs::create_dir_all(&empty_home).unwrap();
    for (runtime_dir, home_dir, name) in [
        (Some(&runtime), &empty_home, "auth-json"),
        (None, &home, "docker-config"),
    ] {
        let pulled = dir.path().join(name);
        let mut cmd = rh(["pull", &target, "--image", &pulled.display().to_string()]);
        cmd.args(&tls)
            .env("HOME", home_dir)
            .env_remove("REGISTRY_AUTH_FILE");
        match runtime_dir {
            Some(r) => cmd.env("XDG_RUNTIME_DIR", r),
            None => cmd.env_remove("XDG_RUNTIME_DIR"),
        };
        run_ok(&mut cmd);
        assert_eq!(tag_digest(&pulled, "v1"), tag_digest(&layout, "base"));
    }
    // A malformed auth file is named.
    std::fs::write(runtime.join("containers/auth.json"), "{").unwrap();
    let mut cmd = rh([
        "pull",
        &target,
        "--image",
        &dir.path().join("x").display().to_string(),
    ]);
    cmd.args(&tls)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env_remove("REGISTRY_AUTH_FILE");
    let failed = crate::support::run_fail(&mut cmd);
    assert!(
        failed.stderr.contains("containers/auth.json"),
        "{}",
        failed.stderr
    );
}

#[test]
fn registry_bearer_tokens_and_mounts() {
    if !fixture::available() {
        return;
    }
    let registry = Registry::start(false, Auth::Token);
    let dir = tempfile::tempdir().unwrap();
    let layout = small_image(dir.path(), "src", 256);
    let image = format!("{}:base", layout.display());
    let mut flags = registry.flags();

    let line = fails(
        &["push", "--image", &image, &registry.reference("base/os:1")],
        &flags,
    );
    assert!(line.contains("401") && line.contains("base/os"), "{line}");

    flags.extend(["--creds".to_owned(), format!("{USER}:{PASS}")]);
    ok(
        &["push", "--image", &image, &registry.reference("base/os:1")],
        &flags,
    );

    // Unpack from the registry, change one file, push to another repository: the base
    // layer is mounted from base/os (the token covers both repositories).
    let local = dir.path().join("local");
    let bundle = dir.path().join("bundle");
    ok(
        &[
            "unpack",
            "--image",
            &registry.reference("base/os:1"),
            "--layout",
            &local.display().to_string(),
            &bundle.display().to_string(),
        ],
        &flags,
    );
    std::fs::write(bundle.join("rootfs/etc/greeting"), "changed\n").unwrap();
    let out = ok(
        &[
            "run",
            "--image",
            &format!("{}:app", local.display()),
            &bundle.display().to_string(),
            "--push",
            &registry.reference("apps/web"),
        ],
        &flags,
    );
    assert!(
        out.contains("2 blobs uploaded") && out.contains("1 mounted"),
        "{out}"
    );
    let pulled = dir.path().join("pulled");
    ok(
        &[
            "pull",
            &registry.reference("apps/web:app"),
            "--image",
            &pulled.display().to_string(),
        ],
        &flags,
    );
    assert_eq!(tag_digest(&pulled, "app"), tag_digest(&local, "app"));
}
