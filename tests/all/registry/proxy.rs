//! A plain-HTTP proxy in front of a registry that records every request (method,
//! path, body bytes) and can answer chosen requests with an error status or cut
//! their answer short. Each request gets its own upstream connection with
//! `Connection: close`, so every request is seen whole.

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use super::fixture::{read_body, read_head};

/// A request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET`, `PUT`, …
    pub method: String,
    /// The path and query.
    pub path: String,
    /// Body bytes sent by the client.
    pub body: u64,
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward it.
    None,
    /// Answer with this status, not forwarding.
    Status(u16),
    /// Forward it, then pass on only this many bytes of the answer and hang up.
    Cut(usize),
}

/// Decides each request's fate from the request and its number (from 0).
pub type Policy = Box<dyn FnMut(&Seen, usize) -> Fault + Send>;

/// A running proxy.
pub struct Proxy {
    /// `127.0.0.1:PORT`.
    pub host: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    policy: Arc<Mutex<Policy>>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("host", &self.host).finish()
    }
}

impl Proxy {
    /// Proxy to `upstream` (`HOST:PORT`, plain HTTP).
    pub fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let policy: Arc<Mutex<Policy>> = Arc::new(Mutex::new(Box::new(|_, _| Fault::None)));
        let (s, p, up) = (Arc::clone(&seen), Arc::clone(&policy), upstream.to_owned());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (s, p, up) = (Arc::clone(&s), Arc::clone(&p), up.clone());
                std::thread::spawn(move || {
                    let _ = handle(stream, &up, &s, &p);
                });
            }
        });
        Proxy { host, seen, policy }
    }

    /// Decide the fate of the requests from now on.
    pub fn set_policy(&self, policy: impl FnMut(&Seen, usize) -> Fault + Send + 'static) {
        *self.policy.lock().unwrap() = Box::new(policy);
    }

    /// Take the requests seen so far.
    pub fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    /// `docker://PROXY/REPO:TAG`.
    pub fn reference(&self, repo_and_tag: &str) -> String {
        format!("docker://{}/{repo_and_tag}", self.host)
    }
}

fn handle(
    client: TcpStream,
    upstream: &str,
    seen: &Mutex<Vec<Seen>>,
    policy: &Mutex<Policy>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    let head = read_head(&mut reader)?;
    let Some((method, path)) = head.first().and_then(|l| {
        let mut words = l.split(' ');
        let method = words.next()?;
        let path = words.next()?;
        (words.next()?.starts_with("HTTP/")).then(|| (method.to_owned(), path.to_owned()))
    }) else {
        // Not HTTP (a TLS hello): hang up.
        return Ok(());
    };
    let length: u64 = head
        .iter()
        .find_map(|h| {
            let (name, value) = h.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let body = read_body(&mut reader, length)?;
    let request = Seen {
        method,
        path,
        body: body.len() as u64,
    };
    let fault = {
        let mut list = seen.lock().unwrap();
        let n = list.len();
        list.push(request.clone());
        (policy.lock().unwrap())(&request, n)
    };
    if let Fault::Status(status) = fault {
        let body = format!(
            r#"{{"errors":[{{"code":"TEST","message":"status {status} from the test proxy"}}]}}"#
        );
        return write!(
            client,
            "HTTP/1.1 {status} Test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }
    let mut up = TcpStream::connect(upstream)?;
    let mut out = Vec::new();
    out.extend_from_slice(head[0].as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in &head[1..] {
        if h.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(&body);
    up.write_all(&out)?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    match fault {
        Fault::Cut(n) => {
            client.write_all(&answer[..n.min(answer.len())])?;
            client.shutdown(std::net::Shutdown::Both)
        }
        _ => client.write_all(&answer),
    }
}
