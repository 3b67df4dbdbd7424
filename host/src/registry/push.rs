//! Pushing an image from a layout: each blob the registry lacks (checked with `HEAD`)
//! is mounted from another repository of the same registry when a pulled image says
//! it lives there, else uploaded; manifests follow their blobs, and the tagged
//! manifest goes last, so an interrupted push leaves the remote tag as it was and a
//! second run sends only what is still missing.

use std::collections::HashMap;

use super::blobs::{self, Started};
use super::client::{Access, Call, Client};
use super::pull::SOURCE;
use super::reference::Target;
use super::{Options, RegistryError, RemoteRef};
use crate::layout::descriptor::{Descriptor, REF_NAME};
use crate::layout::gc::{BlobKind, children};
use crate::layout::{Digest, Layout, LayoutError, parse_object};

/// What a push did.
#[derive(Debug, Clone, Default)]
pub struct Pushed {
    /// The digest of what the remote reference now names.
    pub digest: Option<Digest>,
    /// Blobs uploaded.
    pub uploaded: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Blobs the repository already had.
    pub present: usize,
    /// Blobs mounted from another repository.
    pub mounted: usize,
    /// Manifests and indexes put.
    pub manifests: usize,
}

/// Push the image `tag` names in `layout` to `reference`.
pub fn push(
    layout: &Layout,
    tag: &str,
    reference: &RemoteRef,
    options: &Options,
) -> Result<Pushed, RegistryError> {
    crate::layout::check_tag(tag)?;
    let mut tagged: Vec<Descriptor> = layout
        .index_entries()?
        .into_iter()
        .filter(|d| d.annotation(REF_NAME) == Some(tag))
        .collect();
    let top = match tagged.len() {
        1 => tagged.remove(0),
        n => {
            return Err(LayoutError::Tag {
                layout: layout.path().display().to_string(),
                tag: tag.to_owned(),
                why: if n == 0 {
                    "is not found"
                } else {
                    "is ambiguous"
                },
            }
            .into());
        }
    };
    if let Target::Digest(d) = &reference.target
        && *d != top.digest
    {
        return Err(RegistryError::Reference(format!(
            "{reference}: the image {tag} is {}, not the digest the reference names",
            top.digest
        )));
    }
    let client = Client::connect(reference, Access::Push, options)?;
    let mut run = Run {
        client: &client,
        layout,
        chunk: options.chunk_size,
        sources: sources(layout, &reference.registry),
        done: Pushed::default(),
    };
    run.node(&top, &reference.reference(), 0)?;
    run.done.digest = Some(top.digest);
    Ok(run.done)
}

/// One push in progress.
struct Run<'a> {
    client: &'a Client,
    layout: &'a Layout,
    chunk: u64,
    /// Blob digest -> a repository of this registry that has it.
    sources: HashMap<Digest, String>,
    done: Pushed,
}

impl Run<'_> {
    /// Push an index or manifest and everything below it, then put it as `name`.
    fn node(&mut self, desc: &Descriptor, name: &str, depth: usize) -> Result<(), RegistryError> {
        if depth > 16 {
            return Err(LayoutError::Verify {
                digest: desc.digest.to_string(),
                why: "image indexes nested too deep".into(),
            }
            .into());
        }
        let bytes = self.layout.read_json_blob(desc)?;
        let what = format!("blob {}", desc.digest);
        let json = parse_object(&bytes, &what)?;
        let kind = BlobKind::of(&desc.media_type);
        for child in children(kind, &json, &what)? {
            match (kind, BlobKind::of(&child.media_type)) {
                (BlobKind::Index, BlobKind::Index | BlobKind::Manifest) => {
                    self.node(&child, &child.digest.to_string(), depth + 1)?;
                }
                // A manifest's subject is another image, not one of its blobs.
                (BlobKind::Manifest, BlobKind::Index | BlobKind::Manifest) => {}
                _ => self.blob(&child)?,
            }
        }
        self.put_manifest(desc, name, &bytes)
    }

    /// Make sure the repository has one blob.
    fn blob(&mut self, desc: &Descriptor) -> Result<(), RegistryError> {
        if blobs::exists(self.client, &desc.digest)? {
            self.done.present += 1;
            return Ok(());
        }
        let from = self
            .sources
            .get(&desc.digest)
            .filter(|repo| repo.as_str() != self.client.repository())
            .cloned();
        if let Some(from) = &from {
            self.client.add_scope(from)?;
        }
        match blobs::start(self.client, &desc.digest, from.as_deref())? {
            Started::Mounted => self.done.mounted += 1,
            Started::Upload(location) => {
                blobs::upload(self.client, self.layout, desc, location, self.chunk)?;
                self.done.uploaded += 1;
                self.done.bytes += desc.size;
            }
        }
        Ok(())
    }

    fn put_manifest(
        &mut self,
        desc: &Descriptor,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), RegistryError> {
        let call = Call::new(
            "PUT",
            format!("/v2/{}/manifests/{name}", self.client.repository()),
            format!("PUT manifest {name}"),
        )
        .header("Content-Type", desc.media_type.clone())
        .body(bytes);
        let response = self.client.send(&call)?;
        let status = response.status().as_u16();
        if !matches!(status, 200 | 201) {
            return Err(self.client.status_error(&call, status));
        }
        if let Some(got) = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            && got != desc.digest.to_string()
        {
            return Err(self.client.protocol(format!(
                "PUT manifest {name}: the registry stored {got}, not {}",
                desc.digest
            )));
        }
        self.done.manifests += 1;
        Ok(())
    }
}

/// Which repository of `registry` has each blob of the images pulled from it: read
/// from the `index.json` entries a pull annotated. What cannot be read is skipped.
fn sources(layout: &Layout, registry: &str) -> HashMap<Digest, String> {
    let mut map = HashMap::new();
    let prefix = format!("{registry}/");
    let Ok(entries) = layout.index_entries() else {
        return map;
    };
    for entry in entries {
        let Some(repo) = entry
            .annotation(SOURCE)
            .and_then(|s| s.strip_prefix(&prefix))
        else {
            continue;
        };
        let repo = repo.to_owned();
        let mut queue = vec![entry.clone()];
        while let Some(desc) = queue.pop() {
            let kind = BlobKind::of(&desc.media_type);
            if kind == BlobKind::Leaf {
                map.entry(desc.digest.clone())
                    .or_insert_with(|| repo.clone());
                continue;
            }
            let Ok(bytes) = layout.read_json_blob(&desc) else {
                continue;
            };
            let Ok(json) = parse_object(&bytes, "blob") else {
                continue;
            };
            if let Ok(list) = children(kind, &json, "blob") {
                queue.extend(list);
            }
        }
    }
    map
}
