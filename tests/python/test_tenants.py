"""Tenants by X-Scope-OrgID, end to end: what one tenant sends (OTLP/HTTP, OTLP/gRPC from the
OpenTelemetry SDK, Zipkin, Prometheus remote write, change events) is never visible to another, endpoint by endpoint; each
tenant is its own directory; ids that could leave that directory are refused; a token held to a
tenant reaches only it; a tenant past its rate gets a retryable refusal; and tenants survive a
restart."""

import os
import time

import grpc
import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from conftest import Server, remote_write_body

READS = [
    "/api/v1/traces", "/api/v1/spans", "/api/v1/logs", "/api/v1/metrics", "/api/v1/services",
    "/api/v1/changes", "/api/v1/status", "/api/v1/red", "/api/v1/map", "/api/v1/templates",
    "/api/v1/investigate", "/api/v1/postmortem", "/jaeger/api/services", "/jaeger/api/v3/services",
    "/jaeger/api/traces?service={svc}", "/jaeger/api/dependencies", "/metrics",
]
TENANTS = {"acme": "0a", "globex": "0b"}


def otlp(service, trace_hex, tenant_word):
    now = time.time_ns()
    attrs = [{"key": "service.name", "value": {"stringValue": service}}]
    return {
        "traces": {"resourceSpans": [{"resource": {"attributes": attrs}, "scopeSpans": [{"spans": [{
            "traceId": trace_hex * 16, "spanId": trace_hex * 8, "name": f"GET /{tenant_word}-op",
            "kind": 2, "startTimeUnixNano": str(now - 10**9), "endTimeUnixNano": str(now),
            "status": {"code": 2, "message": f"{tenant_word}-failure"}}]}]}]},
        "logs": {"resourceLogs": [{"resource": {"attributes": attrs}, "scopeLogs": [{"logRecords": [{
            "timeUnixNano": str(now), "severityText": "ERROR",
            "body": {"stringValue": f"{tenant_word}-secret-log line"}}]}]}]},
        "metrics": {"resourceMetrics": [{"resource": {"attributes": attrs}, "scopeMetrics": [{"metrics": [{
            "name": f"{tenant_word}_queue_depth", "gauge": {"dataPoints": [
                {"timeUnixNano": str(now), "asDouble": 3.0}]}}]}]}]},
    }


@pytest.fixture
def multi(binary, tmp_path, monkeypatch):
    cfg = tmp_path / "faultline.toml"
    cfg.write_text(
        "[[tokens]]\nname = \"acme-only\"\nscopes = [\"read\", \"ingest\"]\nsecret_env = \"ACME_TOKEN\"\n"
        "tenants = [\"acme\"]\n\n"
        "[[tokens]]\nname = \"root\"\nscopes = [\"admin\"]\nsecret_env = \"ROOT_TOKEN\"\n\n"
        "[tenants]\nmax_open = 8\n\n[tenants.limits.tiny]\ningest_rate = 5\n"
    )
    monkeypatch.setenv("ACME_TOKEN", "acme-secret")
    monkeypatch.setenv("ROOT_TOKEN", "root-secret")
    s = Server(binary, tmp_path / "data", ["--config", str(cfg)]).start()
    yield s
    s.stop()


def h(tenant=None, token="root-secret"):
    out = {"Authorization": f"Bearer {token}"}
    if tenant:
        out["X-Scope-OrgID"] = tenant
    return out


def send_all(s):
    for tenant, hexd in TENANTS.items():
        body = otlp(f"{tenant}-svc", hexd, tenant)
        for sig in ("traces", "logs", "metrics"):
            r = requests.post(f"http://127.0.0.1:{s.http}/v1/{sig}", json=body[sig], headers=h(tenant), timeout=30)
            assert r.status_code == 200, (tenant, sig, r.status_code, r.text)
        r = requests.post(s.api + "/api/v1/changes", headers=h(tenant), timeout=30, json={
            "id": f"{tenant}-deploy-1", "service": f"{tenant}-svc", "kind": "deploy", "description": f"{tenant} deploy"})
        assert r.status_code in (200, 201), r.text
        r = requests.post(s.api + "/api/v2/spans", headers=h(tenant), timeout=30, json=[{
            "traceId": hexd * 16, "id": "1" + hexd * 7 + "1", "name": f"{tenant}-zipkin-op",
            "timestamp": int(time.time() * 1e6), "duration": 1000, "localEndpoint": {"serviceName": f"{tenant}-zipkin"}}])
        assert r.status_code in (200, 202), r.text
        body = remote_write_body([({"__name__": f"{tenant}_prom_depth", "job": f"{tenant}-prom"},
                                   [(3.0, int(time.time() * 1000))])])
        r = requests.post(s.api + "/api/v1/write", data=body, timeout=30,
                          headers={**h(tenant), "Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"})
        assert r.status_code == 204, r.text
    # The SDK over gRPC, its tenant in the metadata.
    provider = TracerProvider(resource=Resource.create({"service.name": "acme-grpc"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
        endpoint=f"127.0.0.1:{s.grpc}", insecure=True,
        headers={"x-scope-orgid": "acme", "authorization": "Bearer root-secret"})))
    with provider.get_tracer("t").start_as_current_span("acme-grpc-op"):
        pass
    provider.shutdown()


def wait_visible(s, tenant, needle):
    deadline = time.time() + 20
    while time.time() < deadline:
        if needle in requests.get(s.api + "/api/v1/services", headers=h(tenant), timeout=30).text:
            return
        time.sleep(0.1)
    raise AssertionError(f"{needle} never visible to {tenant}")


def test_one_tenant_never_sees_another_endpoint_by_endpoint(multi):
    send_all(multi)
    wait_visible(multi, "acme", "acme-grpc")
    for tenant, other in (("acme", "globex"), ("globex", "acme"), (None, "acme"), (None, "globex")):
        own = 0
        for path in READS:
            r = requests.get(multi.api + path.format(svc=f"{tenant}-svc"), headers=h(tenant), timeout=60)
            # The default tenant holds nothing here: "nothing to investigate" is its honest answer.
            assert r.status_code == 200 or (tenant is None and r.status_code == 404), (tenant, path, r.status_code, r.text[:300])
            assert other not in r.text, (tenant, path, r.text[:500])
            own += tenant is not None and tenant in r.text
        if tenant:
            assert own >= 8, f"{tenant} saw its own data in only {own} reads"
    for tenant, hexd in TENANTS.items():
        other = "globex" if tenant == "acme" else "acme"
        own = requests.get(f"{multi.api}/api/v1/traces/{hexd * 16}", headers=h(tenant), timeout=30)
        assert own.status_code == 200 and tenant in own.text
        theirs = requests.get(f"{multi.api}/api/v1/traces/{TENANTS[other] * 16}", headers=h(tenant), timeout=30)
        assert theirs.status_code == 404, theirs.text
    for tenant in TENANTS:
        other = "globex" if tenant == "acme" else "acme"
        q = {"name": f"{tenant}_prom_depth", "from": "-1h"}
        own = requests.get(multi.api + "/api/v1/metrics", params=q, headers=h(tenant), timeout=30).json()["series"]
        assert [x["service"] for x in own] == [f"{tenant}-prom"], own
        theirs = requests.get(multi.api + "/api/v1/metrics", params=q, headers=h(other), timeout=30).json()["series"]
        assert theirs == [], theirs
    assert (multi.data_dir / "tenants" / "acme" / "wal").is_dir()
    assert (multi.data_dir / "tenants" / "globex" / "wal").is_dir()


def test_ids_that_could_leave_the_directory_are_refused(multi):
    for bad in ("../etc", "..", "a/b", ".hidden", "a|b", "x" * 65):
        r = requests.get(multi.api + "/api/v1/services", headers=h(bad), timeout=30)
        assert r.status_code == 400, (bad, r.status_code, r.text)
        assert "x-scope-orgid" in r.text.lower()
    assert not (multi.data_dir / "etc").exists()
    tenants = multi.data_dir / "tenants"
    assert not tenants.exists() or not any(tenants.iterdir()), list(tenants.iterdir())


def test_a_token_held_to_a_tenant_reaches_only_it(multi):
    ok = requests.get(multi.api + "/api/v1/services", headers=h("acme", "acme-secret"), timeout=30)
    assert ok.status_code == 200
    for tenant in ("globex", None):
        r = requests.get(multi.api + "/api/v1/services", headers=h(tenant, "acme-secret"), timeout=30)
        assert r.status_code == 403 and "acme" in r.json()["error"], r.text
    body = otlp("x", "0c", "x")["traces"]
    r = requests.post(f"http://127.0.0.1:{multi.http}/v1/traces", json=body, headers=h("globex", "acme-secret"), timeout=30)
    assert r.status_code == 403


def test_a_tenant_past_its_rate_is_refused_retryably_and_others_are_not(multi):
    url = f"http://127.0.0.1:{multi.http}/v1/traces"
    body = otlp("tiny-svc", "0d", "tiny")["traces"]
    codes = [requests.post(url, json=body, headers=h("tiny"), timeout=30) for _ in range(30)]
    refused = [r for r in codes if r.status_code == 429]
    assert refused, [r.status_code for r in codes]
    assert int(refused[0].headers["retry-after"]) >= 1
    assert all(r.status_code in (200, 429) for r in codes)
    # Another tenant is not slowed by it.
    for _ in range(30):
        assert requests.post(url, json=otlp("acme-svc", "0a", "acme")["traces"], headers=h("acme"), timeout=30).ok
    # gRPC says RESOURCE_EXHAUSTED, which OTLP clients retry.
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
    from opentelemetry.proto.trace.v1 import trace_pb2
    span = trace_pb2.Span(trace_id=b"\x0e" * 16, span_id=b"\x0e" * 8, name="x",
                          start_time_unix_nano=time.time_ns(), end_time_unix_nano=time.time_ns())
    req = trace_service_pb2.ExportTraceServiceRequest(resource_spans=[trace_pb2.ResourceSpans(
        scope_spans=[trace_pb2.ScopeSpans(spans=[span])])])
    stub = trace_service_pb2_grpc.TraceServiceStub(grpc.insecure_channel(f"127.0.0.1:{multi.grpc}"))
    md = (("x-scope-orgid", "tiny"), ("authorization", "Bearer root-secret"))
    codes = []
    for _ in range(30):
        try:
            stub.Export(req, metadata=md, timeout=10)
            codes.append("OK")
        except grpc.RpcError as e:
            codes.append(e.code().name)
    assert "RESOURCE_EXHAUSTED" in codes, codes
    count = requests.get(multi.api + "/metrics", headers=h("tiny"), timeout=30).text
    assert "faultline_requests_rate_limited_total" in count


def test_tenants_survive_a_restart(multi):
    send_all(multi)
    wait_visible(multi, "globex", "globex-svc")
    multi.stop(kill=True)
    multi.start()
    r = requests.get(multi.api + "/api/v1/services", headers=h("globex"), timeout=30)
    assert "globex-svc" in r.text and "acme" not in r.text, r.text
