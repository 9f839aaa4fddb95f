"""Crash test: ingest under load while killing the server with SIGKILL again and again. After each
restart every acknowledged span is there, and none twice."""

import os
import threading
import time
from collections import Counter

import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from conftest import Server

SPANS_PER_REQUEST = 20
MAX_PER_THREAD = 400


def request_bytes(n):
    """Request n: one trace of SPANS_PER_REQUEST spans with ids derived from n."""
    trace_id = n.to_bytes(16, "big")
    now = time.time_ns()
    spans = []
    for i in range(SPANS_PER_REQUEST):
        spans.append(Span(
            trace_id=trace_id,
            span_id=(n * 1000 + i + 1).to_bytes(8, "big"),
            parent_span_id=b"" if i == 0 else (n * 1000 + 1).to_bytes(8, "big"),
            name=f"op-{i % 4}",
            kind=Span.SPAN_KIND_SERVER if i == 0 else Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=now + i * 1000,
            end_time_unix_nano=now + i * 1000 + 500_000,
            attributes=[KeyValue(key="request", value=AnyValue(int_value=n))],
        ))
    req = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="crashy"))]),
        scope_spans=[ScopeSpans(spans=spans)],
    )])
    return req.SerializeToString()


def load(server, start, acked, stop):
    """Sends requests start, start+1, ... until stopped or the server dies; records acknowledged ones.
    Stops by itself after MAX_PER_THREAD requests, so that the test stays bounded."""
    session = requests.Session()
    n = start
    url = f"http://127.0.0.1:{server.http}/v1/traces"
    while not stop.is_set() and n - start < MAX_PER_THREAD:
        try:
            r = session.post(url, data=request_bytes(n), headers={"Content-Type": "application/x-protobuf"}, timeout=5)
            if r.status_code == 200:
                acked.append(n)
        except requests.RequestException:
            return
        n += 1


def stored_spans(server, starts):
    """The stored spans of the load threads that began at `starts`, one query per thread's range."""
    counts = Counter()
    for a in starts:
        f = f'service = "crashy" and request >= {a} and request < {a + MAX_PER_THREAD}'
        cursor, total, seen = None, None, 0
        while True:
            params = {"filter": f, "limit": 1000, **({"cursor": cursor} if cursor else {})}
            r = requests.get(f"{server.api}/api/v1/spans", params=params, timeout=60)
            r.raise_for_status()
            body = r.json()
            total = body["total"] if total is None else total
            seen += len(body["spans"])
            counts.update((s["trace_id"], s["span_id"]) for s in body["spans"])
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == total, "the pages missed rows: the check would be blind"
    return counts


def test_kill_9_loses_no_acknowledged_span(binary, tmp_path):
    data = tmp_path / "data"
    acked = []
    next_request = 1
    starts = []
    rounds = int(os.environ.get("FAULTLINE_CRASH_ROUNDS", "5"))
    for round_ in range(rounds):
        # Flush every second so that kills land before, during and after segment writes.
        server = Server(binary, data, ["--flush-interval", "1s"]).start()
        # Everything acknowledged so far survived the last kill, once.
        counts = stored_spans(server, starts)
        dupes = [k for k, c in counts.items() if c > 1]
        assert not dupes, f"round {round_}: {len(dupes)} spans stored twice, e.g. {dupes[:3]}"
        for n in acked:
            for i in range(SPANS_PER_REQUEST):
                key = (format(n, "032x"), format(n * 1000 + i + 1, "016x"))
                assert key in counts, f"round {round_}: acknowledged span {key} lost"
        stop = threading.Event()
        before = len(acked)
        round_starts = [next_request + k * 1_000_000 for k in range(4)]
        starts += round_starts
        threads = [threading.Thread(target=load, args=(server, a, acked, stop)) for a in round_starts]
        for t in threads:
            t.start()
        # Let writes be acknowledged for a while (different lengths, so kills fall at different
        # points of the flush cycle), then kill mid-stream.
        deadline = time.time() + 15
        while len(acked) - before < 200 and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(0.4 * round_)
        server.stop(kill=True)
        stop.set()
        for t in threads:
            t.join(timeout=10)
        assert len(acked) > before, f"round {round_}: nothing was acknowledged"
        next_request += 4_000_000
    server = Server(binary, data).start()
    counts = stored_spans(server, starts)
    segments = list((data / "segments" / "spans").glob("*.parquet"))
    assert segments, "no segment was ever flushed: the test did not exercise the flush path"
    assert all(c == 1 for c in counts.values())
    missing = [n for n in acked if (format(n, "032x"), format(n * 1000 + 1, "016x")) not in counts]
    assert not missing, f"{len(missing)} acknowledged requests lost"
    server.stop()
