"""Tokens with scopes, end to end: every receiver and read of a server with tokens refuses a
missing or unknown token (401) and a token without the scope (403); the OpenTelemetry SDK sends with
its headers over HTTP and gRPC; the CLI sends FAULTLINE_TOKEN; secrets never reach the log; and a
server on a non-loopback address without tokens refuses to start unless told --insecure."""

import hashlib
import os
import subprocess
import time
from pathlib import Path

import pytest
import requests
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from conftest import Server, free_port

INGEST, READ, ADMIN = "ingest-secret-0a1b", "read-secret-2c3d", "admin-secret-4e5f"

READS = [
    "/api/v1/traces", "/api/v1/spans", "/api/v1/logs", "/api/v1/metrics", "/api/v1/services",
    "/api/v1/changes", "/api/v1/status", "/api/v1/red", "/api/v1/map", "/api/v1/templates",
    "/jaeger/api/services", "/jaeger/api/v3/services", "/metrics",
]
SPAN = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "auth-test"}}]},
                           "scopeSpans": [{"spans": [{"traceId": "5b8efff798038103d269b633813fc60c",
                                                      "spanId": "eee19b7ec3c1b174", "name": "GET /",
                                                      "startTimeUnixNano": str(time.time_ns() - 10**9),
                                                      "endTimeUnixNano": str(time.time_ns())}]}]}]}
WRITES = [
    ("/v1/traces", SPAN),
    ("/api/v1/changes", {"id": "auth-deploy-1", "service": "auth-test", "kind": "deploy", "description": "d"}),
    ("/api/v2/spans", [{"traceId": "5b8efff798038103d269b633813fc60d", "id": "eee19b7ec3c1b175", "name": "get",
                        "timestamp": int(time.time() * 1e6), "duration": 1000,
                        "localEndpoint": {"serviceName": "auth-zipkin"}}]),
]


@pytest.fixture
def secured(binary, tmp_path):
    cfg = tmp_path / "faultline.toml"
    cfg.write_text(
        "[server]\nretention = \"7d\"\n\n"
        f"[[tokens]]\nname = \"collector\"\nscopes = [\"ingest\"]\nsha256 = \"{hashlib.sha256(INGEST.encode()).hexdigest()}\"\n\n"
        "[[tokens]]\nname = \"oncall\"\nscopes = [\"read\"]\nsecret_env = \"ONCALL_TOKEN\"\n"
    )
    env = {**os.environ, "ONCALL_TOKEN": READ, "FAULTLINE_TOKENS": f"root:admin:{ADMIN}", "FAULTLINE_LOG": "debug"}
    s = Server(binary, tmp_path / "data", ["--config", str(cfg)])
    old = os.environ.copy()
    os.environ.update(env)
    try:
        s.start()
    finally:
        os.environ.clear()
        os.environ.update(old)
    yield s
    s.stop()


def bearer(t):
    return {"Authorization": f"Bearer {t}"}


def test_every_endpoint_refuses_missing_wrong_and_unscoped_tokens(secured):
    api = secured.api
    for path in READS:
        r = requests.get(api + path, timeout=30)
        assert r.status_code == 401, (path, r.status_code, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert requests.get(api + path, headers=bearer("nope"), timeout=30).status_code == 401, path
        assert requests.get(api + path, headers=bearer(INGEST), timeout=30).status_code == 403, path
        for t in (READ, ADMIN):
            r = requests.get(api + path, headers=bearer(t), timeout=30)
            assert r.status_code == 200, (path, r.status_code, r.text)
    for path, body in WRITES:
        for base in (api, f"http://127.0.0.1:{secured.http}"):
            assert requests.post(base + path, json=body, timeout=30).status_code == 401, path
            assert requests.post(base + path, json=body, headers=bearer("nope"), timeout=30).status_code == 401
            assert requests.post(base + path, json=body, headers=bearer(READ), timeout=30).status_code == 403, path
            r = requests.post(base + path, json=body, headers=bearer(INGEST), timeout=30)
            assert r.status_code in (200, 201, 202), (path, r.status_code, r.text)
    # What anyone may see: health and the UI's own files (its data comes through the reads above).
    assert requests.get(api + "/healthz", timeout=10).status_code == 200
    assert requests.get(api + "/", timeout=10).status_code == 200


@pytest.mark.parametrize("kind", ["http", "grpc"])
def test_the_sdk_sends_with_its_headers(secured, kind):
    if kind == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        def exporter(token):
            h = (("authorization", f"Bearer {token}"),) if token else None
            return OTLPSpanExporter(endpoint=f"127.0.0.1:{secured.grpc}", insecure=True, headers=h)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        def exporter(token):
            h = {"authorization": f"Bearer {token}"} if token else None
            return OTLPSpanExporter(endpoint=f"http://127.0.0.1:{secured.http}/v1/traces", headers=h)
    from opentelemetry.sdk.trace.export import SpanExportResult
    for token, service, ok in [(None, f"anon-{kind}", False), (READ, f"reader-{kind}", False), (INGEST, f"sdk-{kind}", True)]:
        exp = exporter(token)
        tp = TracerProvider(resource=Resource.create({"service.name": service}))
        spans = []

        class Keep(SimpleSpanProcessor):
            def on_end(self, span):
                spans.append(span)
        tp.add_span_processor(Keep(exp))
        with tp.get_tracer("t").start_as_current_span("op"):
            pass
        result = exp.export(spans)
        assert (result == SpanExportResult.SUCCESS) == ok, (kind, token, result)
        tp.shutdown()
    found = requests.get(secured.api + "/api/v1/services", headers=bearer(READ), timeout=30).json()
    names = {s["name"] for s in found["services"]}
    assert f"sdk-{kind}" in names and f"anon-{kind}" not in names and f"reader-{kind}" not in names


def test_the_cli_sends_faultline_token(secured, binary):
    env = {**os.environ, "FAULTLINE_SERVER": secured.api}
    r = subprocess.run([binary, "status"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode != 0 and "token" in r.stderr.lower(), r.stderr
    r = subprocess.run([binary, "status"], capture_output=True, text=True, env={**env, "FAULTLINE_TOKEN": READ}, timeout=60)
    assert r.returncode == 0, r.stderr


def test_secrets_never_reach_the_log(secured):
    for t in (INGEST, READ, ADMIN, "wrong-secret-9z"):
        requests.get(secured.api + "/api/v1/status", headers=bearer(t), timeout=30)
        requests.post(secured.api + "/v1/traces", json=SPAN, headers=bearer(t), timeout=30)
    secured.stop()
    log = secured.proc.stderr.read().decode()
    for t in (INGEST, READ, ADMIN, "wrong-secret-9z"):
        assert t not in log


def wait_up(port):
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return
        except requests.ConnectionError:
            time.sleep(0.05)
    raise AssertionError(f"the server on port {port} did not come up")


def test_an_exposed_server_needs_tokens_or_insecure(binary, tmp_path):
    port = free_port()
    args = [binary, "serve", "--data-dir", str(tmp_path / "d"), "--api-addr", f"0.0.0.0:{port}",
            "--grpc-addr", "off", "--otlp-http-addr", "off"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "refusing to serve" in r.stderr and "--insecure" in r.stderr, r.stderr
    p = subprocess.Popen(args + ["--insecure"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_up(port)
    finally:
        p.terminate()
        p.wait(timeout=30)
    assert "warning" in p.stderr.read().decode()
    # With a token from the environment, the same address serves without --insecure.
    q = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env={**os.environ, "FAULTLINE_TOKENS": f"ops:admin:{ADMIN}"})
    try:
        wait_up(port)
        assert requests.get(f"http://127.0.0.1:{port}/api/v1/status", timeout=5).status_code == 401
        assert requests.get(f"http://127.0.0.1:{port}/api/v1/status", headers=bearer(ADMIN), timeout=5).ok
    finally:
        q.terminate()
        q.wait(timeout=30)


def test_config_check_names_the_line(binary, tmp_path):
    good = tmp_path / "good.toml"
    good.write_text("[server]\napi_addr = \"127.0.0.1:9999\"\n")
    r = subprocess.run([binary, "config", "check", str(good)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\napi_addr = \"127.0.0.1:9999\"\nretention = \"forever\"\n")
    r = subprocess.run([binary, "config", "check", str(bad)], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "line 3" in r.stderr, r.stderr
    r = subprocess.run([binary, "token", "new", "--name", "ci", "--scope", "ingest"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "sha256 = " in r.stdout


def test_remote_write_takes_the_ingest_scope(secured):
    """Prometheus remote write (a snappy protobuf body: the fuzz corpus's hand-encoded seed) is a
    write like the others: no token, a wrong one or a read token is refused, ingest is taken."""
    body = (Path(__file__).resolve().parents[2] / "fuzz" / "corpus" / "remote_write" / "write_request").read_bytes()
    headers = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"}
    url = secured.api + "/api/v1/write"
    assert requests.post(url, data=body, headers=headers, timeout=30).status_code == 401
    for token, status in (("nope", 401), (READ, 403), (INGEST, 204)):
        r = requests.post(url, data=body, headers={**headers, **bearer(token)}, timeout=30)
        assert r.status_code == status, (token, r.status_code, r.text)
