//! repack-host under the conformance kit (`conformance/run.sh`): the kit's three verbs
//! on the `Repacker` library API, one job each.
//!
//! ```text
//! kit_host mtree DIR                         the manifest of DIR on stdout
//! kit_host layer DIR OUT.tar [--manifest M]  DIR's changes against manifest M (none:
//!                                            everything is added) as an uncompressed
//!                                            layer; prints its diff_id
//! kit_host unpack LAYER.tar DIR              apply an uncompressed layer to DIR
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use repack_host::bindings::{LayerInfo, MapOptions, RepackOptions, UnpackOptions};
use repack_host::layout::{BlobReader, Compression, Descriptor, Layout};
use repack_host::stats::Stats;
use repack_host::{ComponentSource, Limits, MtreeRequest, Repacker};

const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kit_host: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn identity() -> MapOptions {
    MapOptions {
        uid_mappings: Vec::new(),
        gid_mappings: Vec::new(),
        rootless: false,
    }
}

fn run(args: Vec<String>) -> Result<()> {
    let repacker = Repacker::new(&ComponentSource::Embedded)?;
    let limits = Limits::default();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["mtree", dir] => {
            print!("{}", repacker.mtree(&MtreeRequest::new(dir), &limits)?);
        }
        ["layer", dir, out, rest @ ..] => {
            let manifest = match rest {
                [] => String::new(),
                ["--manifest", m] => fs::read_to_string(m).with_context(|| m.to_string())?,
                _ => bail!("usage: layer DIR OUT.tar [--manifest M]"),
            };
            let out = PathBuf::from(out);
            // The layer is written into a scratch layout's temp area, then copied out.
            let scratch = tempfile::tempdir()?;
            let layout = Layout::init(scratch.path().join("layout"))?;
            let writer = layout.layer_writer(Compression::None, None)?;
            let options = RepackOptions {
                manifest,
                masks: Vec::new(),
                map_options: identity(),
                clamp_mtime: None,
                refresh: None,
                stat_cache: None,
                prefix: Vec::new(),
                skip_root: false,
                opaque: false,
                opaque_first: Vec::new(),
                now: 0,
                racy_window: 0,
            };
            let mut stats = Stats::default();
            let (_, writer) =
                repacker.repack_layer(Path::new(dir), &options, writer, &limits, &mut stats)?;
            let blob = writer.finish()?;
            fs::copy(&blob.path, &out).with_context(|| out.display().to_string())?;
            println!("{}", blob.diff_id);
        }
        ["unpack", tar, dir] => {
            let scratch = tempfile::tempdir()?;
            let layout = Layout::init(scratch.path().join("layout"))?;
            let bytes = fs::read(tar).with_context(|| tar.to_string())?;
            let (digest, size) = layout.put_blob(&bytes)?;
            let desc = Descriptor::new(LAYER_TAR, digest.clone(), size);
            let info = LayerInfo {
                media_type: LAYER_TAR.into(),
                diff_id: digest.to_string(),
                decompressed: false,
            };
            let reader = BlobReader::open(&layout, &desc)?;
            let options = UnpackOptions {
                map_options: identity(),
                keep_dirlinks: false,
                max_layer_size: 1 << 30,
            };
            repacker.unpack_layers(
                repack_host::capability::CapDir::open_ambient_writable(Path::new(dir))?,
                Path::new(dir),
                vec![(reader, info)],
                &options,
                None,
                &limits,
                &mut repack_host::stats::Stats::default(),
            )?;
        }
        _ => bail!("usage: mtree DIR | layer DIR OUT.tar [--manifest M] | unpack LAYER.tar DIR"),
    }
    Ok(())
}
