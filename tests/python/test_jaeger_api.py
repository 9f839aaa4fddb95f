"""The Jaeger query API under /jaeger/api answers in the shape the Jaeger UI and Grafana's Jaeger
data source read, for spans sent by the OpenTelemetry SDK; Jaeger JSON files import."""

import json
import subprocess

import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode


def send_trace(server):
    def provider(service):
        tp = TracerProvider(resource=Resource.create({"service.name": service}))
        tp.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{server.http}/v1/traces")))
        return tp
    web, db = provider("web"), provider("db")
    with web.get_tracer("t").start_as_current_span("GET /cart", kind=SpanKind.SERVER,
                                                   attributes={"http.response.status_code": 500}) as root:
        with db.get_tracer("t").start_as_current_span("SELECT cart", kind=SpanKind.CLIENT) as child:
            child.set_status(Status(StatusCode.ERROR, "deadlock"))
    web.force_flush()
    db.force_flush()
    return format(root.get_span_context().trace_id, "032x")


def test_jaeger_query_api(server):
    trace_id = send_trace(server)
    base = f"{server.api}/jaeger/api"
    assert requests.get(f"{base}/services").json()["data"] == ["db", "web"]
    assert requests.get(f"{base}/services/web/operations").json()["data"] == ["GET /cart"]
    ops = requests.get(f"{base}/operations", params={"service": "db", "spanKind": "client"}).json()["data"]
    assert ops == [{"name": "SELECT cart", "spanKind": "client"}]

    t = requests.get(f"{base}/traces/{trace_id}").json()["data"][0]
    assert t["traceID"] == trace_id
    by_name = {s["operationName"]: s for s in t["spans"]}
    child, root = by_name["SELECT cart"], by_name["GET /cart"]
    assert child["references"] == [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": root["spanID"]}]
    assert t["processes"][child["processID"]]["serviceName"] == "db"
    tags = {x["key"]: x for x in child["tags"]}
    assert tags["error"]["value"] is True and tags["span.kind"]["value"] == "client"
    assert isinstance(root["startTime"], int) and root["duration"] >= child["duration"]

    found = requests.get(f"{base}/traces", params={"service": "web", "tags": json.dumps({"http.response.status_code": "500"}),
                                                   "limit": 5, "lookback": "1h"}).json()["data"]
    assert [x["traceID"] for x in found] == [trace_id]
    assert requests.get(f"{base}/traces", params={"service": "web", "minDuration": "1h"}).json()["data"] == []
    deps = requests.get(f"{base}/dependencies", params={"endTs": 99999999999999, "lookback": 99999999999999}).json()["data"]
    assert deps == [{"parent": "web", "child": "db", "callCount": 1}]
    assert requests.get(f"{base}/traces/zz").status_code == 400
    assert requests.get(f"{base}/traces/{'0' * 31}1").status_code == 404

    # Compare links and /search?traceID=: every id asked for, whatever else is newer.
    other = send_trace(server)
    missing = "0" * 31 + "1"
    r = requests.get(f"{base}/traces?traceID={trace_id}&traceID={other}&traceID={missing}").json()
    assert [x["traceID"] for x in r["data"]] == [trace_id, other]
    assert [e["code"] for e in r["errors"]] == [404]

    # Errors in Jaeger's shape, which Jaeger UI shows as a message.
    bad = requests.get(f"{base}/traces/zz")
    assert bad.json()["errors"][0]["code"] == 400 and "zz" in bad.json()["errors"][0]["msg"]
    unknown = requests.get(f"{base}/no-such-route")
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["code"] == 404


def test_jaeger_json_imports(server, binary, tmp_path):
    trace_id = send_trace(server)
    exported = requests.get(f"{server.api}/jaeger/api/traces/{trace_id}").json()
    path = tmp_path / "jaeger-export.json"
    path.write_text(json.dumps(exported))
    data = tmp_path / "imported"
    out = subprocess.run([binary, "import", "--data-dir", str(data), str(path)], capture_output=True, text=True, check=True)
    assert "2 spans imported (Jaeger JSON)" in out.stdout, out.stdout
    got = subprocess.run([binary, "traces", "get", trace_id, "--data-dir", str(data), "--format", "json"],
                         capture_output=True, text=True, check=True)
    spans = json.loads(got.stdout)["spans"]
    assert {s["name"] for s in spans} == {"GET /cart", "SELECT cart"}
    assert spans[1]["status_code"] == "error" and spans[1]["status_message"] == "deadlock"
