//! Pulling an image into a layout: the documents (an index with every manifest and
//! config it lists, so the index stays whole), then the chosen manifest's layers, each
//! verified as it streams and written atomically, and the tag last.

use std::io::Read;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::blobs::RemoteBlob;
use super::client::{Access, Call, Client, read_document};
use super::platform::Platform;
use super::reference::Target;
use super::{Options, RegistryError, RemoteRef};
use crate::layout::descriptor::{self, Descriptor, REF_NAME};
use crate::layout::gc::{BlobKind, children};
use crate::layout::{BlobReader, Compression, Digest, Layout, LayoutError, parse_object};

/// The annotation on `index.json` entries we pulled: `HOST[:PORT]/REPOSITORY`, so a
/// later push to the same registry can mount their blobs instead of sending them.
pub const SOURCE: &str = "io.repack.source";

/// Docker's manifest list.
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker's image manifest.
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The `Accept` of manifest requests.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json;q=0.5, application/vnd.docker.distribution.manifest.v2+json;q=0.5";

/// The documents of an image, stored in the layout; its layers are not yet.
#[derive(Debug, Clone)]
pub struct Documents {
    /// The descriptor the tag will point at (the manifest; from an index, its entry
    /// with `platform`).
    pub manifest: Descriptor,
    /// The index the manifest was chosen from, kept in the layout.
    pub index: Option<Descriptor>,
    /// The manifest's layers.
    pub layers: Vec<Descriptor>,
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The image's documents.
    pub documents: Documents,
    /// Blobs fetched (documents included).
    pub fetched: usize,
    /// Bytes of layers fetched.
    pub bytes: u64,
    /// Layers the layout already had.
    pub present: usize,
}

/// Pull `reference` into `layout` (created when missing) and tag it `tag`.
pub fn pull(
    reference: &RemoteRef,
    options: &Options,
    layout_path: &std::path::Path,
    tag: &str,
    platform: &Platform,
) -> Result<Pulled, RegistryError> {
    crate::layout::check_tag(tag)?;
    let client = Arc::new(Client::connect(reference, Access::Pull, options)?);
    let created = std::fs::symlink_metadata(layout_path).is_err();
    let layout = open_or_init(layout_path)?;
    let result = pull_into(&layout, &client, reference, tag, platform);
    if result.is_err() && created {
        // A layout this pull created goes with it.
        drop(layout);
        let _ = std::fs::remove_dir_all(layout_path);
    }
    result
}

fn pull_into(
    layout: &Layout,
    client: &Arc<Client>,
    reference: &RemoteRef,
    tag: &str,
    platform: &Platform,
) -> Result<Pulled, RegistryError> {
    let client = Arc::clone(client);
    let (documents, mut fetched) = fetch_documents(&client, layout, reference, platform)?;
    let mut bytes = 0;
    let mut present = 0;
    for layer in &documents.layers {
        if has_blob(layout, layer) {
            present += 1;
            continue;
        }
        let written = land(layout, &client, layer)?;
        layout.commit_layer(&written)?;
        fetched += 1;
        bytes += layer.size;
    }
    tag_pulled(layout, tag, &documents, reference)?;
    Ok(Pulled {
        documents,
        fetched,
        bytes,
        present,
    })
}

/// Open the layout at `path`, or create it when nothing is there.
pub fn open_or_init(path: &std::path::Path) -> Result<Layout, LayoutError> {
    if std::fs::symlink_metadata(path).is_err() {
        return Layout::init(path);
    }
    Layout::open(path)
}

/// Whether the layout already has the blob.
pub fn has_blob(layout: &Layout, desc: &Descriptor) -> bool {
    BlobReader::open(layout, desc).is_ok()
}

/// Point `tag` at the pulled manifest (annotated with where it came from) and keep
/// the index as an untagged entry, under the index lock.
pub fn tag_pulled(
    layout: &Layout,
    tag: &str,
    documents: &Documents,
    reference: &RemoteRef,
) -> Result<(), LayoutError> {
    let source = format!("{}/{}", reference.registry, reference.repository);
    let mut tagged = documents.manifest.clone();
    tagged.set_annotation(REF_NAME, tag);
    tagged.set_annotation(SOURCE, &source);
    let index = documents.index.clone().map(|mut d| {
        d.set_annotation(SOURCE, &source);
        d
    });
    layout.update_index(|manifests| {
        manifests.retain(|d| d.annotation(REF_NAME) != Some(tag));
        if let Some(index) = &index {
            manifests.retain(|d| d.annotation(REF_NAME).is_some() || d.digest != index.digest);
            manifests.push(index.clone());
        }
        manifests.push(tagged);
    })
}

/// Fetch the manifest (and index) and config documents into the layout. Returns them
/// and how many blobs were fetched.
pub fn fetch_documents(
    client: &Client,
    layout: &Layout,
    reference: &RemoteRef,
    platform: &Platform,
) -> Result<(Documents, usize), RegistryError> {
    let expect = match &reference.target {
        Target::Digest(d) => Some(d.clone()),
        Target::Tag(_) => None,
    };
    let top = get_manifest(client, &reference.reference(), expect.as_ref())?;
    let mut fetched = 0;
    let (manifest, index) = match BlobKind::of(&top.desc.media_type) {
        BlobKind::Index => {
            let what = format!("index {}", top.desc.digest);
            let entries = children(BlobKind::Index, &top.json, &what)?;
            let chosen = platform.select(&entries).cloned().ok_or_else(|| {
                let have: Vec<String> = entries
                    .iter()
                    .filter_map(|d| d.json.get("platform"))
                    .map(|p| {
                        let f = |k| p.get(k).and_then(Value::as_str).unwrap_or("?");
                        format!("{}/{}", f("os"), f("architecture"))
                    })
                    .collect();
                client.protocol(format!(
                    "{reference} has no image for {platform} (it has {}); pass --platform",
                    have.join(", ")
                ))
            })?;
            // Every manifest and config the index lists, so the index stays whole.
            let mut chosen_doc = None;
            for entry in &entries {
                let doc = get_manifest(client, &entry.digest.to_string(), Some(&entry.digest))?;
                if doc.desc.media_type != descriptor::MANIFEST {
                    return Err(client.protocol(format!(
                        "index {} lists {} of type {}: only image manifests are pulled",
                        top.desc.digest, entry.digest, doc.desc.media_type
                    )));
                }
                fetched += store(layout, &doc.bytes)?;
                let config = config_of(&doc)?;
                fetched += fetch_document(client, layout, &config)?;
                if entry.digest == chosen.digest {
                    chosen_doc = Some(doc);
                }
            }
            fetched += store(layout, &top.bytes)?;
            (
                (chosen, chosen_doc.expect("the chosen entry is in the list")),
                Some(top.desc),
            )
        }
        BlobKind::Manifest => {
            fetched += store(layout, &top.bytes)?;
            let config = config_of(&top)?;
            fetched += fetch_document(client, layout, &config)?;
            ((top.desc.clone(), top), None)
        }
        BlobKind::Leaf => unreachable!("get_manifest returns manifests and indexes"),
    };
    let (desc, doc) = manifest;
    let layers =
        crate::layout::descriptor::list(&doc.json, "layers", &format!("manifest {}", desc.digest))?;
    Ok((
        Documents {
            manifest: desc,
            index,
            layers,
        },
        fetched,
    ))
}

/// A manifest or index as fetched.
#[derive(Debug)]
struct Document {
    desc: Descriptor,
    bytes: Vec<u8>,
    json: Map<String, Value>,
}

/// `GET /v2/REPO/manifests/REF`, verified against `expect` (or the registry's
/// `Docker-Content-Digest`).
fn get_manifest(
    client: &Client,
    reference: &str,
    expect: Option<&Digest>,
) -> Result<Document, RegistryError> {
    let call = Call::new(
        "GET",
        format!("/v2/{}/manifests/{reference}", client.repository()),
        format!("GET manifest {reference}"),
    )
    .header("Accept", ACCEPT);
    let response = client.send(&call)?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(client.status_error(&call, status));
    }
    let header_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_owned());
    let header_digest = response
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = read_document(response, &call, client)?;
    let digest = Digest::of(&bytes);
    let claimed = expect
        .map(Digest::to_string)
        .or(header_digest.filter(|d| d.starts_with("sha256:")));
    if let Some(claimed) = claimed
        && claimed != digest.to_string()
    {
        return Err(client.protocol(format!(
            "manifest {reference}: the bytes hash to {digest}, not {claimed}"
        )));
    }
    let json = parse_object(&bytes, &format!("manifest {reference}"))?;
    let media_type = json
        .get("mediaType")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or(header_type)
        .unwrap_or_default();
    let media_type = match media_type.as_str() {
        descriptor::MANIFEST | descriptor::INDEX => media_type,
        DOCKER_LIST | DOCKER_MANIFEST => {
            return Err(client.protocol(format!(
                "manifest {reference} is Docker's {media_type}; only OCI images are pulled (convert it with skopeo copy --format oci)"
            )));
        }
        _ if json.contains_key("manifests") => descriptor::INDEX.to_owned(),
        _ if json.contains_key("config") => descriptor::MANIFEST.to_owned(),
        other => {
            return Err(client.protocol(format!(
                "manifest {reference} has the unknown media type {other:?}"
            )));
        }
    };
    Ok(Document {
        desc: Descriptor::new(&media_type, digest, bytes.len() as u64),
        bytes,
        json,
    })
}

/// The config descriptor of a manifest.
fn config_of(doc: &Document) -> Result<Descriptor, LayoutError> {
    let what = format!("manifest {}", doc.desc.digest);
    let config = doc
        .json
        .get("config")
        .ok_or_else(|| LayoutError::Malformed {
            what: what.clone(),
            why: "no config".into(),
        })?;
    Descriptor::from_json(config, &what)
}

/// Store a document; 1 if it was new.
fn store(layout: &Layout, bytes: &[u8]) -> Result<usize, LayoutError> {
    let desc = Descriptor::new("", Digest::of(bytes), bytes.len() as u64);
    if has_blob(layout, &desc) {
        return Ok(0);
    }
    layout.put_blob(bytes)?;
    Ok(1)
}

/// Fetch a small blob (a config) into the layout, verified; 1 if it was new.
fn fetch_document(
    client: &Client,
    layout: &Layout,
    desc: &Descriptor,
) -> Result<usize, RegistryError> {
    if has_blob(layout, desc) {
        return Ok(0);
    }
    if desc.size > super::client::MAX_DOCUMENT {
        return Err(client.protocol(format!(
            "config {} has {} bytes, more than a document may",
            desc.digest, desc.size
        )));
    }
    let call = Call::new(
        "GET",
        format!("/v2/{}/blobs/{}", client.repository(), desc.digest),
        format!("GET blob {}", desc.digest),
    );
    let response = client.send(&call)?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(client.status_error(&call, status));
    }
    let bytes = read_document(response, &call, client)?;
    let digest = Digest::of(&bytes);
    if digest != desc.digest || bytes.len() as u64 != desc.size {
        return Err(client.protocol(format!(
            "blob {}: {} bytes that hash to {digest}",
            desc.digest,
            bytes.len()
        )));
    }
    layout.put_blob(&bytes)?;
    Ok(1)
}

/// Stream the blob `desc` from the registry into a temp file of the layout, verified;
/// the caller commits it.
pub fn land(
    layout: &Layout,
    client: &Arc<Client>,
    desc: &Descriptor,
) -> Result<crate::layout::WrittenBlob, RegistryError> {
    let mut source = super::stream::Landing::new(
        RemoteBlob::new(Arc::clone(client), desc),
        layout.layer_writer(Compression::None, None)?,
        desc,
    );
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match source.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                return Err(match e.downcast::<RegistryError>() {
                    Ok(e) => e,
                    Err(e) => client.protocol(format!("blob {}: {e}", desc.digest)),
                });
            }
        }
    }
    Ok(source.finished().expect("a finished landing has its blob"))
}
