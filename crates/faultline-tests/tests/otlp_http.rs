//! OTLP/HTTP receiver behaviour on good and bad input, through the real router.

use faultline_otlp::proto::collector::trace::v1::ExportTraceServiceResponse;
use faultline_server::ServerLimits;
use faultline_tests::{gzip, kv, span, traces, TestServer};
use prost::Message;

const PB: &str = "application/x-protobuf";

#[tokio::test]
async fn gzip_protobuf_round_trips() {
    let s = TestServer::new(ServerLimits::default()).await;
    let body = gzip(&traces("cart", vec![span(1, 1, "GET /cart")]).encode_to_vec());
    let (status, resp) = s.post("/v1/traces", PB, body, true).await;
    assert_eq!(status, 200);
    let r = ExportTraceServiceResponse::decode(resp.as_slice()).unwrap();
    assert!(r.partial_success.is_none());
    let (status, v) = s.get_json(&format!("/api/v1/traces/{}", "01".repeat(16))).await;
    assert_eq!(status, 200);
    assert_eq!(v["spans"][0]["name"], "GET /cart");
    assert_eq!(v["spans"][0]["service_name"], "cart");
}

#[tokio::test]
async fn oversized_bodies_and_gzip_bombs_get_413() {
    let s = TestServer::new(ServerLimits { max_body_bytes: 100_000, ..ServerLimits::default() }).await;
    let (status, _) = s.post("/v1/traces", PB, vec![0u8; 200_000], false).await;
    assert_eq!(status, 413);
    let bomb = gzip(&vec![0u8; 20_000_000]);
    assert!(bomb.len() < 100_000, "{}", bomb.len());
    let (status, body) = s.post("/v1/traces", PB, bomb, true).await;
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    let (status, _) = s.post("/v1/traces", PB, b"not gzip".to_vec(), true).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_declared_length_above_the_limit_is_refused_before_the_body_is_read() {
    let s = TestServer::new(ServerLimits { max_body_bytes: 100_000, ..ServerLimits::default() }).await;
    for (path, ct) in
        [("/v1/traces", PB), ("/v1/logs", "application/json"), ("/api/v2/spans", "application/json")]
    {
        let req = axum::http::Request::post(path)
            .header("content-type", ct)
            .header("content-length", "1073741824")
            .body(axum::body::Body::from(vec![b'{', b'}']))
            .unwrap();
        let (status, body) = s.send(req).await;
        assert_eq!(status, 413, "{path}: {}", String::from_utf8_lossy(&body));
    }
}

#[tokio::test]
async fn invalid_utf8_and_garbage_get_400_and_keep_what_was_stored() {
    let s = TestServer::new(ServerLimits::default()).await;
    let (status, _) =
        s.post("/v1/traces", PB, traces("a", vec![span(2, 1, "kept")]).encode_to_vec(), false).await;
    assert_eq!(status, 200);
    // A span name with invalid UTF-8: protobuf strings must be UTF-8.
    let mut bytes = traces("a", vec![span(3, 1, "XXXX")]).encode_to_vec();
    let pos = bytes.windows(4).position(|w| w == b"XXXX").unwrap();
    bytes[pos] = 0xff;
    let (status, body) = s.post("/v1/traces", PB, bytes, false).await;
    assert_eq!(status, 400);
    assert!(!body.is_empty(), "a google.rpc.Status body says why");
    let (status, _) = s.post("/v1/traces", PB, vec![0xff, 0xff, 0xff], false).await;
    assert_eq!(status, 400);
    let (status, _) = s.post("/v1/traces", "text/plain", vec![], false).await;
    assert_eq!(status, 415);
    let (status, v) = s.get_json(&format!("/api/v1/traces/{}", "02".repeat(16))).await;
    assert_eq!(status, 200);
    assert_eq!(v["spans"][0]["name"], "kept");
}

#[tokio::test]
async fn bad_records_are_rejected_alone_with_partial_success() {
    let s = TestServer::new(ServerLimits { max_attributes: 100, ..ServerLimits::default() }).await;
    let mut future = span(4, 2, "future");
    future.start_time_unix_nano += 10 * 24 * 3600 * 1_000_000_000;
    future.end_time_unix_nano = future.start_time_unix_nano + 1;
    let mut zero = span(4, 3, "zero");
    zero.start_time_unix_nano = 0;
    let mut wide = span(4, 4, "wide");
    wide.attributes = (0..1000).map(|i| kv(&format!("k{i}"), "v")).collect();
    let mut short = span(4, 5, "short id");
    short.trace_id = vec![1, 2, 3];
    let req = traces("a", vec![span(4, 1, "good"), future, zero, wide, short]);
    let (status, resp) = s.post("/v1/traces", PB, req.encode_to_vec(), false).await;
    assert_eq!(status, 200);
    let ps = ExportTraceServiceResponse::decode(resp.as_slice()).unwrap().partial_success.unwrap();
    assert_eq!(ps.rejected_spans, 4);
    for what in ["in the future", "start time is zero", "1000 attributes", "trace id must be 16 bytes"] {
        assert!(ps.error_message.contains(what), "{what}: {}", ps.error_message);
    }
    let (_, v) = s.get_json(&format!("/api/v1/traces/{}", "04".repeat(16))).await;
    assert_eq!(v["spans"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn json_requests_get_json_answers() {
    let s = TestServer::new(ServerLimits::default()).await;
    let body =
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"abc","spanId":"0102030405060708"}]}]}]}"#;
    let (status, resp) = s.post("/v1/traces", "application/json", body.to_vec(), false).await;
    assert_eq!(status, 400, "odd-length hex");
    let v: serde_json::Value = serde_json::from_slice(&resp).unwrap();
    assert!(v["message"].as_str().unwrap().contains("traceId"), "{v}");
    let (status, v) = s.get_json("/api/v1/traces?filter=duration%20%3E%20soon").await;
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("duration"), "{v}");
}
