//! Guest components written to misbehave, for the sandbox tests.
//!
//! Each example target is one component with one behaviour (the constants below): it
//! exports the whole `repacker` world and misbehaves in every export, so any job run
//! with it shows how the host copes. Built for wasm32-wasip2 by `build.rs`; in a native
//! build the library only names the built files ([`component`]).

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod guest;
#[cfg(target_arch = "wasm32")]
pub use guest::*;

/// The built component of the example target `name`.
#[cfg(not(target_arch = "wasm32"))]
pub fn component(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("REPACK_HOSTILE_DIR")).join(format!("{name}.wasm"))
}
