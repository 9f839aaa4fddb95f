"""Soak, bounded in time: ingest offered at twice what the server sustains, while investigations and
searches run. Memory stays at the --max-memory budget, the excess is refused with retryable codes
(503/429 with Retry-After), every acknowledged span is stored once, and reads keep answering. It
prints the throughput held, the refused share and the peak RSS."""

import os
import threading
import time

import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from conftest import Server

BUDGET_MB = 192
SPANS_PER_REQUEST = 1000
TEMPLATE_TID = bytes(range(1, 17))
CALIBRATE_S = 4.0
SOAK_S = float(os.environ.get("FAULTLINE_SOAK_SECONDS", "20"))
# Many clients at once: overload is many senders, each waiting for its own answer.
SENDERS = 48


def template():
    """One request of SPANS_PER_REQUEST spans; each send swaps in its own trace id."""
    now = time.time_ns()
    spans = [Span(trace_id=TEMPLATE_TID, span_id=(i + 1).to_bytes(8, "big"), name=f"op-{i % 7}",
                  kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=now + i, end_time_unix_nano=now + i + 2_000_000,
                  attributes=[KeyValue(key="k", value=AnyValue(string_value="v" * 1024))])
             for i in range(SPANS_PER_REQUEST)]
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="soak"))]),
        scope_spans=[ScopeSpans(spans=spans)])]).SerializeToString()


class Load:
    def __init__(self, url):
        self.url, self.body = url, template()
        self.lock = threading.Lock()
        self.next_id = 1
        self.acked = self.refused = self.timeouts = 0
        self.other = []

    def send(self, session):
        with self.lock:
            n = self.next_id
            self.next_id += 1
        body = self.body.replace(TEMPLATE_TID, n.to_bytes(16, "big"))
        try:
            r = session.post(self.url, data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=30)
        except requests.RequestException:
            with self.lock:
                self.timeouts += 1
            return
        with self.lock:
            if r.status_code == 200:
                self.acked += 1
            elif r.status_code in (429, 503) and int(r.headers.get("retry-after", "0")) >= 1:
                self.refused += 1
            else:
                self.other.append((r.status_code, r.text[:200]))

    def closed_loop(self, until):
        s = requests.Session()
        while time.time() < until:
            self.send(s)

    def open_loop(self, until, interval):
        s = requests.Session()
        t = time.time()
        while t < until:
            self.send(s)
            t += interval
            time.sleep(max(0.0, t - time.time()))


def readers(api, until, answered, failed):
    s = requests.Session()
    # What an on-call engineer asks during an incident: the last seconds, searches, the RED view.
    paths = ["/api/v1/investigate?from=-2s", "/api/v1/spans?filter=service%20%3D%20%22soak%22&limit=100&from=-10s",
             "/api/v1/red?from=-30s"]
    k = 0
    while time.time() < until:
        r = s.get(api + paths[k % len(paths)], timeout=60)
        k += 1
        if r.status_code in (200, 404):
            answered.append(r.status_code)
        elif r.status_code == 503 and r.headers.get("retry-after"):
            answered.append(r.status_code)  # the reads' share of memory is spent: retry
        elif r.status_code == 400 and "memory budget" in r.text:
            answered.append(r.status_code)  # this read alone is over its budget: narrow it
        else:
            failed.append((r.status_code, r.text[:200]))


def monitor(api, pid, until, seen):
    """The largest budget use and RSS seen, sampled through the soak."""
    s = requests.Session()
    while time.time() < until:
        for line in s.get(api + "/metrics", timeout=60).text.splitlines():
            if line.startswith("faultline_memory_used_bytes "):
                seen["budget_used_mb"] = max(seen.get("budget_used_mb", 0), float(line.split()[1]) / 2**20)
            if line.startswith("faultline_memory_outside_bytes "):
                seen["outside_mb"] = max(seen.get("outside_mb", 0), float(line.split()[1]) / 2**20)
            if line.startswith("faultline_head_bytes "):
                seen["head_mb"] = max(seen.get("head_mb", 0), float(line.split()[1]) / 2**20)
        with open(f"/proc/{pid}/status") as f:
            rss = [int(x.split()[1]) / 1024 for x in f if x.startswith("VmRSS:")]
        seen["rss_mb"] = max(seen.get("rss_mb", 0), rss[0] if rss else 0)
        time.sleep(0.25)


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def test_soak_at_twice_the_sustained_rate(binary, tmp_path, capsys):
    server = Server(binary, tmp_path / "data", ["--max-memory", f"{BUDGET_MB}MB", "--flush-interval", "2s"]).start()
    url = f"http://127.0.0.1:{server.http}/v1/traces"
    # What the server sustains, flat out.
    cal = Load(url)
    until = time.time() + CALIBRATE_S
    threads = [threading.Thread(target=cal.closed_loop, args=(until,)) for _ in range(8)]
    seen_cal = {}
    threads.append(threading.Thread(target=monitor, args=(server.api, server.proc.pid, until, seen_cal)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sustained = cal.acked / CALIBRATE_S
    assert sustained > 0, cal.other
    # Twice that, offered open-loop, with reads running.
    load = Load(url)
    load.next_id = cal.next_id
    until = time.time() + SOAK_S
    interval = SENDERS / (2 * sustained)
    answered, failed = [], []
    threads = [threading.Thread(target=load.open_loop, args=(until, interval)) for _ in range(SENDERS)]
    threads += [threading.Thread(target=readers, args=(server.api, until, answered, failed)) for _ in range(int(os.environ.get("FAULTLINE_SOAK_READERS", "2")))]
    seen = {}
    threads.append(threading.Thread(target=monitor, args=(server.api, server.proc.pid, until, seen)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    offered = load.acked + load.refused + load.timeouts + len(load.other)
    assert not load.other, f"answers that are neither success nor a retryable refusal: {load.other[:3]}"
    assert not failed, f"reads that failed: {failed[:3]}"
    assert answered or os.environ.get("FAULTLINE_SOAK_READERS") == "0", "no read answered during the soak"
    peak = peak_rss_mb(server.proc.pid)
    # Every acknowledged span is stored, once (a refusal stores nothing; a client time-out may).
    time.sleep(1)
    stored = requests.get(server.api + "/api/v1/status", timeout=60).json()["tables"]["spans"]["rows"]
    acked_spans = (cal.acked + load.acked) * SPANS_PER_REQUEST
    assert acked_spans <= stored <= acked_spans + (cal.timeouts + load.timeouts) * SPANS_PER_REQUEST, (acked_spans, stored)
    server.stop()
    refused_share = load.refused / max(offered, 1)
    with capsys.disabled():
        print(f"\nsoak: sustained {sustained * SPANS_PER_REQUEST:.0f} spans/s; offered {offered / SOAK_S * SPANS_PER_REQUEST:.0f} "
              f"spans/s for {SOAK_S:.0f} s; held {load.acked / SOAK_S * SPANS_PER_REQUEST:.0f} spans/s; refused "
              f"{refused_share:.0%} (retryable); {len(answered)} reads answered ({answered.count(200)} in full); peak RSS {peak:.0f} MB "
              f"(budget {BUDGET_MB} MB; most held against it {seen.get('budget_used_mb', 0):.0f} MB, head "
              f"{seen.get('head_mb', 0):.0f} MB, resident beyond it {seen.get('outside_mb', 0):.0f} MB; RSS at most "
              f"{seen_cal.get('rss_mb', 0):.0f} MB calibrating, {seen.get('rss_mb', 0):.0f} MB in the soak); {stored} spans stored, "
              f"every acknowledged one")
    # The budget bounds the process's resident memory: what is counted (heads, requests being
    # decoded at their measured 20 bytes a body byte, flushes, compactions, reads' rows) plus the
    # resident memory beyond it, sampled every 50 ms (the program, buffers, the allocator's pages).
    # Measured at 1.0-1.17 times the budget here (docs/benchmarks.md): what a read allocates after
    # it was admitted, and requests admitted between two samples. The bound leaves room for a slower
    # machine's timing, not for the old gap (1.5-1.7 times when only estimates were counted).
    assert peak < BUDGET_MB * 1.3, f"peak RSS {peak:.0f} MB with a {BUDGET_MB} MB budget"
    assert seen.get("budget_used_mb", 0) <= BUDGET_MB * 1.1, seen


def test_past_the_budget_writes_are_refused_retryably(binary, tmp_path):
    """Many large requests at once against a small budget: some are refused with 503 and
    Retry-After (gRPC would say UNAVAILABLE), none fails otherwise, and the accepted ones are stored."""
    server = Server(binary, tmp_path / "data", ["--max-memory", "64MB"]).start()
    load = Load(f"http://127.0.0.1:{server.http}/v1/traces")
    threads = [threading.Thread(target=load.send, args=(requests.Session(),)) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not load.other, load.other[:3]
    assert load.refused > 0 and load.acked > 0, (load.acked, load.refused)
    stored = requests.get(server.api + "/api/v1/status", timeout=60).json()["tables"]["spans"]["rows"]
    assert stored >= load.acked * SPANS_PER_REQUEST
    server.stop()
