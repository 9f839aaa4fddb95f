"""Segments on S3-compatible object storage (`faultline serve --storage s3://bucket/prefix`), against
a real S3 server on loopback (moto's server mode), behind a proxy that throttles: every few requests
get S3's `503 SlowDown`, which faultline must retry with backoff. Spans sent through the
OpenTelemetry SDK land in the bucket as Parquet segments, are found again by trace id, and survive
kill -9 (the write-ahead log stays on local disk)."""

import http.client
import http.server
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest
import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from conftest import Server, free_port

BUCKET = "faultline-test"
PREFIX = "prod/eu"
# One request in THROTTLE_EVERY is refused with 503 SlowDown, as S3 does past a prefix's rate.
THROTTLE_EVERY = 4


class ThrottlingProxy(http.server.ThreadingHTTPServer):
    """Forwards to the S3 server, answering every THROTTLE_EVERY-th request `503 SlowDown`."""

    def __init__(self, upstream_port):
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        self.upstream_port = upstream_port
        self.count = 0
        self.throttled = 0
        self.lock = threading.Lock()

    @property
    def port(self):
        return self.server_address[1]


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _forward(self):
        length = int(self.headers.get("Content-Length", 0) or 0)
        body = self.rfile.read(length) if length else None
        with self.server.lock:
            self.server.count += 1
            throttle = self.server.count % THROTTLE_EVERY == 0
            self.server.throttled += throttle
        if throttle:
            msg = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            self.send_response(503)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)
            return
        conn = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
        except OSError:  # the S3 server is gone (the test is ending): a gateway error, retried
            self.send_response(502)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward


@pytest.fixture
def s3():
    """A moto S3 server on loopback with the bucket made, and a throttling proxy before it."""
    port = free_port()
    moto = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except requests.ConnectionError:
            assert time.time() < deadline, "moto_server did not come up"
            time.sleep(0.1)
    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    client.create_bucket(Bucket=BUCKET)
    proxy = ThrottlingProxy(port)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    yield client, proxy
    proxy.shutdown()
    proc.terminate()
    proc.wait(timeout=10)


def aws_env(proxy, tmp_path):
    """Endpoint and region from the environment, credentials from a shared credentials file."""
    creds = tmp_path / "aws-credentials"
    creds.write_text("[faultline]\naws_access_key_id = test\naws_secret_access_key = test\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{proxy.port}", AWS_REGION="us-east-1",
               AWS_SHARED_CREDENTIALS_FILE=str(creds), AWS_PROFILE="faultline")
    return env


def segments_in_bucket(client, table):
    r = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/{table}/")
    return [o["Key"] for o in r.get("Contents", []) if o["Key"].endswith(".parquet")]


def send_with_sdk(server, n_traces):
    """`n_traces` traces of three spans from the OpenTelemetry SDK; their trace ids."""
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{server.http}/v1/traces")))
    tracer = provider.get_tracer("test-s3")
    ids = []
    for i in range(n_traces):
        with tracer.start_as_current_span("POST /orders") as root:
            ids.append(format(root.get_span_context().trace_id, "032x"))
            with tracer.start_as_current_span("charge"):
                with tracer.start_as_current_span("SELECT orders"):
                    pass
    assert provider.force_flush(30_000)
    provider.shutdown()
    return ids


def wait_for(cond, what, timeout=60):
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def span_rows(server):
    return requests.get(server.api + "/api/v1/status", timeout=30).json()["tables"]["spans"]["rows"]


def test_segments_live_in_the_bucket_through_throttling_and_kill_9(binary, tmp_path, s3):
    client, proxy = s3
    env = aws_env(proxy, tmp_path)
    args = ["--storage", f"s3://{BUCKET}/{PREFIX}", "--flush-interval", "1s"]
    server = Server(binary, tmp_path / "data", args, env=env).start()
    ids = send_with_sdk(server, 200)
    wait_for(lambda: segments_in_bucket(client, "spans"), "a segment in the bucket")
    wait_for(lambda: server_head_rows(server) == 0, "the head flushed")
    assert not (tmp_path / "data" / "segments").exists(), "segments went to the bucket, not the disk"
    assert span_rows(server) == 600
    trace = requests.get(f"{server.api}/api/v1/traces/{ids[17]}", timeout=30)
    assert trace.ok and len(trace.json()["spans"]) == 3, trace.text[:300]
    # Acknowledged but not flushed yet when the process dies: the local log brings them back.
    server.stop()
    server = Server(binary, tmp_path / "data", ["--storage", f"s3://{BUCKET}/{PREFIX}", "--flush-interval", "1h"],
                    env=env).start()
    send_with_sdk(server, 50)
    assert span_rows(server) == 750
    server.stop(kill=True)
    server = Server(binary, tmp_path / "data", args, env=env).start()
    assert span_rows(server) == 750, "every acknowledged span once, after kill -9"
    wait_for(lambda: server_head_rows(server) == 0, "the replayed head flushed")
    server.stop()
    # A fresh data directory on another machine sees every flushed segment from the bucket alone.
    other = Server(binary, tmp_path / "other", args, env=env).start()
    assert span_rows(other) == 750
    other.stop()
    assert proxy.throttled > 0, "the proxy never throttled: the retry path went untested"


def server_head_rows(server):
    return requests.get(server.api + "/api/v1/status", timeout=30).json()["head_rows"]


def test_a_missing_bucket_is_a_clear_error_at_start(binary, tmp_path, s3):
    _, proxy = s3
    env = aws_env(proxy, tmp_path)
    proc = subprocess.run([binary, "serve", "--data-dir", str(tmp_path / "d"), "--storage", "s3://no-such-bucket/x",
                           "--api-addr", f"127.0.0.1:{free_port()}", "--grpc-addr", "off", "--otlp-http-addr", "off"],
                          env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode != 0
    assert "s3://no-such-bucket/x" in proc.stderr and "NoSuchBucket" in proc.stderr, proc.stderr[-2000:]


def test_a_bad_storage_url_is_refused_with_what_to_write(binary, tmp_path):
    proc = subprocess.run([binary, "serve", "--data-dir", str(tmp_path / "d"), "--storage", "gs://bucket/x"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "s3://bucket/prefix" in proc.stderr, proc.stderr


def test_three_nodes_over_one_bucket_give_one_answer(binary, tmp_path, s3):
    """Three nodes on loopback over one bucket, each sent one service's telemetry by the SDK (as a
    collector fanning out would). One is killed -9 before it flushed. Every node then holds every
    acknowledged span once, and investigating through any of them names the same cause."""
    _, proxy = s3
    env = aws_env(proxy, tmp_path)
    common = ["--storage", f"s3://{BUCKET}/cluster", "--refresh-interval", "1s", "--compact-interval", "2s"]
    nodes = [Server(binary, tmp_path / f"node{i}", common, env=env) for i in range(3)]
    for i, n in enumerate(nodes):
        others = ",".join(m.api for m in nodes if m is not n)
        n.extra_args += ["--peers", others, "--flush-interval", "1s" if i != 1 else "1h"]
    try:
        for n in nodes:
            n.start()
        check_three_nodes(binary, nodes, env, tmp_path)
    finally:
        for n in nodes:
            n.stop()


def catalog_spans(node):
    """The spans of `catalog` a search on `node` finds, and the peers it says it could not reach."""
    r = requests.get(node.api + "/api/v1/spans", params={"filter": 'service = "catalog"', "limit": 1}, timeout=60)
    assert r.ok, r.text
    return r.json()["total"], r.headers.get("faultline-unreachable-peers")


def check_three_nodes(binary, nodes, env, tmp_path):
    from test_sdk_incident import MINUTES, RPS, investigate, send_incident
    sent_to = {"storefront": nodes[0], "catalog": nodes[1], "ledger": nodes[2]}
    send_incident(None, server_of=sent_to.get)
    # catalog's spans are acknowledged by node 1 and only in its head and log (it flushes hourly):
    # the other nodes read them through its API.
    assert span_rows(nodes[1]) > 0 and server_head_rows(nodes[1]) == span_rows(nodes[1])
    catalog = MINUTES * 60 * RPS
    assert catalog_spans(nodes[0]) == (catalog, None)
    assert catalog_spans(nodes[2]) == (catalog, None)
    # It dies before any flush: the others answer without its rows, and say whom they missed.
    nodes[1].stop(kill=True)
    total, unreachable = catalog_spans(nodes[0])
    assert total == 0 and unreachable == nodes[1].api, (total, unreachable)
    old = nodes[1]
    nodes[1] = Server(binary, tmp_path / "node1", ["1s" if a == "1h" else a for a in old.extra_args], env=env)
    nodes[1].grpc, nodes[1].http, nodes[1].api_port = old.grpc, old.http, old.api_port
    nodes[1].start()
    expected = MINUTES * 60 * RPS * 5  # a root, and a call and its answer for each of two services
    for n in nodes:
        wait_for(lambda: span_rows(n) == expected and server_head_rows(n) == 0, f"every span on {n.api}", timeout=120)
    answers = [investigate(binary, n) for n in nodes]
    top = [(a["root_causes"][0]["service"], a["root_causes"][0]["instance"]) for a in answers]
    assert top == [("ledger", "led-2")] * 3, top
    ranked = [[(c["service"], c.get("instance"), c["confidence"]) for c in a["root_causes"]] for a in answers]
    assert ranked[0] == ranked[1] == ranked[2], ranked
    # More small segments from every node, then compaction: on the lease holder alone, and no span
    # lost or doubled on any node once the others have taken the merged segment up.
    for _ in range(2):
        for n in nodes:
            send_with_sdk(n, 20)
        for n in nodes:
            wait_for(lambda: server_head_rows(n) == 0, "a flush")
    expected += 2 * 3 * 20 * 3
    status = lambda n: requests.get(n.api + "/api/v1/status", timeout=30).json()
    wait_for(lambda: sum(status(n)["compactions"] for n in nodes) > 0, "a compaction", timeout=60)
    for n in nodes:
        wait_for(lambda: span_rows(n) == expected, f"every span once on {n.api} after compaction", timeout=60)
    compacting = [status(n)["compactions"] for n in nodes]
    print(f"\nthree nodes: compactions per node {compacting}, segments seen {[status(n)['segments'] for n in nodes]}")
    assert sum(c > 0 for c in compacting) == 1, compacting
