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


def test_jaeger_api_v3(server):
    """The api_v3 gateway every Jaeger UI since 2.15 reads: services, operations with span kind,
    a trace by id and a search as OTLP/JSON in {"result": ...}, and (UI 2.19+) trace summaries."""
    trace_id = send_trace(server)
    base = f"{server.api}/jaeger/api/v3"
    assert requests.get(f"{base}/services").json() == {"services": ["db", "web"]}
    ops = requests.get(f"{base}/operations", params={"service": "db"}).json()
    assert ops == {"operations": [{"name": "SELECT cart", "spanKind": "client"}]}
    assert requests.get(f"{base}/operations", params={"service": "db", "span_kind": "server"}).json() == {"operations": []}

    t = requests.get(f"{base}/traces/{trace_id}").json()["result"]
    spans = [s for rs in t["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    by_name = {s["name"]: s for s in spans}
    child, root = by_name["SELECT cart"], by_name["GET /cart"]
    assert child["traceId"] == trace_id and child["parentSpanId"] == root["spanId"]
    assert child["kind"] == 3 and child["status"]["code"] == 2
    assert int(root["endTimeUnixNano"]) >= int(child["endTimeUnixNano"])
    services = {a["value"]["stringValue"] for rs in t["resourceSpans"] for a in rs["resource"]["attributes"]
                if a["key"] == "service.name"}
    assert services == {"db", "web"}

    window = {"query.start_time_min": "2000-01-01T00:00:00Z", "query.start_time_max": "2100-01-01T00:00:00.000000001Z"}
    found = requests.get(f"{base}/traces", params={**window, "query.service_name": "db", "query.num_traces": 5}).json()
    assert {s["traceId"] for rs in found["result"]["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]} == {trace_id}
    posted = requests.post(f"{base}/traces", json={"query": {"serviceName": "db", "startTimeMin": window["query.start_time_min"],
                                                             "startTimeMax": window["query.start_time_max"]}}).json()
    assert posted == found

    # The search of Jaeger UI 2.19+: the span name, the tags as JSON, the limit as num_traces.
    summaries = requests.get(f"{base}/trace-summaries", params={
        **window, "query.service_name": "web", "query.span_name": "GET /cart", "query.num_traces": 20,
        "query.attributes": json.dumps({"http.response.status_code": "500"})}).json()["summaries"]
    assert len(summaries) == 1
    s = summaries[0]
    assert s["traceId"] == trace_id and s["rootServiceName"] == "web" and s["rootOperationName"] == "GET /cart"
    assert s["spanCount"] == 2 and s["errorSpanCount"] == 1 and s["orphanSpanCount"] == 0
    assert int(s["maxEndTimeUnixNano"]) > int(s["minStartTimeUnixNano"])
    assert s["services"] == [{"name": "db", "spanCount": 1, "errorSpanCount": 1},
                             {"name": "web", "spanCount": 1, "errorSpanCount": 0}]
    none = requests.get(f"{base}/trace-summaries", params={**window, "query.duration_min": "1h30m"}).json()
    assert none == {"summaries": []}

    deps = requests.get(f"{base}/dependencies", params={"start_time": window["query.start_time_min"],
                                                       "end_time": window["query.start_time_max"]}).json()
    assert deps == {"dependencies": [{"parent": "web", "child": "db", "callCount": "1"}]}

    # Errors in the gateway's shape, with the parameter named.
    missing = requests.get(f"{base}/traces/{'0' * 31}1")
    assert missing.status_code == 404 and missing.json()["error"]["httpCode"] == 404
    bad = requests.get(f"{base}/traces", params={"query.service_name": "db"})
    assert bad.status_code == 400 and "query.start_time_min" in bad.json()["error"]["message"]
    assert bad.json()["error"]["grpcCode"] == 3
    bad = requests.get(f"{base}/trace-summaries", params={**window, "query.duration_min": "soon"})
    assert bad.status_code == 400 and "query.duration_min" in bad.json()["error"]["message"]
    nothing = requests.get(f"{base}/traces", params={**window, "query.service_name": "nobody"})
    assert nothing.status_code == 404 and nothing.json()["error"]["message"] == "No traces found"
