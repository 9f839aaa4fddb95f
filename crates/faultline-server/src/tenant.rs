//! Tenants, as Tempo and Loki have them: the `X-Scope-OrgID` header (gRPC metadata
//! `x-scope-orgid`) names one, and each tenant is a store of its own under
//! `<data>/tenants/<id>/`: its own write-ahead log, head and segments, so that nothing one tenant
//! sends is ever read back for another. A request without the header is the default tenant, whose
//! store is the data directory itself (what a single-tenant server has always used).
//!
//! Handlers take [`Scoped`] instead of `State<AppState>`: the same state with `store` and `ingest`
//! set to the request's tenant. Every tenant has its own ingest rate limit (`ratelimit.rs`).

use crate::error::{AppError, ErrorCode};
use crate::ingest::Ingestor;
use crate::telemetry::Telemetry;
use crate::{AppState, ServerLimits};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use faultline_store::{Store, StoreConfig};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The HTTP header (and gRPC metadata key) that names the tenant.
pub const TENANT_HEADER: &str = "x-scope-orgid";

/// Longest tenant id: it is a directory name on every file system and a short object-store prefix.
pub const MAX_TENANT_ID_LEN: usize = 64;

/// Tenants one server holds open at once by default. Each has its own head and log writer, so an
/// unbounded number (a client inventing ids) would be unbounded memory and file handles.
pub const DEFAULT_MAX_TENANTS: usize = 64;

/// Checks a tenant id: 1 to [`MAX_TENANT_ID_LEN`] of `A-Z a-z 0-9 _ - .`, not `.` or `..`, so it
/// can only ever name one directory below `tenants/`.
pub fn parse_tenant_id(raw: &str) -> Result<String, String> {
    let id = raw.trim();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if id.is_empty() {
        return Err(format!("{TENANT_HEADER} is empty: name a tenant or leave the header out"));
    }
    if id.contains('|') {
        return Err(format!("{TENANT_HEADER} {id:?} names several tenants: one request reads one tenant"));
    }
    if id.len() > MAX_TENANT_ID_LEN || !id.chars().all(allowed) || id.starts_with('.') {
        return Err(format!(
            "{TENANT_HEADER} {id:?} is not a tenant id: 1 to {MAX_TENANT_ID_LEN} letters, digits, '_', '-' \
             or '.', not starting with '.'"
        ));
    }
    Ok(id.to_string())
}

/// The tenant a request names (`None`: the default tenant), or why the header is unusable.
pub fn tenant_of(headers: &HeaderMap) -> Result<Option<String>, AppError> {
    match headers.get(TENANT_HEADER) {
        None => Ok(None),
        Some(v) => {
            let s = v.to_str().map_err(|_| AppError::bad_request(format!("{TENANT_HEADER} is not text")))?;
            parse_tenant_id(s).map(Some).map_err(AppError::bad_request)
        }
    }
}

/// What differs per tenant: an ingest rate and a body size of its own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantLimits {
    /// Records (spans, log records, points, changes) per second; `None`: the server's.
    pub ingest_rate: Option<f64>,
    /// Largest request body; `None`: the server's.
    pub max_body_bytes: Option<usize>,
}

/// How tenants are set up.
#[derive(Debug, Clone)]
pub struct TenantConfig {
    /// Refuse requests without `X-Scope-OrgID` (the default tenant is then unreachable).
    pub required: bool,
    pub max_tenants: usize,
    /// Limits of named tenants, above the server's own.
    pub limits: BTreeMap<String, TenantLimits>,
}

impl Default for TenantConfig {
    fn default() -> Self {
        TenantConfig { required: false, max_tenants: DEFAULT_MAX_TENANTS, limits: BTreeMap::new() }
    }
}

/// One tenant's store and ingest path.
#[derive(Clone)]
struct Tenant {
    store: Store,
    ingest: Arc<Ingestor>,
}

/// The named tenants, opened on first use.
pub struct Tenants {
    base: StoreConfig,
    limits: ServerLimits,
    telemetry: Arc<Telemetry>,
    cfg: TenantConfig,
    open: tokio::sync::Mutex<HashMap<String, Tenant>>,
}

impl Tenants {
    pub fn new(
        base: StoreConfig,
        limits: ServerLimits,
        telemetry: Arc<Telemetry>,
        cfg: TenantConfig,
    ) -> Self {
        Tenants { base, limits, telemetry, cfg, open: tokio::sync::Mutex::new(HashMap::new()) }
    }

    pub fn config(&self) -> &TenantConfig {
        &self.cfg
    }

    /// The limits of `tenant` (`None`: the default tenant).
    pub fn limits_for(&self, tenant: Option<&str>) -> ServerLimits {
        let mut l = self.limits.clone();
        if let Some(t) = tenant.and_then(|t| self.cfg.limits.get(t)) {
            l.ingest_rate = t.ingest_rate.or(l.ingest_rate);
            l.max_body_bytes = t.max_body_bytes.unwrap_or(l.max_body_bytes);
        }
        l
    }

    /// Where a tenant's store lives.
    pub fn dir_of(&self, tenant: &str) -> std::path::PathBuf {
        self.base.data_dir.join("tenants").join(tenant)
    }

    async fn get(&self, tenant: &str) -> Result<Tenant, AppError> {
        let mut open = self.open.lock().await;
        if let Some(t) = open.get(tenant) {
            return Ok(t.clone());
        }
        if open.len() >= self.cfg.max_tenants {
            return Err(AppError::new(
                ErrorCode::Unavailable,
                format!("this server holds {} tenants open, its limit (tenants.max)", self.cfg.max_tenants),
            ));
        }
        let mut cfg = self.base.clone();
        cfg.data_dir = self.dir_of(tenant);
        cfg.tenant = Some(tenant.to_string());
        // A tenant gets its own share of the object store, below the same prefix as its directory.
        cfg.object_store = self.base.object_store.clone().map(|o| {
            Arc::new(object_store::prefix::PrefixStore::new(o, format!("tenants/{tenant}")))
                as Arc<dyn object_store::ObjectStore>
        });
        let store = Store::open(cfg).await?;
        drop(store.spawn_maintenance());
        let limits = self.limits_for(Some(tenant));
        let ingest = Arc::new(Ingestor::new(store.clone(), limits, self.telemetry.clone()));
        let t = Tenant { store, ingest };
        open.insert(tenant.to_string(), t.clone());
        tracing::info!(tenant, "opened tenant");
        Ok(t)
    }

    /// Flushes every open tenant (on shutdown).
    pub async fn flush_all(&self) -> Result<(), faultline_store::StoreError> {
        let open: Vec<Tenant> = self.open.lock().await.values().cloned().collect();
        for t in open {
            t.store.flush().await?;
        }
        Ok(())
    }
}

impl AppState {
    /// This state, scoped to the tenant `headers` name.
    pub async fn scoped(&self, headers: &HeaderMap) -> Result<AppState, AppError> {
        match tenant_of(headers)? {
            None if self.tenants.config().required => Err(AppError::unauthorized(format!(
                "this server is multi-tenant: name the tenant with the {TENANT_HEADER} header"
            ))),
            None => Ok(self.clone()),
            Some(id) => {
                let t = self.tenants.get(&id).await?;
                Ok(AppState { store: t.store, ingest: t.ingest, ..self.clone() })
            }
        }
    }
}

/// The request's tenant-scoped state: what handlers take instead of `State<AppState>`.
pub struct Scoped(pub AppState);

impl FromRequestParts<AppState> for Scoped {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        state.scoped(&parts.headers).await.map(Scoped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The handlers of these files read data: each takes `Scoped`, so it sees only the request's
    /// tenant. (The middleware and the OTLP/HTTP receiver scope by hand.)
    #[test]
    fn data_handlers_take_the_scoped_state() {
        let files = [
            ("api.rs", include_str!("api.rs")),
            ("diff.rs", include_str!("diff.rs")),
            ("investigate.rs", include_str!("investigate.rs")),
            ("jaeger.rs", include_str!("jaeger.rs")),
            ("jaeger_v3.rs", include_str!("jaeger_v3.rs")),
            ("overview.rs", include_str!("overview.rs")),
        ];
        for (name, text) in files {
            assert!(!text.contains("State<AppState>"), "{name} has a handler that ignores the tenant");
            assert!(text.contains("Scoped(st): Scoped"), "{name}");
        }
    }

    #[test]
    fn tenant_ids_name_one_directory_and_nothing_else() {
        assert_eq!(parse_tenant_id("acme").unwrap(), "acme");
        assert_eq!(parse_tenant_id(" team-a_1.prod ").unwrap(), "team-a_1.prod");
        for bad in ["", "..", ".", ".hidden", "a/b", "../etc", "a\\b", "a b", "a|b", "é", &"x".repeat(65)] {
            assert!(parse_tenant_id(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_tenant_id(&"x".repeat(MAX_TENANT_ID_LEN)).is_ok());
    }
}
