//! `pull`, `push`, and the registry side of `unpack --image docker://…` and
//! `run --push`.

use anyhow::{Context, Result, bail};
use repack_host::layout::{ImageRef, Layout};
use repack_host::registry::push::Pushed;
use repack_host::registry::reference::Target;
use repack_host::registry::{self, Credentials, Options, Platform, RemoteRef};

use crate::cli::registry::{PullArgs, PushArgs, RegistryArgs};

/// The options the flags describe.
pub fn options(args: &RegistryArgs) -> Result<Options> {
    Ok(Options {
        creds: args.creds.as_deref().map(Credentials::parse).transpose()?,
        auth_file: args.authfile.clone(),
        cert_dir: args.cert_dir.clone(),
        tls_verify: args.tls_verify,
        retries: args.retry_times,
        chunk_size: args.chunk_size,
    })
}

/// `--platform`, or this machine's.
pub fn platform(args: &RegistryArgs) -> Result<Platform> {
    Ok(match &args.platform {
        Some(text) => Platform::parse(text)?,
        None => Platform::host(),
    })
}

/// A `LAYOUT[:TAG]` whose tag defaults to the reference's (else `latest`).
pub fn local_image(text: &str, reference: &RemoteRef) -> Result<ImageRef> {
    let image = if text.contains(':') {
        ImageRef::parse(text)?
    } else {
        let tag = reference.tag().unwrap_or("latest");
        ImageRef::parse(&format!("{text}:{tag}"))?
    };
    Ok(image)
}

/// Run `repack-host pull`.
pub fn pull(args: &PullArgs) -> Result<()> {
    let reference = RemoteRef::parse(&args.reference)?;
    let image = local_image(&args.image, &reference)?;
    let pulled = registry::pull::pull(
        &reference,
        &options(&args.registry)?,
        &image.layout,
        &image.tag,
        &platform(&args.registry)?,
    )
    .with_context(|| format!("pull {reference}"))?;
    println!(
        "{} fetched {} blobs ({} bytes of layers), {} layers already present",
        pulled.documents.manifest.digest, pulled.fetched, pulled.bytes, pulled.present
    );
    Ok(())
}

/// Run `repack-host push`.
pub fn push(args: &PushArgs) -> Result<()> {
    let image = ImageRef::parse(&args.image)?;
    let reference = push_target(&args.reference, &image.tag)?;
    push_image(&image, &reference, &args.registry)
}

/// Push `image` to `reference` and print what was sent.
pub fn push_image(image: &ImageRef, reference: &RemoteRef, args: &RegistryArgs) -> Result<()> {
    let layout = Layout::open(&image.layout)?;
    let pushed = registry::push::push(&layout, &image.tag, reference, &options(args)?)
        .with_context(|| format!("push {reference}"))?;
    print_pushed(&pushed, reference);
    Ok(())
}

fn print_pushed(pushed: &Pushed, reference: &RemoteRef) {
    let digest = pushed
        .digest
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    eprintln!(
        "pushed {digest} to {reference}: {} blobs uploaded ({} bytes), {} already there, {} mounted, {} manifests",
        pushed.uploaded, pushed.bytes, pushed.present, pushed.mounted, pushed.manifests
    );
}

/// Whether a `docker://` reference names a tag explicitly (a `:` after the last `/`).
fn has_tag(text: &str) -> bool {
    let path = text.trim_start_matches("docker://");
    let Some((_, repo)) = path.split_once('/') else {
        return false;
    };
    repo.rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'))
}

/// Where a push goes: `text`, whose tag defaults to the local image's `tag`. Checked
/// before a repack spends any time.
pub fn push_target(text: &str, tag: &str) -> Result<RemoteRef> {
    if !RemoteRef::is_remote(text) {
        bail!("{text:?}: expected docker://HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]");
    }
    let reference = RemoteRef::parse(text)?;
    if text.contains('@') || has_tag(text) {
        return Ok(reference);
    }
    Ok(reference.with_target(Target::Tag(tag.to_owned())))
}
