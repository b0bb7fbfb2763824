//! TLS for the ingress and admin listeners (`[server.tls]`, `[admin.tls]`):
//! rustls over ring, TLS 1.2 and 1.3, a PEM certificate chain and key.
//! The pair is read again when its files change (polled every second,
//! like the plugin directory) and on SIGHUP; connections already open keep
//! the certificate they started with, new ones get the new pair. A pair
//! that does not load keeps the old one serving, with the reason logged.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::watch;

/// Where a listener's certificate chain and private key are (PEM).
#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Why a pair did not load; `key` is the config key it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct TlsError {
    pub key: &'static str,
    pub path: PathBuf,
    pub reason: String,
}

/// Reads and checks a pair: a chain with at least one certificate, a key,
/// and the key belonging to the first certificate.
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let err = |key, path: &Path, reason: String| TlsError {
        key,
        path: path.to_path_buf(),
        reason,
    };
    let pem = std::fs::read(&files.cert).map_err(|e| err("cert", &files.cert, e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err("cert", &files.cert, format!("not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(err("cert", &files.cert, "no certificate in it".into()));
    }
    let pem = std::fs::read(&files.key).map_err(|e| err("key", &files.key, e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| err("key", &files.key, format!("no private key in it: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| err("cert", &files.cert, e.to_string()))?
        .with_no_client_auth()
        // rustls checks that the key is the certificate's.
        .with_single_cert(certs, key)
        .map_err(|e| {
            err(
                "key",
                &files.key,
                format!("does not fit the certificate: {e}"),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

type Stamp = Vec<(u64, Option<SystemTime>)>;

fn stamp(files: &TlsFiles) -> Stamp {
    [&files.cert, &files.key]
        .iter()
        .map(|p| {
            let meta = std::fs::metadata(p).ok();
            (
                meta.as_ref().map_or(0, |m| m.len()),
                meta.and_then(|m| m.modified().ok()),
            )
        })
        .collect()
}

/// A listener's current pair, swapped whole on reload.
pub struct Certs {
    files: TlsFiles,
    current: RwLock<(Arc<rustls::ServerConfig>, Stamp)>,
    /// For the log: `server.tls` or `admin.tls`.
    name: &'static str,
}

impl Certs {
    pub fn load(name: &'static str, files: TlsFiles) -> Result<Arc<Self>, TlsError> {
        let stamp = stamp(&files);
        let config = server_config(&files)?;
        Ok(Arc::new(Certs {
            files,
            current: RwLock::new((config, stamp)),
            name,
        }))
    }

    /// A new connection's handshake with the current pair, within
    /// `limit`; `None` (logged at debug) when it fails or times out.
    pub async fn handshake(
        &self,
        stream: tokio::net::TcpStream,
        limit: Duration,
    ) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
        let remote = stream.peer_addr().ok();
        let acceptor = {
            let current = self.current.read().unwrap_or_else(|p| p.into_inner());
            tokio_rustls::TlsAcceptor::from(current.0.clone())
        };
        match tokio::time::timeout(limit, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(e)) => {
                tracing::debug!(listener = self.name, ?remote, "TLS handshake failed: {e}");
                None
            }
            Err(_) => {
                tracing::debug!(listener = self.name, ?remote, "TLS handshake timed out");
                None
            }
        }
    }

    /// Reads the pair again if its files changed (or always, `force`).
    pub fn reload(&self, force: bool) {
        let now = stamp(&self.files);
        let unchanged = self.current.read().unwrap_or_else(|p| p.into_inner()).1 == now;
        if unchanged && !force {
            return;
        }
        match server_config(&self.files) {
            Ok(config) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = (config, now);
                tracing::info!(listener = self.name, cert = %self.files.cert.display(), "TLS certificate reloaded; new connections use it");
            }
            Err(e) => {
                // Not again until the files change once more.
                self.current.write().unwrap_or_else(|p| p.into_inner()).1 = now;
                tracing::error!(
                    listener = self.name,
                    "TLS certificate not reloaded, the previous one keeps serving: {e}"
                );
            }
        }
    }

    /// Polls the files every `every` until shutdown. A pair being written
    /// is read once its files stop changing for one more poll.
    pub async fn watch(self: Arc<Self>, every: Duration, mut stop: watch::Receiver<bool>) {
        let mut seen = stamp(&self.files);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
            let now = stamp(&self.files);
            if now != seen {
                seen = now;
                continue;
            }
            self.reload(false);
        }
    }
}
