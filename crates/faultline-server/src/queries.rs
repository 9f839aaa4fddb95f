//! Every read is bounded: it waits for one of a few query slots, so that reads can never take
//! every core from ingest (which needs no slot); it runs under a time-out; and when its client goes
//! away, or the time-out passes, its future is dropped, which stops its scan between segments; and
//! the rows it holds are charged to its memory budget (`faultline_store::budget`).
//! Page sizes and cursors bound what one read holds (`faultline_query::page`).

use crate::error::{AppError, ErrorCode};
use crate::AppState;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long a read may run by default: an investigation of a million spans takes about a second,
/// a scan of ten million a few; a read still running after this is reading far more than it needs.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes of rows one read may hold by default: an investigation of a million spans holds about
/// half a gigabyte of them; reads past this are reading far more than any answer needs.
pub const DEFAULT_QUERY_MEMORY: usize = 2 << 30;

/// Reads that run at once by default: all cores but one, so that ingest always has a core.
pub fn default_query_slots() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

/// Whether a request reads (and is bounded here) rather than writes or probes.
fn is_read(method: &Method, path: &str) -> bool {
    match *method {
        Method::GET => !matches!(path, "/metrics" | "/healthz") && !crate::ui::is_page_or_asset(path),
        Method::POST => path.starts_with("/jaeger/api/v3/"),
        _ => false,
    }
}

/// Counts the read as cancelled if it is dropped before it answers (its client went away).
struct Unfinished<'a>(Option<&'a crate::Telemetry>);

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.0 {
            t.queries_cancelled.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The middleware: slot, time-out, cancellation.
pub async fn bound(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if !is_read(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    let mut unfinished = Unfinished(Some(&st.telemetry));
    let timeout = st.query_timeout;
    let run = async {
        let _slot = st.query_slots.acquire().await.expect("the query semaphore is never closed");
        let shared = Some(st.store.config().memory.clone());
        faultline_store::budget::with_budget(st.query_memory, shared, next.run(req)).await
    };
    let answer = match tokio::time::timeout(timeout, faultline_store::peers::collect_unreachable(run)).await {
        Ok((mut r, unreachable)) => {
            // Peers that did not answer: their newest, unflushed rows are missing from this answer.
            if let Ok(v) = axum::http::HeaderValue::from_str(&unreachable.join(", ")) {
                if !unreachable.is_empty() {
                    r.headers_mut().insert(crate::peers::UNREACHABLE_HEADER, v);
                }
            }
            r
        }
        Err(_) => {
            st.telemetry.queries_timed_out.fetch_add(1, Ordering::Relaxed);
            AppError::new(
                ErrorCode::QueryTimeout,
                format!(
                    "the query ran past its time-out of {} s and was stopped; narrow the time window or \
                     the filter, or read page by page",
                    timeout.as_secs_f64()
                ),
            )
            .into_response()
        }
    };
    unfinished.0 = None;
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    /// A router whose one read never answers, bounded as the server bounds reads.
    async fn hanging(timeout: Duration) -> (axum::Router, AppState, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store =
            faultline_store::Store::open(faultline_store::StoreConfig::new(dir.path())).await.unwrap();
        let limits = crate::ServerLimits { query_timeout: timeout, query_slots: 1, ..Default::default() };
        let st = AppState::new(store, limits);
        let app = axum::Router::new()
            .route("/api/v1/hang", get(std::future::pending::<&'static str>))
            .route("/healthz", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(st.clone(), bound))
            .with_state(st.clone());
        (app, st, dir)
    }

    fn get_req(path: &str) -> Request {
        Request::builder().uri(path).body(Body::empty()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_past_its_time_out_is_stopped_with_504() {
        let (app, st, _dir) = hanging(Duration::from_secs(30)).await;
        let r = app.clone().oneshot(get_req("/api/v1/hang")).await.unwrap();
        assert_eq!(r.status(), axum::http::StatusCode::GATEWAY_TIMEOUT);
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains("time-out of 30 s"));
        assert_eq!(st.telemetry.queries_timed_out.load(Ordering::Relaxed), 1);
        // The slot came back: probes were never held, and the next read runs (and times out) too.
        assert_eq!(app.clone().oneshot(get_req("/healthz")).await.unwrap().status(), 200);
        assert_eq!(app.oneshot(get_req("/api/v1/hang")).await.unwrap().status(), 504);
        assert_eq!(st.query_slots.available_permits(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_whose_client_goes_away_is_dropped_and_counted() {
        let (app, st, _dir) = hanging(Duration::from_secs(30)).await;
        let read = tokio::spawn(app.oneshot(get_req("/api/v1/hang")));
        tokio::time::sleep(Duration::from_secs(1)).await;
        read.abort();
        let _ = read.await;
        assert_eq!(st.telemetry.queries_cancelled.load(Ordering::Relaxed), 1);
        assert_eq!(st.telemetry.queries_timed_out.load(Ordering::Relaxed), 0);
        assert_eq!(st.query_slots.available_permits(), 1);
    }

    #[test]
    fn reads_are_bounded_and_writes_and_probes_are_not() {
        assert!(is_read(&Method::GET, "/api/v1/spans"));
        assert!(is_read(&Method::GET, "/jaeger/api/traces"));
        assert!(is_read(&Method::POST, "/jaeger/api/v3/trace-summaries"));
        assert!(!is_read(&Method::POST, "/v1/traces"));
        assert!(!is_read(&Method::POST, "/api/v1/changes"));
        assert!(!is_read(&Method::GET, "/metrics"));
        assert!(!is_read(&Method::GET, "/healthz"));
    }
}
