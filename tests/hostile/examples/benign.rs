//! A guest component: see `repack_hostile::BENIGN`.

#[cfg(target_arch = "wasm32")]
repack_hostile::component!(BENIGN);
