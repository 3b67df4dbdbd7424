//! A bundle's id mapping ranges in the contract's form.

use crate::bindings::IdMapping;
use crate::bundle::meta::IdMap;

/// The contract's form of `maps`.
pub fn wit_mappings(maps: &[IdMap]) -> Vec<IdMapping> {
    maps.iter()
        .map(|m| IdMapping {
            container_id: m.container_id,
            host_id: m.host_id,
            size: m.size,
        })
        .collect()
}
