//! `faultline serve`: the receivers (OTLP/gRPC, OTLP/HTTP, change events) and the query API, over
//! one [`faultline_store::Store`].
//!
//! The HTTP side is one axum [`Router`] built by [`app`], so tests drive it with `oneshot` and no
//! socket; the gRPC side is tonic's generated OTLP services.
//!
//! Invariant: handlers never panic on input; every rejection says what was wrong.

pub mod api;
pub mod auth;
pub mod diff;
pub mod error;
pub mod grpc;
pub mod guard;
pub mod ingest;
pub mod investigate;
pub mod jaeger;
pub mod jaeger_v3;
pub mod otlp_http;
pub mod overview;
pub mod peers;
pub mod queries;
pub mod ratelimit;
pub mod resident;
pub mod skew;
pub mod telemetry;
pub mod tenant;
pub mod tls;
pub mod ui;

use axum::response::IntoResponse;
use axum::Router;
use faultline_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;

pub use error::AppError;
pub use ingest::Ingestor;
pub use telemetry::Telemetry;

/// Shared state of all handlers.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub ingest: Arc<Ingestor>,
    pub telemetry: Arc<Telemetry>,
    /// Reads running at once (`queries`).
    pub query_slots: Arc<tokio::sync::Semaphore>,
    pub query_timeout: std::time::Duration,
    pub query_memory: usize,
    /// The tokens every receiver and read asks for; none: open (`auth`).
    pub tokens: auth::Tokens,
    /// The named tenants (`tenant`); `store` and `ingest` above are the default tenant's, or, in a
    /// handler's [`tenant::Scoped`] state, the request's tenant's.
    pub tenants: Arc<tenant::Tenants>,
}

impl AppState {
    pub fn new(store: Store, limits: ServerLimits) -> Self {
        Self::with_tenants(store, limits, tenant::TenantConfig::default())
    }

    /// A state whose named tenants are set up by `tenants`.
    pub fn with_tenants(store: Store, limits: ServerLimits, tenants: tenant::TenantConfig) -> Self {
        let telemetry = Arc::new(Telemetry::default());
        let tenants = Arc::new(tenant::Tenants::new(
            store.config().clone(),
            limits.clone(),
            telemetry.clone(),
            tenants,
        ));
        AppState {
            tenants,
            query_slots: Arc::new(tokio::sync::Semaphore::new(limits.query_slots.max(1))),
            query_timeout: limits.query_timeout,
            query_memory: limits.query_memory,
            ingest: Arc::new(Ingestor::new(store.clone(), limits, telemetry.clone())),
            store,
            telemetry,
            tokens: auth::Tokens::default(),
        }
    }

    /// The same state, asking for `tokens`.
    pub fn with_tokens(mut self, tokens: auth::Tokens) -> Self {
        self.tokens = tokens;
        self
    }
}

/// Limits on what the receivers accept.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Largest request body, after decompression.
    pub max_body_bytes: usize,
    /// Records with more attributes are rejected.
    pub max_attributes: usize,
    /// Reads past this are stopped.
    pub query_timeout: std::time::Duration,
    /// Reads that run at once; more wait (within their time-out).
    pub query_slots: usize,
    /// Bytes of rows one read may hold.
    pub query_memory: usize,
    /// Records per second each tenant may send; `None`: no limit.
    pub ingest_rate: Option<f64>,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_body_bytes: 64 << 20,
            max_attributes: 1024,
            query_timeout: queries::DEFAULT_QUERY_TIMEOUT,
            query_slots: queries::default_query_slots(),
            query_memory: queries::DEFAULT_QUERY_MEMORY,
            ingest_rate: None,
        }
    }
}

/// The HTTP application: OTLP/HTTP, the native API, change events and `/metrics`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(otlp_http::routes())
        .merge(api::routes())
        .merge(jaeger::routes())
        .merge(jaeger_v3::routes())
        .merge(ui::routes())
        .fallback(|uri: axum::http::Uri| async move {
            AppError::not_found(format!("no such route: {} (see docs/api.md)", uri.path()))
        })
        .layer(axum::middleware::from_fn_with_state(state.clone(), queries::bound))
        .layer(axum::middleware::from_fn_with_state(state.clone(), otlp_http::refuse_declared_oversize))
        .layer(axum::middleware::from_fn_with_state(state.tokens.clone(), auth::require))
        .with_state(state)
        // A bug must cost one request a 500, never the connection or the server.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            AppError::new(error::ErrorCode::Internal, "internal error (a bug: please report it)")
                .into_response()
        }))
}

/// The router of a listener on `addr`, with the loopback guard (`guard.rs`).
fn guarded(router: Router, addr: SocketAddr) -> Router {
    router.layer(axum::middleware::from_fn_with_state(addr, guard::loopback))
}

/// Addresses to listen on.
#[derive(Debug, Clone)]
pub struct Listen {
    pub grpc: Option<SocketAddr>,
    pub otlp_http: Option<SocketAddr>,
    pub api: SocketAddr,
    /// TLS on every listener, when set (`tls`).
    pub tls: Option<Arc<tls::Reloading>>,
}

/// ALPN offered by the HTTP listeners (HTTP/2 first, as axum serves both) and the gRPC one.
const HTTP_ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];
const GRPC_ALPN: &[&[u8]] = &[b"h2"];

/// Serves `router` on `tcp` (over TLS when `tls` is set) until `stop` resolves.
async fn serve_http(
    tcp: tokio::net::TcpListener,
    router: Router,
    tls: Option<&Arc<tls::Reloading>>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match tls {
        None => axum::serve(tcp, router).with_graceful_shutdown(stop).await,
        Some(t) => {
            let l = tls::TlsListener::new(tcp, t.server_config(HTTP_ALPN))?;
            axum::serve(l, router).with_graceful_shutdown(stop).await
        }
    }
}

/// Serves until `shutdown` resolves; then flushes the store.
pub async fn serve(
    state: AppState,
    listen: Listen,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(true);
    });
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let mut tasks = tokio::task::JoinSet::new();
    let tls = listen.tls.clone();
    let watch = tls.as_ref().map(|t| t.spawn_watch());
    let mut http = vec![(listen.api, "API and UI")];
    if let Some(addr) = listen.otlp_http.filter(|a| *a != listen.api) {
        http.push((addr, "OTLP/HTTP"));
    }
    for (addr, what) in http {
        let l = tokio::net::TcpListener::bind(addr).await?;
        tracing::info!(%addr, tls = tls.is_some(), "{what} listening");
        let router = guarded(app(state.clone()), addr);
        let (r, t) = (rx.clone(), tls.clone());
        tasks.spawn(async move { serve_http(l, router, t.as_ref(), wait(r)).await });
    }
    if let Some(addr) = listen.grpc {
        let l = tokio::net::TcpListener::bind(addr).await?;
        tracing::info!(%addr, tls = tls.is_some(), "OTLP/gRPC listening");
        let svc = grpc::router(state.clone());
        let r = rx.clone();
        match &tls {
            None => tasks.spawn(async move {
                svc.serve_with_incoming_shutdown(tokio_stream_listener(l), wait(r))
                    .await
                    .map_err(std::io::Error::other)
            }),
            Some(t) => {
                let incoming = tls::TlsListener::new(l, t.server_config(GRPC_ALPN))?.into_stream();
                tasks.spawn(async move {
                    svc.serve_with_incoming_shutdown(incoming, wait(r)).await.map_err(std::io::Error::other)
                })
            }
        };
    }
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(std::io::Error::other(e)),
        }
    }
    if let Some(w) = watch {
        w.abort();
    }
    state.store.flush().await.map_err(std::io::Error::other)?;
    state.tenants.flush_all().await.map_err(std::io::Error::other)?;
    Ok(())
}

fn tokio_stream_listener(
    l: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(l, |l| async move {
        let r = l.accept().await.map(|(s, _)| {
            let _ = s.set_nodelay(true);
            s
        });
        Some((r, l))
    })
}
