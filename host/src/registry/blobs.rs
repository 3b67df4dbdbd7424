//! Blobs on the wire: downloads that resume where a dropped connection left them,
//! existence checks, cross-repository mounts, and uploads (one request for a small
//! blob, chunks for a large one).

use std::io::{self, Read};
use std::sync::Arc;
use std::thread::sleep;

use ureq::BodyReader;

use super::RegistryError;
use super::client::{Call, Client, delay, encode};
use crate::layout::{BlobReader, Descriptor, Digest, Layout};

/// A blob read from the registry. A connection that drops (or ends early) is opened
/// again with a `Range` request from the byte reached, up to the client's retries.
pub struct RemoteBlob {
    client: Arc<Client>,
    digest: Digest,
    size: u64,
    offset: u64,
    body: Option<BodyReader<'static>>,
    failures: u32,
}

impl std::fmt::Debug for RemoteBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteBlob")
            .field("digest", &self.digest)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

impl RemoteBlob {
    /// The blob `desc` names, not requested until the first read.
    pub fn new(client: Arc<Client>, desc: &Descriptor) -> Self {
        RemoteBlob {
            client,
            digest: desc.digest.clone(),
            size: desc.size,
            offset: 0,
            body: None,
            failures: 0,
        }
    }

    fn call(&self) -> Call<'static> {
        let mut call = Call::new(
            "GET",
            format!("/v2/{}/blobs/{}", self.client.repository(), self.digest),
            format!("GET blob {}", self.digest),
        );
        if self.offset > 0 {
            call = call.header("Range", format!("bytes={}-", self.offset));
        }
        call
    }

    fn open(&mut self) -> io::Result<()> {
        let call = self.call();
        let response = self.client.send(&call).map_err(io::Error::other)?;
        let status = response.status().as_u16();
        let mut body = response.into_body().into_reader();
        match status {
            206 => {}
            200 if self.offset > 0 => {
                // No range support: skip what we have.
                io::copy(&mut (&mut body).take(self.offset), &mut io::sink())?;
            }
            200 => {}
            _ => return Err(io::Error::other(self.client.status_error(&call, status))),
        }
        self.body = Some(body);
        Ok(())
    }
}

impl Read for RemoteBlob {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.body.is_none() {
                self.open()?;
            }
            let body = self.body.as_mut().expect("opened above");
            let why = match body.read(buf) {
                Ok(0) if self.offset < self.size => {
                    io::Error::new(io::ErrorKind::UnexpectedEof, "the connection ended early")
                }
                Ok(n) => {
                    self.offset += n as u64;
                    if self.offset > self.size {
                        return Err(io::Error::other(self.client.protocol(format!(
                            "GET blob {}: more than the descriptor's {} bytes",
                            self.digest, self.size
                        ))));
                    }
                    return Ok(n);
                }
                Err(e) => e,
            };
            self.body = None;
            self.failures += 1;
            if self.failures > self.client.retries() {
                return Err(io::Error::other(format!(
                    "registry {}, repository {}: GET blob {}: the connection dropped at byte {} of {}: {why} (tried {} times); run again",
                    self.client.registry(),
                    self.client.repository(),
                    self.digest,
                    self.offset,
                    self.size,
                    self.failures
                )));
            }
            tracing::info!(
                "{}: blob {} dropped at byte {}: {why}; resuming",
                self.client.registry(),
                self.digest,
                self.offset
            );
            sleep(delay(self.failures));
        }
    }
}

/// Whether the repository has the blob (`HEAD`).
pub fn exists(client: &Client, digest: &Digest) -> Result<bool, RegistryError> {
    let call = Call::new(
        "HEAD",
        format!("/v2/{}/blobs/{digest}", client.repository()),
        format!("HEAD blob {digest}"),
    );
    let response = client.send(&call)?;
    match response.status().as_u16() {
        200 => Ok(true),
        404 => Ok(false),
        status => Err(client.status_error(&call, status)),
    }
}

/// What starting an upload gave.
#[derive(Debug)]
pub enum Started {
    /// The blob was mounted from another repository: nothing to send.
    Mounted,
    /// Send the bytes to this location.
    Upload(String),
}

/// Start an upload, asking to mount the blob from `from` (another repository of the
/// same registry) when given.
pub fn start(
    client: &Client,
    digest: &Digest,
    from: Option<&str>,
) -> Result<Started, RegistryError> {
    let mut url = format!("/v2/{}/blobs/uploads/", client.repository());
    let what = match from {
        Some(from) => {
            url.push_str(&format!(
                "?mount={}&from={}",
                encode(&digest.to_string()),
                encode(from)
            ));
            format!("mount blob {digest} from {from}")
        }
        None => format!("start upload of blob {digest}"),
    };
    let call = Call::new("POST", url, what);
    let response = client.send(&call)?;
    match response.status().as_u16() {
        201 if from.is_some() => Ok(Started::Mounted),
        202 => location(client, &call, &response).map(Started::Upload),
        status => Err(client.status_error(&call, status)),
    }
}

/// Send the layout's blob `desc` to the upload `location`: in one `PUT` when it is at
/// most `chunk` bytes, else in `PATCH` chunks of `chunk` bytes and a closing `PUT`.
/// The blob is verified as it is read, so a corrupt blob is never committed.
pub fn upload(
    client: &Client,
    layout: &Layout,
    desc: &Descriptor,
    mut location: String,
    chunk: u64,
) -> Result<(), RegistryError> {
    let mut reader = BlobReader::open(layout, desc)?;
    let chunk = usize::try_from(chunk.max(1)).unwrap_or(usize::MAX);
    let digest = &desc.digest;
    let mut sent: u64 = 0;
    let mut buf = Vec::new();
    loop {
        let at_end = fill(&mut reader, &mut buf, chunk, digest)?;
        if at_end && sent == 0 {
            // Small enough: one request.
            return finish(client, &location, digest, &buf);
        }
        if !buf.is_empty() {
            let end = sent + buf.len() as u64 - 1;
            let call = Call::new(
                "PATCH",
                location.clone(),
                format!("upload bytes {sent}-{end} of blob {digest}"),
            )
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", format!("{sent}-{end}"))
            .body(&buf);
            let response = client.send(&call)?;
            match response.status().as_u16() {
                202 => location = self::location(client, &call, &response)?,
                status => return Err(client.status_error(&call, status)),
            }
            sent = end + 1;
        }
        if at_end {
            return finish(client, &location, digest, &[]);
        }
    }
}

/// Read up to `chunk` bytes into `buf`; true at the (verified) end of the blob.
fn fill(
    reader: &mut BlobReader,
    buf: &mut Vec<u8>,
    chunk: usize,
    digest: &Digest,
) -> Result<bool, RegistryError> {
    buf.clear();
    while buf.len() < chunk {
        let bytes = reader
            .read((chunk - buf.len()).min(1 << 20))
            .map_err(|why| {
                RegistryError::Layout(crate::layout::LayoutError::Verify {
                    digest: digest.to_string(),
                    why,
                })
            })?;
        if bytes.is_empty() {
            return Ok(true);
        }
        buf.extend_from_slice(&bytes);
    }
    Ok(false)
}

/// The closing `PUT ?digest=` of an upload, with the last bytes.
fn finish(
    client: &Client,
    location: &str,
    digest: &Digest,
    body: &[u8],
) -> Result<(), RegistryError> {
    let sep = if location.contains('?') { '&' } else { '?' };
    let call = Call::new(
        "PUT",
        format!("{location}{sep}digest={}", encode(&digest.to_string())),
        format!("finish upload of blob {digest}"),
    )
    .header("Content-Type", "application/octet-stream")
    .body(body);
    let response = client.send(&call)?;
    match response.status().as_u16() {
        201 | 204 => Ok(()),
        status => Err(client.status_error(&call, status)),
    }
}

/// The `Location` of an upload answer.
fn location(
    client: &Client,
    call: &Call,
    response: &ureq::http::Response<ureq::Body>,
) -> Result<String, RegistryError> {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| client.protocol(format!("{}: the answer has no Location", call.what)))
}
