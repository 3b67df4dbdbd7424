//! Builds the guest component for wasm32-wasip2 and embeds it in the host, and the
//! ISA-L gzip shim where ISA-L is installed.
//!
//! A nested `cargo build` runs with its own target directory inside `OUT_DIR` (the outer
//! cargo holds the lock on the workspace target directory). Host compiler flags and
//! wrappers are not passed on: they are meant for the host target.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

use sha2::{Digest, Sha256};

const TARGET: &str = "wasm32-wasip2";
const GUEST: &str = "repack-guest";

fn main() {
    igzip();
    // Relative relocations packed (DT_RELR): the loader reads some 20 KB of them at
    // start instead of close to 1 MB, and that memory is never resident. A linker or C
    // library without DT_RELR leaves the option aside.
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.parent().unwrap().to_path_buf();
    // Everything the nested build reads: the guest's sources and manifest, the contract,
    // and the workspace's manifest (shared versions, lints, profile), lock file and
    // toolchain.
    for watched in [
        "guest/src",
        "guest/Cargo.toml",
        "wit",
        "Cargo.toml",
        "Cargo.lock",
        "rust-toolchain.toml",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    check_target_installed(&rustc);

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let target_dir = out_dir.join("guest-target");
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&workspace)
        .args(["build", "--release", "--package", GUEST, "--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_BUILD_RUSTC_WRAPPER")
        .env_remove("CARGO_MAKEFLAGS");
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cargo}: {e}"));
    assert!(
        status.success(),
        "building the guest component failed (see above)"
    );

    let wasm = target_dir
        .join(TARGET)
        .join("release")
        .join(format!("{}.wasm", GUEST.replace('-', "_")));
    assert!(wasm.exists(), "guest build produced no {}", wasm.display());
    let embedded = out_dir.join("repack-guest.wasm");
    fs::copy(&wasm, &embedded).expect("copying the guest component");
    println!("cargo:rustc-env=REPACK_GUEST_WASM={}", embedded.display());
    // The compiled-component cache is keyed by this digest; taking it here saves
    // hashing the embedded bytes at every start.
    let bytes = fs::read(&embedded).expect("reading the guest component");
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    println!("cargo:rustc-env=REPACK_GUEST_SHA256={digest}");
}

/// Compile `src/layout/igzip.c` and link ISA-L (`libisal`) when its headers are
/// installed (Debian: `libisal-dev`), and tell the crate so (`cfg(repack_isal)`): gzip
/// layers are then compressed by igzip instead of libdeflate (`layout::pgzip`). A build
/// with `REPACK_NO_ISAL=1` leaves it out.
fn igzip() {
    println!("cargo:rustc-check-cfg=cfg(repack_isal)");
    println!("cargo:rerun-if-env-changed=REPACK_NO_ISAL");
    println!("cargo:rerun-if-changed=src/layout/igzip.c");
    if env::var_os("REPACK_NO_ISAL").is_some_and(|v| !v.is_empty() && v != "0") {
        return;
    }
    let built = cc::Build::new()
        .file("src/layout/igzip.c")
        .warnings(true)
        .extra_warnings(true)
        .cargo_warnings(false)
        .try_compile("repack_igzip");
    match built {
        Ok(()) => {
            println!("cargo:rustc-link-lib=dylib=isal");
            println!("cargo:rustc-cfg=repack_isal");
        }
        Err(_) => println!(
            "cargo:warning=ISA-L's headers were not found (Debian: libisal-dev); gzip layers \
             are compressed with libdeflate, which takes more CPU"
        ),
    }
}

/// Fail with the exact fix when the wasm32-wasip2 standard library is missing.
fn check_target_installed(rustc: &str) {
    let output = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output();
    let libdir = output
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = libdir.as_deref().is_some_and(has_std);
    if !installed {
        panic!(
            "\n\nthe {TARGET} target is not installed for this toolchain; run:\n\n    \
             rustup target add {TARGET}\n\n"
        );
    }
}

fn has_std(libdir: &Path) -> bool {
    fs::read_dir(libdir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
    })
}
