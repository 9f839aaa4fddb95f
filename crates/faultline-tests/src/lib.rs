//! Shared helpers of faultline's integration tests: a server router over a fresh store, driven
//! in-process (no socket), and builders of OTLP requests.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use faultline_otlp::proto::collector::trace::v1::ExportTraceServiceRequest;
use faultline_otlp::proto::common::v1::{any_value, AnyValue, KeyValue};
use faultline_otlp::proto::resource::v1::Resource;
use faultline_otlp::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use faultline_server::{AppState, ServerLimits};
use faultline_store::{Store, StoreConfig};
use tower::ServiceExt;

/// A router over a store in a temporary directory.
pub struct TestServer {
    pub router: axum::Router,
    pub store: Store,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn new(limits: ServerLimits) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(StoreConfig::new(dir.path())).await.expect("store opens");
        let router = faultline_server::app(AppState::new(store.clone(), limits));
        TestServer { router, store, _dir: dir }
    }

    /// Sends a request; returns the status and the body.
    pub async fn send(&self, req: Request<Body>) -> (StatusCode, Vec<u8>) {
        let resp = self.router.clone().oneshot(req).await.expect("router answers");
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
        (status, body.to_vec())
    }

    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        gzip: bool,
    ) -> (StatusCode, Vec<u8>) {
        let mut b = Request::post(path).header("content-type", content_type);
        if gzip {
            b = b.header("content-encoding", "gzip");
        }
        self.send(b.body(Body::from(body)).expect("request")).await
    }

    pub async fn get_json(&self, path: &str) -> (StatusCode, serde_json::Value) {
        let (s, b) = self.send(Request::get(path).body(Body::empty()).expect("request")).await;
        (s, serde_json::from_slice(&b).unwrap_or(serde_json::Value::Null))
    }
}

pub fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    }
}

/// A span with a valid id pair and times near now.
pub fn span(trace: u8, id: u8, name: &str) -> Span {
    let now = faultline_model::time::now_ns() as u64;
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        name: name.into(),
        kind: 2,
        start_time_unix_nano: now,
        end_time_unix_nano: now + 1_000_000,
        ..Default::default()
    }
}

/// An export request of spans from one service.
pub fn traces(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![kv("service.name", service)], ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    }
}

pub fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).expect("in memory");
    e.finish().expect("in memory")
}
