"""The official OpenTelemetry Python SDK, as a real client, sends traces, logs and metrics to faultline
over OTLP/gRPC and OTLP/HTTP; everything comes back through the API with ids, timestamps and
attributes intact."""

import logging
import time

import pytest
import requests
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode


def exporters(kind, server):
    if kind == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        ep = f"127.0.0.1:{server.grpc}"
        return (OTLPSpanExporter(endpoint=ep, insecure=True), OTLPLogExporter(endpoint=ep, insecure=True),
                OTLPMetricExporter(endpoint=ep, insecure=True))
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    base = f"http://127.0.0.1:{server.http}"
    return (OTLPSpanExporter(endpoint=base + "/v1/traces"), OTLPLogExporter(endpoint=base + "/v1/logs"),
            OTLPMetricExporter(endpoint=base + "/v1/metrics"))


@pytest.mark.parametrize("kind", ["grpc", "http"])
def test_sdk_round_trip(server, kind):
    resource = Resource.create({"service.name": f"checkout-{kind}", "service.instance.id": "pod-7",
                                "deployment.environment": "test"})
    span_exp, log_exp, metric_exp = exporters(kind, server)

    tp = TracerProvider(resource=resource)
    tp.add_span_processor(SimpleSpanProcessor(span_exp))
    tracer = tp.get_tracer("faultline.test", "1.2.3")
    with tracer.start_as_current_span("GET /api/cart", kind=SpanKind.SERVER,
                                      attributes={"http.request.method": "GET", "http.response.status_code": 504,
                                                  "retry": True, "ratio": 0.25, "tags": ["a", "b"]}) as root:
        with tracer.start_as_current_span("SELECT carts", kind=SpanKind.CLIENT) as child:
            child.add_event("retrying", {"attempt": 2})
            child.set_status(Status(StatusCode.ERROR, "timeout"))
        root_ctx = root.get_span_context()
        child_ctx = child.get_span_context()

    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(SimpleLogRecordProcessor(log_exp))
    logger = logging.getLogger(f"sdk-{kind}")
    logger.propagate = False
    logger.addHandler(LoggingHandler(logger_provider=lp))
    with tracer.start_as_current_span("log inside") as ls:
        logger.error("invalid response from server", extra={"peer.address": "10.0.0.7:8080"})
        log_ctx = ls.get_span_context()

    reader = PeriodicExportingMetricReader(metric_exp, export_interval_millis=60_000)
    mp = MeterProvider(resource=resource, metric_readers=[reader])
    meter = mp.get_meter("faultline.test")
    meter.create_counter("requests", unit="1", description="requests served").add(5, {"route": "/api/cart"})
    latency = meter.create_histogram("latency", unit="ms")
    for v in (12.5, 40.0, 40.0, 900.0):
        latency.record(v, {"route": "/api/cart"})
    mp.force_flush()
    tp.force_flush()
    lp.force_flush()

    trace_hex = format(root_ctx.trace_id, "032x")
    r = requests.get(f"{server.api}/api/v1/traces/{trace_hex}")
    assert r.status_code == 200, r.text
    spans = {s["name"]: s for s in r.json()["spans"]}
    assert set(spans) == {"GET /api/cart", "SELECT carts"}
    root_span, child_span = spans["GET /api/cart"], spans["SELECT carts"]
    assert root_span["span_id"] == format(root_ctx.span_id, "016x")
    assert child_span["span_id"] == format(child_ctx.span_id, "016x")
    assert child_span["parent_span_id"] == root_span["span_id"]
    assert root_span["kind"] == "server" and child_span["kind"] == "client"
    assert root_span["attributes"] == {"http.request.method": "GET", "http.response.status_code": 504,
                                       "retry": True, "ratio": 0.25, "tags": ["a", "b"]}
    assert child_span["status_code"] == "error" and child_span["status_message"] == "timeout"
    assert child_span["events"][0]["name"] == "retrying"
    assert child_span["events"][0]["attributes"] == {"attempt": 2}
    assert root_span["service_name"] == f"checkout-{kind}"
    assert root_span["instance"] == "pod-7"
    assert root_span["resource_attributes"]["deployment.environment"] == "test"
    assert root_span["scope_name"] == "faultline.test" and root_span["scope_version"] == "1.2.3"
    # Timestamps: nanoseconds, end after start, close to now.
    now = time.time_ns()
    assert 0 < now - root_span["start_unix_nano"] < 120e9
    assert root_span["end_unix_nano"] >= child_span["end_unix_nano"] >= child_span["start_unix_nano"]

    r = requests.get(f"{server.api}/api/v1/logs", params={"service": f"checkout-{kind}"})
    logs = r.json()["logs"]
    assert len(logs) == 1, logs
    assert logs[0]["body"] == "invalid response from server"
    assert logs[0]["severity_number"] == 17
    assert logs[0]["trace_id"] == format(log_ctx.trace_id, "032x")
    assert logs[0]["span_id"] == format(log_ctx.span_id, "016x")
    assert logs[0]["attributes"]["peer.address"] == "10.0.0.7:8080"

    r = requests.get(f"{server.api}/api/v1/metrics", params={"service": f"checkout-{kind}", "percentiles": "50,99"})
    series = {s["name"]: s for s in r.json()["series"]}
    requests_ = series["requests"]
    assert requests_["points"][0][1] == 5 and isinstance(requests_["points"][0][1], int)
    assert requests_["attributes"] == {"route": "/api/cart"}
    assert requests_["description"] == "requests served"
    assert requests_["temporality"] == "cumulative" and requests_["is_monotonic"] is True
    assert requests_["data_points"][0]["value"] == 5
    assert 0 < requests_["data_points"][0]["start_time_unix_nano"] <= requests_["data_points"][0]["time_unix_nano"]
    lat = series["latency"]
    assert lat["kind"] == "histogram" and lat["points"][0][1] == (12.5 + 40 + 40 + 900) / 4
    d = lat["data_points"][0]
    # The SDK's default bounds: 0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, ...
    bounds = d["explicit_bounds"]
    assert bounds[:4] == [0.0, 5.0, 10.0, 25.0] and len(d["bucket_counts"]) == len(bounds) + 1
    assert d["bucket_counts"][bounds.index(25.0)] == 1 and d["bucket_counts"][bounds.index(50.0)] == 2
    assert (d["count"], d["sum"], d["min"], d["max"]) == (4, 992.5, 12.5, 900.0)
    assert 25.0 <= d["percentiles"]["50"] <= 50.0 and d["percentiles"]["99"] <= 900.0
    bad = requests.get(f"{server.api}/api/v1/metrics", params={"percentiles": "p99"})
    assert bad.status_code == 400 and "p99" in bad.text

    r = requests.get(f"{server.api}/api/v1/traces", params={"filter": f'service = "checkout-{kind}" and status = error'})
    assert [t["trace_id"] for t in r.json()["traces"]] == [trace_hex]
    tp.shutdown()
    lp.shutdown()
    mp.shutdown()


def test_bad_input_is_refused_clearly(server):
    base = f"http://127.0.0.1:{server.http}"
    r = requests.post(base + "/v1/traces", data=b"\xff\x00garbage", headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 400
    r = requests.post(base + "/v1/traces", data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "invalid OTLP/JSON" in r.json()["message"]
    r = requests.post(base + "/v1/traces", data=b"{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    body = ('{"resourceSpans":[{"scopeSpans":[{"spans":['
            '{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"ok",'
            '"startTimeUnixNano":"%d","endTimeUnixNano":"%d"},'
            '{"traceId":"abcd","spanId":"eee19b7ec3c1b175","name":"bad id","startTimeUnixNano":"%d"}]}]}]}'
            % (time.time_ns(), time.time_ns() + 1000, time.time_ns()))
    r = requests.post(base + "/v1/traces", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 200
    ps = r.json()["partialSuccess"]
    assert ps["rejectedSpans"] == "1" and "trace id" in ps["errorMessage"]
    r = requests.get(f"{server.api}/api/v1/traces/5b8efff798038103d269b633813fc60c")
    assert r.status_code == 200 and len(r.json()["spans"]) == 1
    r = requests.get(f"{server.api}/api/v1/traces", params={"filter": "status = borked"})
    assert r.status_code == 400 and "status" in r.json()["error"]
    r = requests.get(f"{server.api}/metrics")
    assert 'faultline_items_rejected_total{signal="spans"} 1' in r.text


def test_zipkin_v2_spans(server):
    now_us = time.time_ns() // 1000
    spans = [{"traceId": "86154a4ba6e91385", "id": "86154a4ba6e91385", "kind": "SERVER", "name": "get /",
              "timestamp": now_us, "duration": 2000, "localEndpoint": {"serviceName": "web", "ipv4": "10.1.1.1", "port": 80}},
             {"traceId": "86154a4ba6e91385", "id": "4d1e00c0db9010db", "parentId": "86154a4ba6e91385", "kind": "CLIENT",
              "name": "get /api", "timestamp": now_us + 100, "duration": 1500, "tags": {"error": "timeout"},
              "localEndpoint": {"serviceName": "web", "ipv4": "10.1.1.1", "port": 80},
              "remoteEndpoint": {"serviceName": "api", "ipv4": "10.1.1.2", "port": 9000}}]
    r = requests.post(f"{server.api}/api/v2/spans", json=spans)
    assert r.status_code == 202, r.text
    r = requests.get(f"{server.api}/api/v1/traces/000000000000000086154a4ba6e91385")
    got = r.json()["spans"]
    assert [s["name"] for s in got] == ["get /", "get /api"]
    assert got[1]["depth"] == 1 and got[1]["status_code"] == "error"
    assert got[0]["instance"] == "10.1.1.1:80"
    r = requests.post(f"{server.api}/api/v2/spans", json={"not": "an array"})
    assert r.status_code == 400
