//! A guest component: see `repack_hostile::FLOOD_WRITERS`.

#[cfg(target_arch = "wasm32")]
repack_hostile::component!(FLOOD_WRITERS);
