//! One repository on one registry: the scheme found by a ping, authentication
//! (anonymous, Basic, Bearer tokens) and every request retried with backoff on 429,
//! 5xx and dropped connections.

use std::sync::Mutex;
use std::thread::sleep;
use std::time::Duration;

use ureq::Agent;
use ureq::http::{self, Response};

use super::auth::{Challenge, Credentials};
use super::error::advice;
use super::{Options, RegistryError, RemoteRef};

/// The most bytes a manifest, index, config or token answer may have.
pub const MAX_DOCUMENT: u64 = 8 << 20;

/// The first delay between tries; each later one doubles, up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(200);
/// The longest delay between tries (also the most a `Retry-After` is waited).
const MAX_DELAY: Duration = Duration::from_secs(10);

/// What a client may do in its repository (the token scope it asks for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read.
    Pull,
    /// Read and write.
    Push,
}

impl Access {
    fn actions(self) -> &'static str {
        match self {
            Access::Pull => "pull",
            Access::Push => "pull,push",
        }
    }

    /// The word for messages.
    pub fn verb(self) -> &'static str {
        match self {
            Access::Pull => "pull from",
            Access::Push => "push to",
        }
    }
}

/// How requests are authenticated.
#[derive(Debug, Clone)]
enum Auth {
    /// Nothing sent.
    Anonymous,
    /// Basic credentials on every request.
    Basic,
    /// A token from the realm, for the scopes asked.
    Bearer {
        realm: String,
        service: Option<String>,
        token: Option<String>,
    },
}

/// A request, described so it can be sent again.
#[derive(Debug)]
pub struct Call<'a> {
    /// `GET`, `HEAD`, `PUT`, `POST`, `PATCH`.
    pub method: &'static str,
    /// A path below the registry (`/v2/…`) or an absolute URL (an upload location).
    pub url: String,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body, if any.
    pub body: Option<&'a [u8]>,
    /// What is asked, for messages (`GET manifest latest`).
    pub what: String,
}

impl<'a> Call<'a> {
    /// A request without a body.
    pub fn new(method: &'static str, url: impl Into<String>, what: impl Into<String>) -> Self {
        Call {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            what: what.into(),
        }
    }

    /// Add a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Send `body`.
    pub fn body(mut self, body: &'a [u8]) -> Self {
        self.body = Some(body);
        self
    }
}

/// A connected client for one repository.
#[derive(Debug)]
pub struct Client {
    agent: Agent,
    /// `https://HOST[:PORT]` or `http://…`.
    base: String,
    /// `HOST[:PORT]`.
    registry: String,
    repository: String,
    access: Access,
    creds: Option<Credentials>,
    auth: Mutex<Auth>,
    /// Other repositories the token must cover (mount sources).
    extra_scopes: Mutex<Vec<String>>,
    retries: u32,
}

impl Client {
    /// Connect to the registry `reference` names: find its scheme (https; with
    /// `--tls-verify=false` also plain http), and learn how it wants to be
    /// authenticated.
    pub fn connect(
        reference: &RemoteRef,
        access: Access,
        options: &Options,
    ) -> Result<Self, RegistryError> {
        let tls = super::tls::config(
            &reference.registry,
            options.cert_dir.as_deref(),
            options.tls_verify,
        )?;
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(300)))
            .timeout_per_read(Some(Duration::from_secs(120)))
            .user_agent(concat!("repack-host/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let creds = match &options.creds {
            Some(c) => Some(c.clone()),
            None => super::auth::lookup(
                &super::auth::auth_files(options.auth_file.as_deref()),
                &reference.registry,
                &reference.repository,
            )?,
        };
        let mut client = Client {
            agent,
            base: String::new(),
            registry: reference.registry.clone(),
            repository: reference.repository.clone(),
            access,
            creds,
            auth: Mutex::new(Auth::Anonymous),
            extra_scopes: Mutex::new(Vec::new()),
            retries: options.retries,
        };
        let schemes: &[&str] = if options.tls_verify {
            &["https"]
        } else {
            &["https", "http"]
        };
        let mut last = None;
        for (i, scheme) in schemes.iter().enumerate() {
            client.base = format!("{scheme}://{}", reference.registry);
            let more = i + 1 < schemes.len();
            match client.ping(!more) {
                Ok(()) => return Ok(client),
                // TLS refused by a plain-HTTP registry: try http.
                Err(e @ RegistryError::Connection { .. }) if more => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("at least one scheme was tried"))
    }

    /// `HOST[:PORT]`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// How many times a failed request is tried again.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// `GET /v2/`: the scheme works; a 401 tells how to authenticate.
    fn ping(&self, retry: bool) -> Result<(), RegistryError> {
        let call = Call::new("GET", "/v2/", "GET /v2/");
        let response = if retry {
            self.send_raw(&call)?
        } else {
            self.once(&call)
                .map_err(|e| self.connection_error(&call, &e, 1))?
        };
        match response.status().as_u16() {
            200..=299 => Ok(()),
            401 => {
                let challenge = challenge(&response);
                if self.authenticate(challenge.as_ref(), &call)? {
                    Ok(())
                } else {
                    Err(self.status_error(&call, 401))
                }
            }
            status => Err(self.status_error(&call, status)),
        }
    }

    /// Also ask for pull access to `repository` (a mount's source) from now on; with
    /// tokens, a new one is fetched at once.
    pub fn add_scope(&self, repository: &str) -> Result<(), RegistryError> {
        let scope = format!("repository:{repository}:pull");
        {
            let mut extra = self.extra_scopes.lock().expect("scopes lock");
            if extra.contains(&scope) {
                return Ok(());
            }
            extra.push(scope);
        }
        let bearer = match &*self.auth.lock().expect("auth lock") {
            Auth::Bearer { realm, service, .. } => Some(Challenge::Bearer {
                realm: realm.clone(),
                service: service.clone(),
                scope: None,
            }),
            _ => None,
        };
        if let Some(challenge) = bearer {
            let call = Call::new("GET", "/v2/", format!("token for {repository}"));
            self.authenticate(Some(&challenge), &call)?;
        }
        Ok(())
    }

    /// Send `call`, following authentication challenges and retrying 429, 5xx and
    /// dropped connections. Any other status is the caller's to judge.
    pub fn send(&self, call: &Call) -> Result<Response<ureq::Body>, RegistryError> {
        let response = self.send_raw(call)?;
        if response.status().as_u16() == 401 {
            let challenge = challenge(&response);
            if self.authenticate(challenge.as_ref(), call)? {
                let again = self.send_raw(call)?;
                if again.status().as_u16() != 401 {
                    return Ok(again);
                }
            }
            return Err(self.status_error(call, 401));
        }
        Ok(response)
    }

    /// [`Client::send`] without the authentication step.
    fn send_raw(&self, call: &Call) -> Result<Response<ureq::Body>, RegistryError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let last = tries > self.retries;
            match self.once(call) {
                Ok(response) => {
                    let status = response.status().as_u16();
                    if !(status == 429 || (500..=599).contains(&status)) || last {
                        return Ok(response);
                    }
                    let wait = retry_after(&response).unwrap_or_else(|| delay(tries));
                    tracing::info!(
                        "{}: {}: HTTP {status}, trying again in {wait:?}",
                        self.registry,
                        call.what
                    );
                    sleep(wait);
                }
                Err(e) if transient(&e) && !last => {
                    let wait = delay(tries);
                    tracing::info!(
                        "{}: {}: {e}, trying again in {wait:?}",
                        self.registry,
                        call.what
                    );
                    sleep(wait);
                }
                Err(e) => return Err(self.connection_error(call, &e, tries)),
            }
        }
    }

    /// One try.
    fn once(&self, call: &Call) -> Result<Response<ureq::Body>, ureq::Error> {
        let url = self.url(&call.url);
        let mut request = http::Request::builder().method(call.method).uri(&url);
        for (name, value) in &call.headers {
            request = request.header(*name, value);
        }
        if url.starts_with(&self.base)
            && let Some(value) = self.authorization()
        {
            request = request.header("Authorization", value);
        }
        match call.body {
            Some(body) => self.agent.run(request.body(body)?),
            None if matches!(call.method, "PUT" | "POST" | "PATCH") => {
                self.agent.run(request.body(&[][..])?)
            }
            None => self.agent.run(request.body(())?),
        }
    }

    /// An absolute URL for a path or location.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// The `Authorization` value to send, if any.
    fn authorization(&self) -> Option<String> {
        match &*self.auth.lock().expect("auth lock") {
            Auth::Anonymous => None,
            Auth::Basic => self.creds.as_ref().map(Credentials::basic),
            Auth::Bearer { token, .. } => token.as_ref().map(|t| format!("Bearer {t}")),
        }
    }

    /// Act on a challenge; true when the request is worth sending again.
    fn authenticate(
        &self,
        challenge: Option<&Challenge>,
        call: &Call,
    ) -> Result<bool, RegistryError> {
        match challenge {
            Some(Challenge::Basic) => {
                let mut auth = self.auth.lock().expect("auth lock");
                if self.creds.is_none() || matches!(*auth, Auth::Basic) {
                    return Ok(false);
                }
                *auth = Auth::Basic;
                Ok(true)
            }
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let mut scopes = vec![format!(
                    "repository:{}:{}",
                    self.repository,
                    self.access.actions()
                )];
                scopes.extend(
                    self.extra_scopes
                        .lock()
                        .expect("scopes lock")
                        .iter()
                        .cloned(),
                );
                if let Some(s) = scope
                    && !scopes.contains(s)
                {
                    scopes.push(s.clone());
                }
                let token = self.fetch_token(realm, service.as_deref(), &scopes, call)?;
                let mut auth = self.auth.lock().expect("auth lock");
                if let Auth::Bearer {
                    token: Some(old), ..
                } = &*auth
                    && *old == token
                {
                    return Ok(false);
                }
                *auth = Auth::Bearer {
                    realm: realm.clone(),
                    service: service.clone(),
                    token: Some(token),
                };
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// A token from `realm` for `scopes`, with the credentials if we have them.
    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        call: &Call,
    ) -> Result<String, RegistryError> {
        let mut query = Vec::new();
        if let Some(s) = service {
            query.push(format!("service={}", encode(s)));
        }
        for scope in scopes {
            query.push(format!("scope={}", encode(scope)));
        }
        let sep = if realm.contains('?') { '&' } else { '?' };
        let url = format!("{realm}{sep}{}", query.join("&"));
        let mut token_call = Call::new("GET", url, format!("{} (token from {realm})", call.what));
        if let Some(creds) = &self.creds {
            token_call = token_call.header("Authorization", creds.basic());
        }
        let response = self.send_raw(&token_call)?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(self.status_error(&token_call, status));
        }
        let body = read_document(response, &token_call, self)?;
        let doc: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| self.protocol(format!("the token service {realm} sent no JSON: {e}")))?;
        doc.get("token")
            .or_else(|| doc.get("access_token"))
            .and_then(serde_json::Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| self.protocol(format!("the token service {realm} sent no token")))
    }

    /// The error for an unexpected `status`.
    pub fn status_error(&self, call: &Call, status: u16) -> RegistryError {
        let tries = if status == 429 || (500..=599).contains(&status) {
            self.retries + 1
        } else {
            1
        };
        RegistryError::Status {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            request: call.what.clone(),
            status,
            advice: advice(status, self.access.verb(), tries),
        }
    }

    /// The error for a transport failure after `tries` tries.
    fn connection_error(&self, call: &Call, error: &ureq::Error, tries: u32) -> RegistryError {
        let text = error.to_string();
        let hint = match error {
            _ if text.contains("CaUsedAsEndEntity") => {
                "; the registry's certificate is a CA certificate, which is refused as a server certificate: sign a server certificate with that CA, or pass --tls-verify=false"
            }
            _ if tls_error(error) => TLS_HINT,
            ureq::Error::HostNotFound => "; check the host name",
            _ => "; check that the registry is running and reachable",
        };
        RegistryError::Connection {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            request: call.what.clone(),
            why: format!(
                "{error} (tried {tries} time{}){hint}",
                if tries == 1 { "" } else { "s" }
            ),
        }
    }

    /// A protocol error.
    pub fn protocol(&self, why: String) -> RegistryError {
        RegistryError::Protocol {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            why,
        }
    }
}

/// The body of a small document (at most [`MAX_DOCUMENT`] bytes).
pub fn read_document(
    response: Response<ureq::Body>,
    call: &Call,
    client: &Client,
) -> Result<Vec<u8>, RegistryError> {
    let mut body = response.into_body();
    body.with_config()
        .limit(MAX_DOCUMENT)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => client.protocol(format!(
                "{}: the answer is larger than {MAX_DOCUMENT} bytes",
                call.what
            )),
            e => client.connection_error(call, &e, 1),
        })
}

/// The challenge of a 401.
fn challenge(response: &Response<ureq::Body>) -> Option<Challenge> {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(Challenge::parse)
}

/// What to do about a TLS failure.
const TLS_HINT: &str = "; for a registry with its own CA pass --cert-dir DIR (DIR/*.crt), for a plain-HTTP one --tls-verify=false";

/// Whether a transport error is a TLS failure (a certificate refused, a handshake a
/// plain-HTTP server cannot answer): trying again does not help.
fn tls_error(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Rustls(_) | ureq::Error::Tls(_) => true,
        ureq::Error::Io(io) => io.kind() == std::io::ErrorKind::InvalidData,
        _ => false,
    }
}

/// Whether a transport error may pass if tried again.
fn transient(e: &ureq::Error) -> bool {
    !tls_error(e)
        && matches!(
            e,
            ureq::Error::Io(_)
                | ureq::Error::ConnectionFailed
                | ureq::Error::Timeout(_)
                | ureq::Error::Protocol(_)
        )
}

/// The delay before try `tries + 1`.
pub fn delay(tries: u32) -> Duration {
    FIRST_DELAY
        .saturating_mul(1 << tries.saturating_sub(1).min(16))
        .min(MAX_DELAY)
}

/// A `Retry-After` in seconds, capped.
fn retry_after(response: &Response<ureq::Body>) -> Option<Duration> {
    let secs: u64 = response
        .headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(MAX_DELAY))
}

/// Percent-encode a query value.
pub fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
