//! Replays the committed seeds and every regression input through the fuzz targets'
//! bodies: `cargo test --manifest-path fuzz/Cargo.toml`.

use std::fs;
use std::path::Path;

use repack_fuzz::targets;

const TARGETS: [(&str, fn(&[u8])); 4] = [
    ("mtree_parse", targets::mtree_parse::run),
    ("unpack_layer", targets::unpack_layer::run),
    ("decompress", targets::decompress::run),
    ("json_loaders", targets::json_loaders::run),
];

fn inputs(dir: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir).join(target);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| (e.path().display().to_string(), fs::read(e.path()).unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn seeds_and_regressions_pass() {
    for (target, run) in TARGETS {
        for dir in ["seeds", "regressions"] {
            for (name, data) in inputs(dir, target) {
                eprintln!("{name}");
                run(&data);
            }
        }
    }
}

#[test]
fn layer_seeds_apply_cleanly() {
    for (name, data) in inputs("seeds", "unpack_layer") {
        let (tree, result) = targets::unpack_layer::apply(&data).unwrap();
        let objects = tree.names.len();
        eprintln!("{name}: {objects} objects, {result:?}");
        assert!(objects > 5, "{name} built almost nothing");
    }
}
