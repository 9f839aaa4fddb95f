"""The segments are an open format: other engines read them from the bucket and count what faultline
counts. Spans from the OpenTelemetry SDK (server spans of three services, some failed, with known
durations) go to `faultline serve --storage s3://...` on a moto S3 server; once flushed, DuckDB and
ClickHouse's embedded engine (chdb), both from PyPI, read the Parquet segments straight from the
bucket and count the spans, the errors per service and the p99 per operation and per service, and
agree with faultline's own API and with what was sent. They also filter on span attributes, typed
in the segments (an integer HTTP status, a string route), without parsing any JSON.

DuckDB reaches the bucket through pyarrow's S3 filesystem: its own `httpfs` extension is downloaded at
run time from extensions.duckdb.org, which this machine's network does not reach. chdb reads with
ClickHouse's built-in `s3()` table function. Both read the moto server directly, not through the
throttling proxy faultline writes through."""

import random
import time

import chdb
import duckdb
import pyarrow.dataset as ds
import pyarrow.fs
import requests
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from conftest import Server
from test_s3 import BUCKET, aws_env, s3, server_head_rows, wait_for  # noqa: F401 (s3 is a fixture)

PREFIX = "open"
# (service, operation, requests, share failed): counts chosen so that no p99 rank falls on a half
# ((n - 1) * 0.99 is never k + 0.5), where engines round differently.
OPERATIONS = [
    ("checkout", "POST /orders", 120, 0.10),
    ("checkout", "GET /orders/{id}", 75, 0.0),
    ("payments", "Charge", 90, 0.2),
    ("catalog", "GET /products", 150, 0.02),
]


def nearest_rank(values, p):
    """faultline's quantile: the value at rank round((n - 1) p) of the sorted values."""
    v = sorted(values)
    return v[int((len(v) - 1) * p + 0.5)]


def send(server):
    """The spans of OPERATIONS, each with a drawn duration; what was sent, per (service, operation)."""
    rng = random.Random(7)
    sent = {}
    t0 = time.time_ns() - 20 * 60 * 10**9
    providers = {}
    for service, op, n, failed in OPERATIONS:
        if service not in providers:
            p = TracerProvider(resource=Resource.create({"service.name": service}))
            p.add_span_processor(BatchSpanProcessor(
                OTLPSpanExporter(endpoint=f"http://127.0.0.1:{server.http}/v1/traces")))
            providers[service] = p
        tracer = providers[service].get_tracer("test-open-format")
        durations, errors = [], 0
        for k in range(n):
            start = t0 + k * 5 * 10**9 + rng.randrange(10**9)
            dur = int(rng.lognormvariate(17, 0.8))  # about 24 ms at the median, a long tail
            span = tracer.start_span(op, kind=SpanKind.SERVER, start_time=start)
            span.set_attribute("http.route", op)
            if rng.random() < failed:
                span.set_status(Status(StatusCode.ERROR, "failed"))
                span.set_attribute("http.response.status_code", 500)
                errors += 1
            else:
                span.set_attribute("http.response.status_code", 200)
            span.end(end_time=start + dur)
            durations.append(dur)
        sent[(service, op)] = (durations, errors)
    for p in providers.values():
        assert p.force_flush(30_000)
        p.shutdown()
    return sent


def expected(sent):
    """Spans, errors and p99 per service, and p99 per operation, from what was sent."""
    per_service = {}
    for (service, _), (durations, errors) in sent.items():
        d, e = per_service.get(service, ([], 0))
        per_service[service] = (d + durations, e + errors)
    services = {s: (len(d), e, nearest_rank(d, 0.99)) for s, (d, e) in per_service.items()}
    operations = {k: nearest_rank(d, 0.99) for k, (d, _) in sent.items()}
    return services, operations


# The same three questions in each engine's SQL over the spans table. status_code 2 is OTLP's
# STATUS_CODE_ERROR; the p99 is faultline's nearest rank (arrays are 1-based in both).
DUCKDB_SERVICES = """
    select service_name, count(*)::bigint, count(*) filter (where status_code = 2)::bigint,
           list_sort(list(duration_ns))[round((count(*) - 1) * 0.99)::bigint + 1]
    from spans group by service_name order by service_name"""
DUCKDB_OPERATIONS = """
    select service_name, name, list_sort(list(duration_ns))[round((count(*) - 1) * 0.99)::bigint + 1]
    from spans group by service_name, name order by service_name, name"""
# Attributes are typed in segments (a map of key to typed slots): each engine filters on them
# directly, without parsing JSON. Failed spans carry HTTP status 500, an integer.
DUCKDB_TYPED = """
    select service_name, count(*) filter (where attributes_typed['http.response.status_code'].int = 500)::bigint,
           count(distinct attributes_typed['http.route'].str)::bigint
    from spans group by service_name order by service_name"""
CLICKHOUSE_TYPED = """
    select service_name, countIf(attributes_typed['http.response.status_code'].int = 500),
           uniqExact(attributes_typed['http.route'].str)
    from {src} group by service_name order by service_name"""
CLICKHOUSE_SERVICES = """
    select service_name, count(), countIf(status_code = 2),
           arraySort(groupArray(duration_ns))[toUInt64(round((count() - 1) * 0.99)) + 1]
    from {src} group by service_name order by service_name"""
CLICKHOUSE_OPERATIONS = """
    select service_name, name, arraySort(groupArray(duration_ns))[toUInt64(round((count() - 1) * 0.99)) + 1]
    from {src} group by service_name, name order by service_name, name"""


def read_with_duckdb(moto_port):
    fs = pyarrow.fs.S3FileSystem(access_key="test", secret_key="test", region="us-east-1",
                                 endpoint_override=f"127.0.0.1:{moto_port}", scheme="http")
    con = duckdb.connect()
    con.register("spans", ds.dataset(f"{BUCKET}/{PREFIX}/spans/", filesystem=fs, format="parquet"))
    services = {r[0]: (r[1], r[2], r[3]) for r in con.execute(DUCKDB_SERVICES).fetchall()}
    operations = {(r[0], r[1]): r[2] for r in con.execute(DUCKDB_OPERATIONS).fetchall()}
    typed = {r[0]: (r[1], r[2]) for r in con.execute(DUCKDB_TYPED).fetchall()}
    return services, operations, typed


def read_with_chdb(moto_port):
    src = (f"s3('http://127.0.0.1:{moto_port}/{BUCKET}/{PREFIX}/spans/*.parquet', 'test', 'test', "
           "'Parquet')")

    def rows(sql):
        out = chdb.query(sql.format(src=src), "TabSeparated").bytes().decode()
        return [line.split("\t") for line in out.splitlines() if line]

    services = {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in rows(CLICKHOUSE_SERVICES)}
    operations = {(r[0], r[1]): int(r[2]) for r in rows(CLICKHOUSE_OPERATIONS)}
    typed = {r[0]: (int(r[1]), int(r[2])) for r in rows(CLICKHOUSE_TYPED)}
    return services, operations, typed


def read_with_faultline(server):
    """Spans stored, and per service requests, errors and p99 from `GET /api/v1/red`."""
    rows = requests.get(server.api + "/api/v1/status", timeout=30).json()["tables"]["spans"]["rows"]
    # Without a window: the hour ending with the newest span, which holds them all.
    red = requests.get(server.api + "/api/v1/red", timeout=60)
    assert red.ok, red.text[:300]
    services = {s["name"]: (s["requests"], s["errors"], s["p99_ns"]) for s in red.json()["services"]}
    return rows, services


def test_duckdb_and_chdb_read_the_bucket_and_agree_with_faultline(binary, tmp_path, s3):
    _, proxy = s3
    for (_, _, n, _) in OPERATIONS:
        assert ((n - 1) * 0.99) % 1 != 0.5
    env = aws_env(proxy, tmp_path)
    server = Server(binary, tmp_path / "data", ["--storage", f"s3://{BUCKET}/{PREFIX}", "--flush-interval", "1s"],
                    env=env).start()
    sent = send(server)
    total = sum(len(d) for d, _ in sent.values())
    wait_for(lambda: server_head_rows(server) == 0, "the head flushed to the bucket")
    rows, faultline_services = read_with_faultline(server)
    server.stop()
    services, operations = expected(sent)
    assert rows == total
    assert faultline_services == services, (faultline_services, services)
    # Per service: the failed spans (status 500) and its routes.
    typed = {svc: (errors, sum(1 for (s, _) in sent if s == svc)) for svc, (_, errors, _) in services.items()}
    for engine, read in (("duckdb", read_with_duckdb), ("chdb", read_with_chdb)):
        got_services, got_operations, got_typed = read(proxy.upstream_port)
        assert got_services == services, (engine, got_services, services)
        assert got_operations == operations, (engine, got_operations, operations)
        assert got_typed == typed, (engine, got_typed, typed)
        assert sum(n for n, _, _ in got_services.values()) == total, engine
