//! The web UI on the API port: `/` and each view's path answer with the page, `/ui/<file>` with the
//! bundle's files (`faultline_ui`), every one with a strict Content-Security-Policy. A binary built
//! without Node.js answers `/` with a page that says how to get the UI.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// The views' paths: each is a page of the UI, its state in the query string.
const PAGES: &[&str] = &["/", "/investigate", "/map", "/traces", "/compare", "/logs", "/changes", "/metric"];

/// Whether `path` is a page or a file of the UI (not a read of data: no query slot needed).
pub fn is_page_or_asset(path: &str) -> bool {
    PAGES.contains(&path) || path.starts_with("/ui/") || path.starts_with("/trace/")
}

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut r = Router::new().route("/ui/{file}", get(asset)).route("/trace/{id}", get(|| async { page() }));
    for p in PAGES {
        r = r.route(p, get(|| async { page() }));
    }
    r
}

/// The headers every UI response carries.
fn secured(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(faultline_ui::CONTENT_SECURITY_POLICY),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

fn page() -> Response {
    let r = match faultline_ui::index() {
        Some(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        None => {
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], faultline_ui::NOT_BUILT).into_response()
        }
    };
    secured(r)
}

async fn asset(Path(file): Path<String>) -> Response {
    // Names are looked up in the embedded list: nothing reaches the file system.
    let r = match faultline_ui::asset(&file) {
        Some((bytes, ct)) => {
            ([(header::CONTENT_TYPE, ct), (header::CACHE_CONTROL, "no-cache")], bytes).into_response()
        }
        None => (StatusCode::NOT_FOUND, format!("no UI file named {file:?}")).into_response(),
    };
    secured(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_assets_are_not_reads() {
        assert!(is_page_or_asset("/"));
        assert!(is_page_or_asset("/trace/0af7651916cd43dd8448eb211c80319c"));
        assert!(is_page_or_asset("/ui/app.js"));
        assert!(!is_page_or_asset("/api/v1/traces"));
        assert!(!is_page_or_asset("/tracez"));
    }
}
