//! A guest component: see `repack_hostile::STACK_OVERFLOW`.

#[cfg(target_arch = "wasm32")]
repack_hostile::component!(STACK_OVERFLOW);
