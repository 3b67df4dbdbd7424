//! A guest component: see `repack_hostile::LEAK_FILES`.

#[cfg(target_arch = "wasm32")]
repack_hostile::component!(LEAK_FILES);
