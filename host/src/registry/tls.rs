//! TLS settings: the system's CA bundle plus a certificate directory, as skopeo
//! reads one (`*.crt` are CAs, `NAME.cert` with `NAME.key` a client certificate).
//! Without `--cert-dir`, `/etc/containers/certs.d/HOST[:PORT]` and
//! `/etc/docker/certs.d/HOST[:PORT]` are read when they exist.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

use super::RegistryError;

/// Where Debian (and most distributions) keep the system's CA bundle.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

/// The TLS configuration for `registry`.
pub fn config(
    registry: &str,
    cert_dir: Option<&Path>,
    verify: bool,
) -> Result<TlsConfig, RegistryError> {
    let mut roots: Vec<Certificate<'static>> = Vec::new();
    for bundle in SYSTEM_BUNDLES {
        if let Ok(pem) = std::fs::read(bundle) {
            roots.extend(certificates(&pem, Path::new(bundle))?);
            break;
        }
    }
    let dirs: Vec<PathBuf> = match cert_dir {
        Some(dir) => vec![dir.to_owned()],
        None => ["/etc/containers/certs.d", "/etc/docker/certs.d"]
            .iter()
            .map(|d| Path::new(d).join(registry))
            .filter(|d| d.is_dir())
            .collect(),
    };
    let mut client = None;
    for dir in &dirs {
        let (cas, cert) = read_dir(dir)?;
        roots.extend(cas);
        client = client.or(cert);
    }
    let roots = if roots.is_empty() {
        RootCerts::WebPki
    } else {
        RootCerts::Specific(Arc::new(roots))
    };
    Ok(TlsConfig::builder()
        .root_certs(roots)
        .client_cert(client)
        .disable_verification(!verify)
        .build())
}

/// The CAs and the client certificate of one directory.
fn read_dir(dir: &Path) -> Result<(Vec<Certificate<'static>>, Option<ClientCert>), RegistryError> {
    let err = |path: &Path, why: String| RegistryError::Config {
        path: path.to_owned(),
        why,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| err(dir, e.to_string()))?;
    let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    let mut cas = Vec::new();
    let mut client = None;
    for path in &names {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        match ext {
            "crt" => {
                let pem = std::fs::read(path).map_err(|e| err(path, e.to_string()))?;
                cas.extend(certificates(&pem, path)?);
            }
            "cert" => {
                let key_path = path.with_extension("key");
                let pem = std::fs::read(path).map_err(|e| err(path, e.to_string()))?;
                let chain = certificates(&pem, path)?;
                let key = std::fs::read(&key_path)
                    .map_err(|e| err(&key_path, format!("the key for {}: {e}", path.display())))?;
                let key = PrivateKey::from_pem(&key)
                    .map_err(|e| err(&key_path, format!("not a PEM private key: {e}")))?;
                if client.is_none() {
                    client = Some(ClientCert::new_with_certs(&chain, key));
                }
            }
            "key" if !path.with_extension("cert").exists() => {
                return Err(err(path, "a key without its NAME.cert".into()));
            }
            _ => {}
        }
    }
    Ok((cas, client))
}

/// The certificates of a PEM file (other sections are skipped).
fn certificates(pem: &[u8], path: &Path) -> Result<Vec<Certificate<'static>>, RegistryError> {
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(PemItem::Certificate(c)) => out.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(RegistryError::Config {
                    path: path.to_owned(),
                    why: format!("not a PEM certificate file: {e}"),
                });
            }
        }
    }
    if out.is_empty() {
        return Err(RegistryError::Config {
            path: path.to_owned(),
            why: "holds no PEM certificate".into(),
        });
    }
    Ok(out)
}
