//! The behaviours and the world they export.

wit_bindgen::generate!({
    path: "../../wit",
    world: "repacker",
    pub_export_macro: true,
    export_macro_name: "export_repacker",
    default_bindings_module: "repack_hostile",
});

use exports::repack::bundle::layer::{
    Failure, Guest, LayerInfo, MtreeHeader, RepackOptions, RepackSummary, UnpackOptions,
};
use repack::bundle::blobs::{BlobReader, BlobWriter, Hasher, TextWriter};
use repack::bundle::fs::Dir;

/// How long a flood holds its handles before it asks for another: long enough for a
/// sampler polling every millisecond to see each count.
const HOLD: std::time::Duration = std::time::Duration::from_millis(2);

/// Returns the manifest `"benign\n"`: the base other tests extend.
pub const BENIGN: u8 = 0;
/// Spins forever.
pub const ENDLESS_LOOP: u8 = 1;
/// Allocates and touches 1 MiB blocks until it is stopped.
pub const MEMORY_BOMB: u8 = 2;
/// Opens the file `f` of its root again and again, keeping every handle (each flood
/// pauses [`HOLD`] after each new handle).
pub const LEAK_FILES: u8 = 3;
/// Opens and drops the file `f` 20,000 times, then succeeds.
pub const CHURN_FILES: u8 = 4;
/// Creates hashers (each fed a byte) and keeps them all.
pub const FLOOD_HASHERS: u8 = 5;
/// Creates files `w0`, `w1`, ... in its (writable) root and keeps every writer
/// (pausing [`HOLD`] after each).
pub const FLOOD_WRITERS: u8 = 6;
/// Prints 100 KiB of noise with terminal escapes and a forged success line, then
/// panics with "boom after noise".
pub const PANIC_AFTER_NOISE: u8 = 7;
/// Passes one 48 MiB buffer three times in one host call (`set-xattr`).
pub const OVERSIZED_CALL: u8 = 8;
/// Recurses with 64 KiB frames on its shadow stack.
pub const STACK_OVERFLOW: u8 = 9;

/// The component with behaviour `B`.
#[derive(Debug)]
pub struct Hostile<const B: u8>;

/// Export the world with behaviour `$b` (one of the constants).
#[macro_export]
macro_rules! component {
    ($b:ident) => {
        type Component = $crate::Hostile<{ $crate::$b }>;
        $crate::export_repacker!(Component with_types_in $crate);
    };
}

impl<const B: u8> Guest for Hostile<B> {
    fn mtree(root: &Dir, _header: MtreeHeader) -> Result<String, Failure> {
        act(B, root)
    }

    fn mtree_cached(
        root: &Dir,
        _header: MtreeHeader,
        _now: i64,
        _racy_window: u64,
        manifest: &TextWriter,
        _stat_cache: &TextWriter,
    ) -> Result<(), Failure> {
        let text = act(B, root)?;
        manifest.write(&text).map_err(|_| Failure {
            path: String::new(),
            message: "the host refused the manifest".into(),
        })
    }

    fn repack(
        root: &Dir,
        _layer: &BlobWriter,
        _options: RepackOptions,
        _stat_cache: &TextWriter,
    ) -> Result<RepackSummary, Failure> {
        act(B, root)?;
        Err(failure("repack is not implemented here".into()))
    }

    fn whiteout(_layer: &BlobWriter, _paths: Vec<Vec<u8>>) -> Result<u64, Failure> {
        Err(failure("whiteout is not implemented here".into()))
    }

    fn unpack_layer(
        root: &Dir,
        _layer: &BlobReader,
        _info: LayerInfo,
        _options: UnpackOptions,
    ) -> Result<Vec<String>, Failure> {
        act(B, root).map(|_| Vec::new())
    }
}

fn failure(message: String) -> Failure {
    Failure {
        path: String::new(),
        message,
    }
}

fn fs_failure(e: repack::bundle::fs::Error) -> Failure {
    failure(format!("{e:?}"))
}

fn act(behaviour: u8, root: &Dir) -> Result<String, Failure> {
    match behaviour {
        ENDLESS_LOOP => loop {
            std::hint::black_box(());
        },
        MEMORY_BOMB => {
            let mut hoard = Vec::new();
            loop {
                hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
            }
        }
        LEAK_FILES => {
            let mut kept = Vec::new();
            loop {
                kept.push(root.open_read(b"f").map_err(fs_failure)?);
                std::thread::sleep(HOLD);
            }
        }
        CHURN_FILES => {
            for _ in 0..20_000 {
                let file = root.open_read(b"f").map_err(fs_failure)?;
                file.read(1).map_err(fs_failure)?;
            }
            Ok("churned\n".into())
        }
        FLOOD_HASHERS => {
            let mut kept = Vec::new();
            loop {
                let hasher = Hasher::new();
                hasher.update(b"x");
                kept.push(hasher);
                std::thread::sleep(HOLD);
            }
        }
        FLOOD_WRITERS => {
            let mut kept = Vec::new();
            for i in 0.. {
                let name = format!("w{i}");
                kept.push(
                    root.create_file(name.as_bytes(), 0o644)
                        .map_err(fs_failure)?,
                );
                std::thread::sleep(HOLD);
            }
            unreachable!()
        }
        PANIC_AFTER_NOISE => {
            let line = "noise \x1b[2J\x1b[31mred\x1b[0m \u{9b}31m\r".repeat(20);
            let mut printed = 0;
            while printed < 100 << 10 {
                eprintln!("{line}");
                printed += line.len() + 1;
            }
            eprint!("\rrepack-host: mtree finished OK\n\x1b[8m");
            panic!("boom after noise");
        }
        OVERSIZED_CALL => {
            let buf = vec![b'a'; 48 << 20];
            root.set_xattr(&buf, &buf, &buf).map_err(fs_failure)?;
            Ok("sent\n".into())
        }
        STACK_OVERFLOW => Ok(format!("{}\n", deep(std::hint::black_box(0)))),
        _ => Ok("benign\n".into()),
    }
}

/// Recursion with a 64 KiB frame; never returns for any realistic stack.
#[inline(never)]
fn deep(depth: u64) -> u64 {
    let mut frame = [0u8; 64 << 10];
    std::hint::black_box(&mut frame);
    frame[(depth % 1000) as usize] = 1;
    let below = if depth < 1 << 40 { deep(depth + 1) } else { 0 };
    below + u64::from(std::hint::black_box(&frame)[7])
}
