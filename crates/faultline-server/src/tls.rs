//! TLS (rustls) on every listener, with certificate reload: the certificate and key files are
//! read again when they change on disk (checked every [`RELOAD_CHECK`]), so a certificate renewed
//! by cert-manager or certbot is served without a restart. A renewed pair that does not load is
//! logged and the one in use is kept: a half-written file never takes the server down.
//!
//! Handshakes run off the accept loop, each bounded by [`HANDSHAKE_TIMEOUT`], so a client that
//! opens a connection and says nothing holds up no one else.

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// How often the files are checked for a renewed certificate. Renewals come days ahead of
/// expiry; ten seconds is prompt without touching the disk often.
pub const RELOAD_CHECK: Duration = Duration::from_secs(10);

/// Longest a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshaken connections waiting for the server to take them.
const ACCEPTED_QUEUE: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {what}")]
    Pem { path: PathBuf, what: String },
    #[error("the certificate and key do not go together: {0}")]
    Key(String),
}

/// The certificate chain and key files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_path_buf(), source })
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl TlsFiles {
    /// Reads and checks the pair.
    pub fn load(&self) -> Result<Arc<CertifiedKey>, TlsError> {
        let (cert, key) = (read(&self.cert)?, read(&self.key)?);
        certified_key(&cert, &key).map_err(|e| match e {
            PemError::Chain(what) => TlsError::Pem { path: self.cert.clone(), what },
            PemError::Key(what) => TlsError::Pem { path: self.key.clone(), what },
            PemError::Pair(what) => TlsError::Key(what),
        })
    }

    fn stamp(&self) -> Stamp {
        (modified(&self.cert), modified(&self.key))
    }
}

/// What is wrong with a certificate chain and key.
#[derive(Debug)]
pub enum PemError {
    /// The chain file's content.
    Chain(String),
    /// The key file's content.
    Key(String),
    /// The two do not make a usable pair.
    Pair(String),
}

/// A certificate chain and its private key, both PEM, checked to make a pair.
pub fn certified_key(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<CertifiedKey>, PemError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| PemError::Chain(format!("not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(PemError::Chain("holds no certificate (expected -----BEGIN CERTIFICATE-----)".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| PemError::Key(format!("holds no usable private key: {e}")))?;
    let provider = rustls::crypto::ring::default_provider();
    let ck = CertifiedKey::from_der(chain, key, &provider).map_err(|e| PemError::Pair(e.to_string()))?;
    Ok(Arc::new(ck))
}

/// When the certificate and key files were last modified: a change means a renewal to load.
type Stamp = (Option<SystemTime>, Option<SystemTime>);

/// The certificate in use, swapped when the files change.
#[derive(Debug)]
pub struct Reloading {
    files: TlsFiles,
    current: RwLock<(Arc<CertifiedKey>, Stamp)>,
}

impl Reloading {
    pub fn new(files: TlsFiles) -> Result<Arc<Reloading>, TlsError> {
        let stamp = files.stamp();
        let key = files.load()?;
        Ok(Arc::new(Reloading { files, current: RwLock::new((key, stamp)) }))
    }

    /// Loads the files again if they changed since the last load; whether the certificate changed.
    pub fn reload_if_changed(&self) -> bool {
        let stamp = self.files.stamp();
        if self.current.read().unwrap_or_else(|e| e.into_inner()).1 == stamp {
            return false;
        }
        match self.files.load() {
            Ok(key) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = (key, stamp);
                tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
                true
            }
            Err(e) => {
                // Keep serving the old pair; try again when the files change again.
                self.current.write().unwrap_or_else(|e| e.into_inner()).1 = stamp;
                tracing::warn!(error = %e, "TLS certificate changed but does not load; keeping the one in use");
                false
            }
        }
    }

    /// Checks the files every [`RELOAD_CHECK`] until the runtime stops.
    pub fn spawn_watch(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RELOAD_CHECK);
            loop {
                tick.tick().await;
                let m = me.clone();
                let _ = tokio::task::spawn_blocking(move || m.reload_if_changed()).await;
            }
        })
    }

    /// A rustls server configuration over this certificate, offering `alpn`.
    pub fn server_config(self: &Arc<Self>, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(cfg)
    }
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|e| e.into_inner()).0.clone())
    }
}

/// A TLS connection, as both axum and tonic take it.
pub struct TlsConn(tokio_rustls::server::TlsStream<TcpStream>);

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for TlsConn {
    type ConnectInfo = ();
    fn connect_info(&self) {}
}

/// A listener that hands out handshaken TLS connections.
pub struct TlsListener {
    local: std::net::SocketAddr,
    rx: tokio::sync::mpsc::Receiver<(TlsConn, std::net::SocketAddr)>,
}

impl TlsListener {
    /// Accepts on `tcp`, handshaking with `config`.
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, rx) = tokio::sync::mpsc::channel(ACCEPTED_QUEUE);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file handles and the like: wait, as axum's own loop does.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (acceptor, out) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = out.send((TlsConn(tls), peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
                if tx.is_closed() {
                    return;
                }
            }
        });
        Ok(TlsListener { local, rx })
    }

    /// The connections as a stream (what tonic serves).
    pub fn into_stream(self) -> impl futures::Stream<Item = std::io::Result<TlsConn>> {
        futures::stream::unfold(self.rx, |mut rx| async move { rx.recv().await.map(|(c, _)| (Ok(c), rx)) })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsConn;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (TlsConn, std::net::SocketAddr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept loop ended: nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_and_mismatched_files_are_named() {
        let d = tempfile::tempdir().unwrap();
        let cert = d.path().join("cert.pem");
        let key = d.path().join("key.pem");
        let files = TlsFiles { cert: cert.clone(), key: key.clone() };
        let e = files.load().unwrap_err().to_string();
        assert!(e.contains("cert.pem"), "{e}");
        std::fs::write(&cert, "not pem").unwrap();
        std::fs::write(&key, "not pem").unwrap();
        let e = files.load().unwrap_err().to_string();
        assert!(e.contains("cert.pem") && e.contains("no certificate"), "{e}");
    }
}
