//! What an ingest request takes in memory while it is decoded and stored, per byte of its body:
//! the figure the server's memory budget holds for each request (`INGEST_BYTES_PER_BODY_BYTE`).

use faultline_otlp::proto::collector::trace::v1::ExportTraceServiceRequest;
use faultline_server::ingest::{Ingestor, INGEST_BYTES_PER_BODY_BYTE};
use faultline_server::telemetry::Telemetry;
use faultline_store::{Store, StoreConfig};
use prost::Message;
use std::sync::Arc;

pub async fn ingest(spans: u64) -> anyhow::Result<()> {
    let work = crate::payloads(11, spans);
    let dir = tempfile::tempdir()?;
    let store = Store::open(StoreConfig::new(dir.path())).await?;
    let ing = Ingestor::new(store.clone(), Default::default(), Arc::new(Telemetry::default()));
    for json in [false, true] {
        let mut ratios = Vec::with_capacity(work.len());
        for (body, _) in &work {
            let body = if json {
                let req = faultline_otlp::Request::Traces(ExportTraceServiceRequest::decode(&body[..])?);
                serde_json::to_vec(&faultline_otlp::json::encode(&req))?
            } else {
                body.clone()
            };
            let before = crate::ALLOC.current_usage();
            crate::ALLOC.reset_peak_usage();
            let req = if json {
                match faultline_otlp::json::decode(faultline_otlp::Signal::Traces, &body)? {
                    faultline_otlp::Request::Traces(r) => r,
                    _ => anyhow::bail!("not traces"),
                }
            } else {
                ExportTraceServiceRequest::decode(&body[..])?
            };
            ing.traces(&req).await.map_err(|e| anyhow::anyhow!(e.message))?;
            drop(req);
            // The body is held through it all; everything after it is what decoding and storing add.
            let held = crate::ALLOC.peak_usage() - before + body.len();
            ratios.push(held as f64 / body.len() as f64);
        }
        ratios.sort_by(f64::total_cmp);
        let at = |p: f64| ratios[((ratios.len() - 1) as f64 * p) as usize];
        println!(
            "OTLP/{} trace requests ({} of them, {spans} spans): memory held per body byte median {:.1}, p99 {:.1}, max {:.1}; the budget holds {INGEST_BYTES_PER_BODY_BYTE}",
            if json { "JSON" } else { "protobuf" },
            ratios.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
    Ok(())
}
