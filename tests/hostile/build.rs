//! Builds every hostile component for wasm32-wasip2 in one nested `cargo build
//! --examples`, and tells the native library where they are.
//!
//! The nested build runs this script again for the wasm target, where it does nothing.
//! As in the host's build script, the nested cargo gets its own target directory inside
//! `OUT_DIR` and none of the host's compiler flags or wrappers.

use std::path::PathBuf;
use std::process::Command;
use std::{env, fs};

const TARGET: &str = "wasm32-wasip2";
const PACKAGE: &str = "repack-hostile";

fn main() {
    if env::var("TARGET").is_ok_and(|t| t == TARGET) {
        return;
    }
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.join("../..");
    for watched in ["src", "examples", "Cargo.toml"] {
        println!(
            "cargo:rerun-if-changed={}",
            manifest_dir.join(watched).display()
        );
    }
    for watched in ["wit", "Cargo.lock"] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let target_dir = out_dir.join("hostile-target");
    let status = Command::new(&cargo)
        .current_dir(&workspace)
        .args(["build", "--release", "--package", PACKAGE, "--examples"])
        .args(["--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_BUILD_RUSTC_WRAPPER")
        .env_remove("CARGO_MAKEFLAGS")
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cargo}: {e}"));
    assert!(
        status.success(),
        "building the hostile components failed (see above)"
    );

    let built = target_dir.join(TARGET).join("release").join("examples");
    let dir = out_dir.join("components");
    fs::create_dir_all(&dir).expect("creating the components directory");
    let mut count = 0;
    for entry in fs::read_dir(&built).expect("listing the built examples") {
        let path = entry.expect("listing the built examples").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // The examples directory also holds hash-suffixed copies (`name-HASH.wasm`).
        if path.extension().is_some_and(|e| e == "wasm") && !name.contains('-') {
            fs::copy(&path, dir.join(&name)).expect("copying a hostile component");
            count += 1;
        }
    }
    assert!(count > 0, "no hostile components in {}", built.display());
    println!("cargo:rustc-env=REPACK_HOSTILE_DIR={}", dir.display());
}
