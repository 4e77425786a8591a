//! The connection loop: plain HTTP or TLS (rustls), HTTP/1.1 and HTTP/2, and the limits that
//! keep one client from exhausting the server: a cap on open connections, a deadline for the
//! first byte and for each request head, a cap on the head's size (431 beyond it), an idle
//! timeout, and lingering close (`io.rs`); graceful shutdown lets in-flight requests finish.

mod io;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;

use crate::http::auth::ClientAddr;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tower::ServiceExt;

/// How long a client may take for the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of the connection loop.
#[derive(Clone)]
pub struct ServeOptions {
    /// For the first byte of a connection and for each request head.
    pub header_read_timeout: Duration,
    /// A connection that moves no byte for this long is closed (keep-alive idle included).
    pub idle_timeout: Duration,
    pub shutdown_grace: Duration,
    /// Connections open at once; more are accepted and closed at once.
    pub max_connections: usize,
    /// The largest request head (request line and headers) read; beyond it, 431.
    pub max_head_bytes: usize,
    pub tls: Option<TlsAcceptor>,
}

impl ServeOptions {
    pub fn of(config: &crate::config::Config, tls: Option<TlsAcceptor>) -> ServeOptions {
        ServeOptions {
            header_read_timeout: config.timeouts.header_read(),
            idle_timeout: config.timeouts.idle(),
            shutdown_grace: config.timeouts.shutdown_grace(),
            max_connections: config.limits.max_connections,
            max_head_bytes: config.limits.max_request_head_bytes,
            tls,
        }
    }
}

/// Logs that the connection cap was reached, at most once per ten seconds.
fn log_connection_cap(cap: usize) {
    static LAST: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
    metrics::counter!("berth_connections_refused_total").increment(1);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
        *last = Some(std::time::Instant::now());
        tracing::warn!(
            max_connections = cap,
            "connection cap reached: closing new connections until open ones finish \
             ([limits] max_connections)"
        );
    }
}

/// Serves one connection's stream until it ends or moves no byte for `idle`.
async fn serve_guarded<S, Svc>(
    builder: &auto::Builder<TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
    stream: S,
    service: Svc,
    idle: Duration,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    Svc: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = hyper::Response<axum::body::Body>,
        > + Send
        + 'static,
    Svc::Future: Send + 'static,
    Svc::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let activity = io::Activity::new();
    let stream = io::Guarded::new(stream, activity.clone());
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::select! {
        res = watcher.watch(conn.into_owned()) => res,
        () = idle_for(&activity, idle) => {
            tracing::debug!("idle for {idle:?}: closed");
            Ok(())
        }
    }
}

/// Counts a connection in `berth_connections_open` while it lives.
struct OpenConnection(());

impl OpenConnection {
    fn count() -> OpenConnection {
        metrics::gauge!("berth_connections_open").increment(1.0);
        OpenConnection(())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!("berth_connections_open").decrement(1.0);
    }
}

/// Resolves once the connection has moved no byte for `limit`.
async fn idle_for(activity: &io::Activity, limit: Duration) {
    loop {
        let idle = activity.idle();
        if idle >= limit {
            return;
        }
        tokio::time::sleep(limit - idle).await;
    }
}

/// The TLS certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds no certificate or key.
    #[error("reading {path}: {message}")]
    Pem { path: String, message: String },
    /// rustls refused the certificate and key.
    #[error("TLS configuration: {0}")]
    Config(#[from] tokio_rustls::rustls::Error),
}

/// Builds a TLS acceptor from a PEM certificate chain and a PEM private key.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let pem_error = |path: &Path, e: &dyn std::fmt::Display| TlsError::Pem {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem_error(cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(cert, &e))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error(key, &e))?;
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `app` on `listener` until `shutdown` resolves, then waits up to the grace period for
/// open connections to finish their requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The read buffer bounds the request head: hyper answers 431 once a head outgrows it,
    // so a trickled head costs at most this much memory. (Body frames are at most this large
    // too; `http::body` gathers them into larger chunks for the hashing pipeline.)
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_buf_size(options.max_head_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(options.max_head_bytes as u32)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(options.max_connections));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            log_connection_cap(options.max_connections);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app =
            app.clone()
                .map_request(move |mut request: hyper::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ClientAddr(peer));
                    request
                });
        let service = TowerToHyperService::new(app);
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let (tls, first_byte, idle) = (
            options.tls.clone(),
            options.header_read_timeout,
            options.idle_timeout,
        );
        tokio::spawn(async move {
            let _slot = slot;
            let _open = OpenConnection::count();
            let res = match tls {
                None => {
                    // hyper's version detection waits for bytes without a deadline of its own.
                    let mut byte = [0u8; 1];
                    if !matches!(
                        tokio::time::timeout(first_byte, stream.peek(&mut byte)).await,
                        Ok(Ok(1))
                    ) {
                        return tracing::debug!(%peer, "no request within {first_byte:?}");
                    }
                    serve_guarded(&builder, watcher, stream, service, idle).await
                }
                Some(acceptor) => {
                    let stream =
                        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(e)) => {
                                return tracing::debug!(%peer, "TLS handshake failed: {e}");
                            }
                            Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                        };
                    serve_guarded(&builder, watcher, stream, service, idle).await
                }
            };
            if let Err(e) = res {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: waiting for in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(options.shutdown_grace) => {
            tracing::warn!("grace period over; closing remaining connections");
        }
    }
    Ok(())
}
