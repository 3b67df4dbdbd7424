//! A guest component: see `repack_hostile::MEMORY_BOMB`.

#[cfg(target_arch = "wasm32")]
repack_hostile::component!(MEMORY_BOMB);
