//! A guest component: see `repack_hostile::PANIC_AFTER_NOISE`.

#[cfg(target_arch = "wasm32")]
repack_hostile::component!(PANIC_AFTER_NOISE);
