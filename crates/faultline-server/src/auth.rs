//! Bearer tokens with scopes. A server with no token configured is open (it listens on loopback
//! unless told `--insecure`); with tokens, every receiver and read asks for one:
//! `Authorization: Bearer <secret>` on HTTP (what `OTEL_EXPORTER_OTLP_HEADERS` sets), the
//! `authorization` metadata on gRPC.
//!
//! Tokens are kept as SHA-256 hashes only: a config file holds the hash (`faultline token hash`),
//! a secret from the environment is hashed on load. No secret is logged or kept in memory.

use crate::error::AppError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// What a token may do. `admin` may do everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Send telemetry and change events.
    Ingest,
    /// Read: searches, traces, investigations, the UI's data, `/metrics`.
    Read,
    /// Everything.
    Admin,
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ingest" => Ok(Scope::Ingest),
            "read" => Ok(Scope::Read),
            "admin" => Ok(Scope::Admin),
            other => Err(format!("unknown scope {other:?}: expected ingest, read or admin")),
        }
    }
}

/// One token: its name (for the operator; never the secret), the hash of its secret, its scopes.
#[derive(Clone)]
pub struct Token {
    pub name: String,
    hash: [u8; 32],
    pub scopes: Vec<Scope>,
    /// The tenants (`X-Scope-OrgID`) it may use; empty: any, and the default tenant.
    pub tenants: Vec<String>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("tenants", &self.tenants)
            .finish_non_exhaustive()
    }
}

/// Hex SHA-256 of a secret, as a config file stores it.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.trim().as_bytes()))
}

impl Token {
    pub fn from_secret(name: &str, scopes: Vec<Scope>, secret: &str) -> Token {
        let hash = Sha256::digest(secret.trim().as_bytes()).into();
        Token { name: name.to_string(), hash, scopes, tenants: Vec::new() }
    }

    /// The same token, held to `tenants`.
    pub fn for_tenants(mut self, tenants: Vec<String>) -> Token {
        self.tenants = tenants;
        self
    }

    /// From the hex SHA-256 of the secret.
    pub fn from_hash(name: &str, scopes: Vec<Scope>, hash_hex: &str) -> Result<Token, String> {
        let bytes = hex::decode(hash_hex.trim()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()).ok_or_else(
            || format!("token {name:?}: sha256 must be 64 hex digits (from `faultline token hash`)"),
        )?;
        Ok(Token { name: name.to_string(), hash: bytes, scopes, tenants: Vec::new() })
    }

    fn allows(&self, need: Scope) -> bool {
        self.scopes.iter().any(|&s| s == need || s == Scope::Admin)
    }

    fn allows_tenant(&self, tenant: Option<&str>) -> bool {
        self.tenants.is_empty() || tenant.is_some_and(|t| self.tenants.iter().any(|x| x == t))
    }
}

/// The tokens a server accepts; none means the server is open.
#[derive(Debug, Clone, Default)]
pub struct Tokens(Arc<Vec<Token>>);

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No token, or one this server does not know: HTTP 401, gRPC UNAUTHENTICATED.
    Unauthenticated(String),
    /// A known token without the scope: HTTP 403, gRPC PERMISSION_DENIED.
    Forbidden(String),
}

impl Tokens {
    pub fn new(tokens: Vec<Token>) -> Tokens {
        Tokens(Arc::new(tokens))
    }

    pub fn is_open(&self) -> bool {
        self.0.is_empty()
    }

    pub fn names(&self) -> Vec<&str> {
        self.0.iter().map(|t| t.name.as_str()).collect()
    }

    /// Checks an `Authorization` header value for a scope and a tenant (the `X-Scope-OrgID` value;
    /// `None`: the default tenant); the token's name when it passes.
    pub fn check(
        &self,
        authorization: Option<&str>,
        need: Scope,
        tenant: Option<&str>,
    ) -> Result<Option<&str>, Refusal> {
        if self.is_open() {
            return Ok(None);
        }
        let Some(value) = authorization else {
            return Err(Refusal::Unauthenticated(
                "a token is required: send Authorization: Bearer <token> (OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20<token>, or FAULTLINE_TOKEN for the CLI)".into(),
            ));
        };
        let secret =
            value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).ok_or_else(|| {
                Refusal::Unauthenticated("the Authorization header must be \"Bearer <token>\"".into())
            })?;
        let h: [u8; 32] = Sha256::digest(secret.trim().as_bytes()).into();
        // Every known hash is compared in full: the time taken says nothing of which matched.
        let found = self.0.iter().fold(None, |hit, t| if same(&t.hash, &h) { Some(t) } else { hit });
        let t =
            found.ok_or_else(|| Refusal::Unauthenticated("this token is not known to the server".into()))?;
        if !t.allows(need) {
            return Err(Refusal::Forbidden(format!(
                "token {:?} lacks the {need:?} scope (it has {:?})",
                t.name, t.scopes
            )));
        }
        if !t.allows_tenant(tenant) {
            return Err(Refusal::Forbidden(format!(
                "token {:?} is for the tenants {:?}: name one of them in {}",
                t.name,
                t.tenants,
                crate::tenant::TENANT_HEADER
            )));
        }
        Ok(Some(&t.name))
    }
}

/// Constant-time equality of two hashes.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The scope an HTTP request needs; `None` for what anyone may see (health, the UI's own files,
/// which hold no data: the data they show comes from reads that need the token).
pub fn scope_for(method: &Method, path: &str) -> Option<Scope> {
    if path == "/healthz" || crate::ui::is_page_or_asset(path) {
        return None;
    }
    let ingest =
        matches!(path, "/v1/traces" | "/v1/logs" | "/v1/metrics" | "/api/v2/spans" | "/api/v1/write")
            || (path == "/api/v1/changes" && method == Method::POST);
    if ingest {
        return Some(Scope::Ingest);
    }
    Some(Scope::Read)
}

/// The HTTP middleware.
pub async fn require(State(tokens): State<Tokens>, req: Request, next: Next) -> Response {
    let Some(need) = scope_for(req.method(), req.uri().path()) else {
        return next.run(req).await;
    };
    let auth = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let tenant = req.headers().get(crate::tenant::TENANT_HEADER).and_then(|v| v.to_str().ok()).map(str::trim);
    match tokens.check(auth, need, tenant) {
        Ok(_) => next.run(req).await,
        Err(Refusal::Unauthenticated(m)) => {
            let mut r = AppError::unauthorized(m).into_response();
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"faultline\""));
            r
        }
        Err(Refusal::Forbidden(m)) => AppError::forbidden(m).into_response(),
    }
}

/// The gRPC check, on a request's metadata.
pub fn check_grpc(
    tokens: &Tokens,
    md: &tonic::metadata::MetadataMap,
    need: Scope,
) -> Result<(), tonic::Status> {
    let auth = md.get("authorization").and_then(|v| v.to_str().ok());
    let tenant = md.get(crate::tenant::TENANT_HEADER).and_then(|v| v.to_str().ok()).map(str::trim);
    match tokens.check(auth, need, tenant) {
        Ok(_) => Ok(()),
        Err(Refusal::Unauthenticated(m)) => Err(tonic::Status::unauthenticated(m)),
        Err(Refusal::Forbidden(m)) => Err(tonic::Status::permission_denied(m)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(vec![
            Token::from_secret("collector", vec![Scope::Ingest], "s3cret-ingest"),
            Token::from_hash("oncall", vec![Scope::Read], &hash_secret("s3cret-read")).unwrap(),
            Token::from_secret("root", vec![Scope::Admin], "s3cret-admin"),
        ])
    }

    #[test]
    fn scopes_are_checked_and_admin_may_do_all() {
        let t = tokens();
        assert_eq!(t.check(Some("Bearer s3cret-ingest"), Scope::Ingest, None), Ok(Some("collector")));
        assert!(matches!(
            t.check(Some("Bearer s3cret-ingest"), Scope::Read, None),
            Err(Refusal::Forbidden(_))
        ));
        assert_eq!(t.check(Some("Bearer s3cret-read"), Scope::Read, None), Ok(Some("oncall")));
        assert!(matches!(
            t.check(Some("Bearer s3cret-read"), Scope::Ingest, None),
            Err(Refusal::Forbidden(_))
        ));
        assert_eq!(t.check(Some("Bearer s3cret-admin"), Scope::Ingest, None), Ok(Some("root")));
        assert!(matches!(t.check(Some("Bearer wrong"), Scope::Read, None), Err(Refusal::Unauthenticated(_))));
        assert!(matches!(t.check(None, Scope::Read, None), Err(Refusal::Unauthenticated(_))));
        assert!(matches!(t.check(Some("Basic abc"), Scope::Read, None), Err(Refusal::Unauthenticated(_))));
        assert_eq!(Tokens::default().check(None, Scope::Admin, None), Ok(None));
    }

    #[test]
    fn a_token_held_to_tenants_reaches_only_them() {
        let t = Tokens::new(vec![
            Token::from_secret("acme-collector", vec![Scope::Ingest], "s-a").for_tenants(vec!["acme".into()]),
            Token::from_secret("any", vec![Scope::Read], "s-any"),
        ]);
        assert_eq!(t.check(Some("Bearer s-a"), Scope::Ingest, Some("acme")), Ok(Some("acme-collector")));
        assert!(matches!(
            t.check(Some("Bearer s-a"), Scope::Ingest, Some("globex")),
            Err(Refusal::Forbidden(_))
        ));
        assert!(matches!(t.check(Some("Bearer s-a"), Scope::Ingest, None), Err(Refusal::Forbidden(_))));
        assert_eq!(t.check(Some("Bearer s-any"), Scope::Read, Some("globex")), Ok(Some("any")));
        assert_eq!(t.check(Some("Bearer s-any"), Scope::Read, None), Ok(Some("any")));
    }

    #[test]
    fn secrets_never_show_in_debug_output_or_errors() {
        let t = tokens();
        let shown = format!("{t:?} {:?}", t.check(Some("Bearer s3cret-ingest"), Scope::Read, None));
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(Token::from_hash("x", vec![], "abc").is_err());
    }

    #[test]
    fn scopes_of_routes() {
        assert_eq!(scope_for(&Method::POST, "/v1/traces"), Some(Scope::Ingest));
        assert_eq!(scope_for(&Method::POST, "/api/v1/changes"), Some(Scope::Ingest));
        assert_eq!(scope_for(&Method::GET, "/api/v1/changes"), Some(Scope::Read));
        assert_eq!(scope_for(&Method::GET, "/jaeger/api/services"), Some(Scope::Read));
        assert_eq!(scope_for(&Method::GET, "/metrics"), Some(Scope::Read));
        assert_eq!(scope_for(&Method::GET, "/healthz"), None);
        assert_eq!(scope_for(&Method::GET, "/ui/app.js"), None);
    }
}
