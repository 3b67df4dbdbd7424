//! A guest component: see `repack_hostile::FLOOD_HASHERS`.

#[cfg(target_arch = "wasm32")]
repack_hostile::component!(FLOOD_HASHERS);
