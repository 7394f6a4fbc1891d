//! TLS server configurations (rustls on ring, TLS 1.2 and 1.3) for N5g-eir (ALPN h2 and
//! http/1.1) and Diameter (RFC 6733 §13, no ALPN), from PEM files, with optional client
//! certificates (mutual TLS); read again when a file changes ([`Tls`]), so that
//! certificates are renewed without a restart.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use crate::config::TlsFiles;

/// ALPN for N5g-eir: HTTP/2 first (TS 29.500 §5.2.2 makes it the SBI's protocol), then
/// HTTP/1.1 for tools.
pub const ALPN_HTTP: &[&[u8]] = &[b"h2", b"http/1.1"];

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads the certificates of a PEM file.
///
/// # Errors
///
/// The file cannot be read or holds no certificate.
pub fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("could not read the {what} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "the {what} {} holds no certificate: give a PEM file with -----BEGIN CERTIFICATE-----",
            path.display()
        ));
    }
    Ok(certs)
}

/// A server configuration from `files`, offering `alpn`.
///
/// # Errors
///
/// A file cannot be read, holds no certificate or key, the key does not match the
/// certificate, or the client CA file holds no usable CA; each error names the file.
pub fn server_config(files: &TlsFiles, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>, String> {
    let chain = read_certs(&files.cert, "TLS certificate (--tls-cert)")?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        format!(
            "could not read a private key from {} (--tls-key; PEM, PKCS#8, SEC1 or PKCS#1): {e}",
            files.key.display()
        )
    })?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certs(ca, "client CA file (--client-ca)")? {
                roots.add(cert).map_err(|e| {
                    format!(
                        "the client CA file {} holds a certificate that is not a CA: {e}",
                        ca.display()
                    )
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider())
                .build()
                .map_err(|e| format!("the client CA file {}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        format!(
            "the key {} does not go with the certificate {}: {e}",
            files.key.display(),
            files.cert.display()
        )
    })?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// What identifies a file's version: its length and modification time.
type Stamp = Option<(u64, SystemTime)>;

fn stamps(files: &TlsFiles) -> Vec<Stamp> {
    [
        Some(&files.cert),
        Some(&files.key),
        files.client_ca.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|p| {
        let m = std::fs::metadata(p).ok()?;
        Some((m.len(), m.modified().ok()?))
    })
    .collect()
}

/// A server configuration read from its files, and read again when they change: new
/// connections get the new one, those open keep theirs.
#[derive(Debug)]
pub struct Tls {
    files: TlsFiles,
    alpn: Vec<Vec<u8>>,
    config: RwLock<Arc<ServerConfig>>,
    stamps: Mutex<Vec<Stamp>>,
}

impl Tls {
    /// Reads `files` (see [`server_config`]).
    ///
    /// # Errors
    ///
    /// As [`server_config`].
    pub fn load(files: &TlsFiles, alpn: &[&[u8]]) -> Result<Arc<Tls>, String> {
        let stamps = stamps(files);
        Ok(Arc::new(Tls {
            config: RwLock::new(server_config(files, alpn)?),
            files: files.clone(),
            alpn: alpn.iter().map(|p| p.to_vec()).collect(),
            stamps: Mutex::new(stamps),
        }))
    }

    /// The configuration for a new connection.
    pub fn current(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.config.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Reads the files again if one has changed; returns whether the configuration was
    /// replaced.
    ///
    /// # Errors
    ///
    /// A changed file does not read, or the key does not go with the certificate (a
    /// certificate renewed before its key was): the configuration in use stays, and the
    /// next change is tried again.
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let now = stamps(&self.files);
        let mut seen = self.stamps.lock().unwrap_or_else(PoisonError::into_inner);
        if *seen == now {
            return Ok(false);
        }
        *seen = now;
        let alpn: Vec<&[u8]> = self.alpn.iter().map(Vec::as_slice).collect();
        let config = server_config(&self.files, &alpn)?;
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = config;
        Ok(true)
    }
}
