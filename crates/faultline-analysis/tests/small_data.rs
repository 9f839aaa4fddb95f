//! A handful of traces, as a Jaeger export of a delay injection gives them: a few seconds of normal
//! traffic, then a slow stretch, spans without kind or status, and the window over all of it.
//! Regression: such a window said "no incident" (an onset needed 60 requests), or blamed the entry
//! service for a "traffic spike" against an empty baseline.

use faultline_analysis::spans::SpanTableBuilder;
use faultline_analysis::{investigate, Inputs, Options};
use faultline_model::schema::spans_to_batch;
use faultline_model::{ResourceInfo, Span, SpanId, SpanKind, StatusCode, TraceId};
use std::sync::Arc;

const MS: i64 = 1_000_000;
const SECOND: i64 = 1_000_000_000;

fn resource(service: &str) -> Arc<ResourceInfo> {
    let mut a = serde_json::Map::new();
    a.insert("service.name".into(), service.into());
    a.insert("service.instance.id".into(), format!("{service}-0").into());
    Arc::new(ResourceInfo::from_attributes(a))
}

fn span(trace: u128, id: u64, parent: Option<u64>, service: &str, start: i64, dur: i64) -> Span {
    Span {
        trace_id: TraceId::from_bytes(&trace.to_be_bytes()).expect("16 bytes"),
        span_id: SpanId::from_bytes(&id.to_be_bytes()).expect("8 bytes"),
        parent_span_id: parent.map(|p| SpanId::from_bytes(&p.to_be_bytes()).expect("8 bytes")),
        trace_state: String::new(),
        flags: 0,
        name: format!("{service} op"),
        kind: SpanKind::Unspecified,
        start_unix_nano: start,
        end_unix_nano: start + dur,
        status_code: StatusCode::Unset,
        status_message: String::new(),
        attributes: Default::default(),
        events: vec![],
        links: vec![],
        resource: resource(service),
    }
}

/// `gate` calls `orders`, which calls `stock` and `prices`; from the fourth trace on, `delayed`
/// takes 300 ms more.
fn traces(n: u64, delayed: &str) -> Vec<Span> {
    let t0 = 1_800_000_000 * SECOND;
    let mut out = Vec::new();
    for k in 0..n {
        let start = t0 + k as i64 * 2 * SECOND;
        let slow = |svc: &str| if k >= 3 && svc == delayed { 300 * MS } else { 0 };
        let (stock, prices) = (20 * MS + slow("stock"), 15 * MS + slow("prices"));
        let orders = 5 * MS + stock + prices + slow("orders");
        let gate = 2 * MS + orders + slow("gate");
        let tr = 1000 + k as u128;
        out.push(span(tr, 1, None, "gate", start, gate));
        out.push(span(tr, 2, Some(1), "orders", start + MS, orders));
        out.push(span(tr, 3, Some(2), "stock", start + 2 * MS, stock));
        out.push(span(tr, 4, Some(2), "prices", start + 3 * MS + stock, prices));
    }
    out
}

#[test]
fn a_delay_in_nine_traces_is_found_over_a_window_of_all_of_them() {
    for delayed in ["stock", "prices", "orders"] {
        let spans = traces(9, delayed);
        let (lo, hi) = spans
            .iter()
            .fold((i64::MAX, i64::MIN), |a, s| (a.0.min(s.start_unix_nano), a.1.max(s.end_unix_nano)));
        let mut b = SpanTableBuilder::default();
        b.push(&spans_to_batch(&spans));
        let inputs = Inputs { spans: b.finish(), ..Inputs::default() };
        let r = investigate(&inputs, &Options { from: Some(lo), to: Some(hi + 1), ..Options::default() })
            .unwrap();
        assert!(r.incident, "{delayed}: {}", r.symptom.summary);
        assert_eq!(r.root_causes[0].service, delayed, "{}", r.root_causes[0].summary);
        assert!(!r.root_causes[0].patterns.iter().any(|p| p == "traffic_spike"));
        assert_ne!(r.baseline, r.window);
    }
}
