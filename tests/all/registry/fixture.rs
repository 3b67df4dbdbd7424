//! Real registries for the tests: Debian's `docker-registry` (CNCF distribution) on
//! 127.0.0.1, plain HTTP or TLS with a self-signed certificate, anonymous, htpasswd
//! (bcrypt, from `htpasswd -B`) or token authentication (a token service in the test
//! that signs RS256 JWTs with `openssl`). Each registry lives as long as its value.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use tempfile::TempDir;

use crate::support::have;

/// The user and password of authenticated registries.
pub const USER: &str = "builder";
/// Its password.
pub const PASS: &str = "s3cret:with:colons";

/// How a registry authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone may pull and push.
    Anonymous,
    /// Basic authentication against an htpasswd file.
    Htpasswd,
    /// Bearer tokens from a token service.
    Token,
}

/// A running registry.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// Scratch space (storage, config, certificates).
    pub dir: TempDir,
    /// A `--cert-dir` holding the registry's CA, for TLS registries.
    pub cert_dir: Option<PathBuf>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether every tool the registry tests need is installed (skips the test
/// otherwise; under CI=true a missing one fails it).
pub fn available() -> bool {
    have("docker-registry") && have("openssl") && have("htpasswd")
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding a free port")
        .port()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("spawning a tool");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed certificate for 127.0.0.1 and localhost: (certificate, key). Go
/// accepts it as a token signer.
fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-newkey", "rsa:2048"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    (cert, key)
}

/// A CA and a server certificate for 127.0.0.1 and localhost signed by it: (CA
/// certificate, server certificate, server key).
fn ca_and_server(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca = dir.join("ca.crt");
    let ca_key = dir.join("ca.key");
    let cert = dir.join("server.crt");
    let key = dir.join("server.key");
    let csr = dir.join("server.csr");
    let ext = dir.join("server.ext");
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=repack test CA",
        ])
        .args(ec)
        .arg("-keyout")
        .arg(&ca_key)
        .arg("-out")
        .arg(&ca));
    run(Command::new("openssl")
        .args(["req", "-new", "-nodes", "-subj", "/CN=127.0.0.1"])
        .args(ec)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr));
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-set_serial", "2", "-in"])
        .arg(&csr)
        .arg("-CA")
        .arg(&ca)
        .arg("-CAkey")
        .arg(&ca_key)
        .arg("-extfile")
        .arg(&ext)
        .arg("-out")
        .arg(&cert));
    (ca, cert, key)
}

impl Registry {
    /// Start a registry.
    pub fn start(tls: bool, auth: Auth) -> Registry {
        let dir = tempfile::tempdir().expect("a temp dir");
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n  secret: repack-test\n",
            dir.path().join("storage").display()
        );
        let mut cert_dir = None;
        if tls {
            let (ca, cert, key) = ca_and_server(dir.path());
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
            let certs = dir.path().join("certs.d");
            std::fs::create_dir(&certs).unwrap();
            std::fs::copy(&ca, certs.join("ca.crt")).unwrap();
            cert_dir = Some(certs);
        }
        match auth {
            Auth::Anonymous => {}
            Auth::Htpasswd => {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", USER, PASS])
                    .output()
                    .expect("htpasswd");
                assert!(out.status.success());
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, out.stdout).unwrap();
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: repack-test\n    path: {}\n",
                    file.display()
                ));
            }
            Auth::Token => {
                let (cert, key) = self_signed(dir.path(), "token");
                let realm = TokenService::start(&cert, &key);
                config.push_str(&format!(
                    "auth:\n  token:\n    realm: {realm}\n    service: repack-test\n    issuer: repack-test-issuer\n    rootcertbundle: {}\n",
                    cert.display()
                ));
            }
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting docker-registry");
        let registry = Registry {
            child,
            host,
            dir,
            cert_dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&registry.host).is_err() {
            assert!(
                Instant::now() < deadline,
                "the registry did not start: {}",
                std::fs::read_to_string(registry.dir.path().join("registry.log"))
                    .unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    /// `docker://HOST/REPO:TAG`.
    pub fn reference(&self, repo_and_tag: &str) -> String {
        format!("docker://{}/{repo_and_tag}", self.host)
    }

    /// The flags that reach this registry (`--tls-verify=false` for plain HTTP,
    /// `--cert-dir` for TLS).
    pub fn flags(&self) -> Vec<String> {
        match &self.cert_dir {
            Some(dir) => vec!["--cert-dir".into(), dir.display().to_string()],
            None => vec!["--tls-verify=false".into()],
        }
    }

    /// The same flags, spelled for skopeo (`--src-…` or `--dest-…`).
    pub fn skopeo_flags(&self, side: &str) -> Vec<String> {
        match &self.cert_dir {
            Some(dir) => vec![format!("--{side}cert-dir={}", dir.display())],
            None => vec![format!("--{side}tls-verify=false")],
        }
    }
}

/// A token service for the registry's `auth.token`: it grants every scope asked for
/// to [`USER`] with [`PASS`], and nothing to anyone else.
struct TokenService;

impl TokenService {
    /// Serve tokens signed with `key` (whose certificate is `cert`); returns the realm.
    fn start(cert: &Path, key: &Path) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(cert)
            .output()
            .expect("openssl x509");
        let x5c = STANDARD.encode(der.stdout);
        let key = key.to_owned();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = serve_token(stream, &x5c, &key);
            }
        });
        realm
    }
}

fn serve_token(mut stream: TcpStream, x5c: &str, key: &Path) -> std::io::Result<()> {
    let head = read_head(&mut BufReader::new(stream.try_clone()?))?;
    let path = head.first().and_then(|l| l.split(' ').nth(1)).unwrap_or("");
    let authorized = head.iter().any(|h| {
        h.to_ascii_lowercase().starts_with("authorization: basic ")
            && STANDARD
                .decode(h[21..].trim())
                .is_ok_and(|d| d == format!("{USER}:{PASS}").as_bytes())
    });
    if !authorized {
        let body = r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#;
        write!(
            stream,
            "HTTP/1.1 401 Unauthorized\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        return Ok(());
    }
    let query = path.split_once('?').map_or("", |(_, q)| q);
    let access: Vec<serde_json::Value> = query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("scope="))
        .map(percent_decode)
        .filter_map(|scope| {
            let mut parts = scope.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            Some(serde_json::json!({
                "type": kind, "name": name,
                "actions": actions.split(',').collect::<Vec<_>>(),
            }))
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": "repack-test-issuer", "sub": USER, "aud": "repack-test",
        "exp": now + 600, "nbf": now - 60, "iat": now - 60,
        "jti": format!("{now}-{}", access.len()), "access": access,
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut sign = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    sign.stdin.take().unwrap().write_all(input.as_bytes())?;
    let signature = sign.wait_with_output()?.stdout;
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature));
    let body = serde_json::json!({"token": token, "expires_in": 600}).to_string();
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The request line and headers of an HTTP request (empty at EOF).
pub fn read_head(reader: &mut impl BufRead) -> std::io::Result<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(lines);
        }
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            return Ok(lines);
        }
        lines.push(line);
    }
}

/// Read `n` bytes of body.
pub fn read_body(reader: &mut impl Read, n: u64) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    reader.take(n).read_to_end(&mut body)?;
    Ok(body)
}
