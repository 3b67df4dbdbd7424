//! A guest component: see `repack_hostile::OVERSIZED_CALL`.

#[cfg(target_arch = "wasm32")]
repack_hostile::component!(OVERSIZED_CALL);
