//! A guest component: see `repack_hostile::CHURN_FILES`.

#[cfg(target_arch = "wasm32")]
repack_hostile::component!(CHURN_FILES);
