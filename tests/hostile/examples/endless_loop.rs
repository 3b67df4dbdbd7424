//! A guest component: see `repack_hostile::ENDLESS_LOOP`.

#[cfg(target_arch = "wasm32")]
repack_hostile::component!(ENDLESS_LOOP);
