//! Guards for a server on a loopback address, which a web page in the user's browser can still
//! reach: through DNS rebinding (a name the page controls that resolves to 127.0.0.1), or with a
//! cross-site form post. Requests that name another host are refused, and so are writes that a
//! page of another origin sends.

use crate::error::AppError;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};

/// Whether `host` (a Host header or an Origin's host, port allowed) names this machine's loopback.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim();
    let name = match h.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => match h.rsplit_once(':') {
            Some((n, port)) if !n.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => n,
            _ => h,
        },
    };
    name.eq_ignore_ascii_case("localhost")
        || name.to_ascii_lowercase().ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host of an `Origin` header (`scheme://host[:port]`), or `None` for `null` and the unreadable.
fn origin_host(origin: &str) -> Option<&str> {
    origin.split_once("://").map(|(_, rest)| rest.trim_end_matches('/'))
}

/// The guard, for a listener bound to `addr`: nothing is checked unless `addr` is loopback.
pub async fn loopback(State(addr): State<SocketAddr>, req: Request, next: Next) -> Response {
    if !addr.ip().is_loopback() {
        return next.run(req).await;
    }
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok());
    if let Some(h) = host.filter(|h| !is_loopback_host(h)) {
        let msg = format!(
            "this server listens on {addr} and answers only requests to a loopback name (localhost, \
             127.0.0.1, [::1]), not to {h:?}: a web page could otherwise reach it through DNS rebinding"
        );
        return (StatusCode::MISDIRECTED_REQUEST, AppError::bad_request(msg)).into_response();
    }
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let origin = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok());
    if let (true, Some(o)) = (writes, origin) {
        if origin_host(o).is_none_or(|oh| !is_loopback_host(oh) || host.is_some_and(|h| h != oh)) {
            let msg = format!(
                "writes from a web page of another origin ({o}) are refused: send them from a program, \
                 or from a page this server serves"
            );
            return (StatusCode::FORBIDDEN, AppError::bad_request(msg)).into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_addresses_with_or_without_ports() {
        for h in [
            "localhost",
            "localhost:8080",
            "127.0.0.1",
            "127.0.0.1:8080",
            "127.1.2.3",
            "[::1]",
            "[::1]:8080",
            "::1",
            "app.localhost:3000",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "evil.example",
            "evil.example:8080",
            "10.0.0.1",
            "192.168.1.2:80",
            "localhost.evil.example",
            "[2001:db8::1]:80",
            "",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn origins_name_their_host() {
        assert_eq!(origin_host("http://127.0.0.1:8080"), Some("127.0.0.1:8080"));
        assert_eq!(origin_host("null"), None);
    }
}
