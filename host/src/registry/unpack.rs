//! `unpack --image docker://…`: the documents are fetched into a layout first, then
//! each layer streams from the registry into the guest while the same bytes land in
//! the layout; the layout's tag is set only when the whole unpack succeeded, so the
//! bundle's base is a local image that `run` can use next.

use std::sync::{Arc, Mutex};

use super::blobs::RemoteBlob;
use super::client::{Access, Client};
use super::pull::{Documents, fetch_documents, has_blob, open_or_init, tag_pulled};
use super::stream::{Landed, Landing};
use super::{Options, Platform, RegistryError, RemoteRef};
use crate::layout::{BlobReader, Compression};
use crate::repacker::Repacker;
use crate::sandbox::Limits;
use crate::unpack::{Image, Outcome, Request};

/// Unpack `reference` into `request.bundle`, keeping the image in the layout
/// `request.image` names, under its tag.
pub fn unpack(
    repacker: &Repacker,
    reference: &RemoteRef,
    options: &Options,
    platform: &Platform,
    request: &Request,
    limits: &Limits,
) -> Result<(Outcome, Documents), RegistryError> {
    crate::layout::check_tag(&request.image.tag)?;
    let client = Arc::new(Client::connect(reference, Access::Pull, options)?);
    let path = &request.image.layout;
    let created = std::fs::symlink_metadata(path).is_err();
    let result = into_layout(repacker, &client, reference, platform, request, limits);
    if result.is_err() && created {
        // A layout this unpack created goes with it.
        let _ = std::fs::remove_dir_all(path);
    }
    result
}

fn into_layout(
    repacker: &Repacker,
    client: &Arc<Client>,
    reference: &RemoteRef,
    platform: &Platform,
    request: &Request,
    limits: &Limits,
) -> Result<(Outcome, Documents), RegistryError> {
    let layout = open_or_init(&request.image.layout)?;
    let (documents, _) = fetch_documents(client, &layout, reference, platform)?;
    let image = Image::from_walk(layout, vec![documents.manifest.clone()])?;
    let landed: Landed = Arc::new(Mutex::new(Vec::new()));
    let open = {
        let client = Arc::clone(client);
        let landed = Arc::clone(&landed);
        move |layout: &crate::layout::Layout, desc: &crate::layout::Descriptor| {
            if has_blob(layout, desc) {
                return BlobReader::open(layout, desc);
            }
            let writer = layout.layer_writer(Compression::None, None)?;
            let landing = Landing::new(RemoteBlob::new(Arc::clone(&client), desc), writer, desc)
                .into(Arc::clone(&landed));
            Ok(BlobReader::from_stream(desc, landing))
        }
    };
    let outcome = repacker.unpack_image(request, &image, &open, limits);
    // Verified layers are kept whether or not the unpack succeeded: a rerun finds them.
    for written in landed.lock().expect("landed lock").drain(..) {
        image.layout.commit_layer(&written)?;
    }
    let outcome = outcome?;
    tag_pulled(&image.layout, &request.image.tag, &documents, reference)?;
    Ok((outcome, documents))
}
