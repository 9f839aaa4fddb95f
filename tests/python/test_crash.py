"""Crash loop: ingest under load while killing the server with SIGKILL again and again, flushes and
compactions running. After each restart every acknowledged span is there, and none twice."""

import os
import random
import threading
import time
from collections import Counter

import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from conftest import Server

SPANS_PER_REQUEST = 5
MAX_PER_THREAD = 150
THREADS = 2


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
            assert r.ok, (r.status_code, r.text)
            body = r.json()
            total = body["total"] if total is None else total
            seen += len(body["spans"])
            counts.update((s["trace_id"], s["span_id"]) for s in body["spans"])
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == total, "the pages missed rows: the check would be blind"
    return counts


def check(counts, acked, label):
    """Every acknowledged request's spans are stored, and no span twice."""
    dupes = [k for k, c in counts.items() if c > 1]
    assert not dupes, f"{label}: {len(dupes)} spans stored twice, e.g. {dupes[:3]}"
    missing = [(format(n, "032x"), format(n * 1000 + i + 1, "016x"))
               for n in acked for i in range(SPANS_PER_REQUEST)]
    missing = [k for k in missing if k not in counts]
    assert not missing, f"{label}: {len(missing)} acknowledged spans lost, e.g. {missing[:3]}"


def metric(server, name):
    for line in requests.get(server.api + "/metrics", timeout=30).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def test_kill_9_loses_no_acknowledged_span(binary, tmp_path, capsys):
    """The crash loop: FAULTLINE_CRASH_ROUNDS (default 100) kill -9 at random moments under load,
    with flushes and compactions every second so that kills land in them too."""
    data = tmp_path / "data"
    rng = random.Random(20261201)
    acked, starts = [], []
    next_request = 1
    rounds = int(os.environ.get("FAULTLINE_CRASH_ROUNDS", "100"))
    flushes = compactions = 0
    last_round = ([], [])  # (starts, acked) of the round before
    for round_ in range(rounds):
        server = Server(binary, data, ["--flush-interval", "1s", "--compact-interval", "1s"]).start()
        # What the last round acknowledged survived its kill, once.
        check(stored_spans(server, last_round[0]), last_round[1], f"round {round_}")
        if round_ % 25 == 24:
            check(stored_spans(server, starts), acked, f"round {round_}, everything so far")
        stop = threading.Event()
        round_acked = []
        round_starts = [next_request + k * 1_000_000 for k in range(THREADS)]
        starts += round_starts
        threads = [threading.Thread(target=load, args=(server, a, round_acked, stop)) for a in round_starts]
        for t in threads:
            t.start()
        # Some writes acknowledged, then a kill at a random moment of the flush and compaction cycle.
        deadline = time.time() + 15
        while len(round_acked) < 10 and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 1.2))
        flushes += metric(server, "faultline_flushes_total")
        compactions += metric(server, "faultline_compactions_total")
        server.stop(kill=True)
        stop.set()
        for t in threads:
            t.join(timeout=10)
        assert round_acked, f"round {round_}: nothing was acknowledged"
        acked += round_acked
        last_round = (round_starts, list(round_acked))
        next_request += 4_000_000
    server = Server(binary, data).start()
    counts = stored_spans(server, starts)
    check(counts, acked, "after the last restart")
    segments = list((data / "segments" / "spans").glob("*.parquet"))
    server.stop()
    assert segments, "no segment was ever flushed: the test did not exercise the flush path"
    assert flushes > 0
    with capsys.disabled():
        print(f"\ncrash loop: {rounds} kill -9 under load; {len(acked)} requests "
              f"({len(acked) * SPANS_PER_REQUEST} spans) acknowledged; missing 0, duplicated 0; "
              f"{len(counts)} spans stored (acknowledged or not); at least {int(flushes)} flushes and "
              f"{int(compactions)} compactions seen before kills")
