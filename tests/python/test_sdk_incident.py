"""An incident sent by the official OpenTelemetry Python SDK (its spans and logs, over OTLP/HTTP),
investigated in each way of asking: no window, a window covering all of the data (nothing before
it: the baseline is the stretch before the onset), and a narrow window with a baseline elsewhere.
The services' names are this test's own: the analysis knows none of them."""

import json
import logging
import random
import subprocess
import time

from opentelemetry import context as otel_context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

MS = 1_000_000
MINUTES = 30
ONSET_MINUTE = 20
RPS = 2


def iso(ns):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // 1_000_000_000))


def send_incident(server, server_of=None):
    """`storefront` calls `catalog` and `ledger`; from minute 20 one `ledger` pod fails a third
    of its requests and logs why. Each service sends to `server_of(service)` if given (several
    nodes), else to `server`."""
    rng = random.Random(7)
    providers = {}

    def tracer(service, pod):
        key = (service, pod)
        if key not in providers:
            base = f"http://127.0.0.1:{(server_of(service) if server_of else server).http}"
            res = Resource.create({"service.name": service, "service.instance.id": pod})
            tp = TracerProvider(resource=res)
            tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=base + "/v1/traces"),
                                                     max_queue_size=100_000, max_export_batch_size=2_000))
            lp = LoggerProvider(resource=res)
            lp.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=base + "/v1/logs")))
            logger = logging.getLogger(f"incident-{service}-{pod}")
            logger.propagate = False
            logger.setLevel(logging.INFO)
            logger.addHandler(LoggingHandler(logger_provider=lp))
            providers[key] = (tp, lp, tp.get_tracer("shop"), logger)
        return providers[key]

    now = time.time_ns()
    start = now - (MINUTES + 5) * 60 * 1_000_000_000
    onset = start + ONSET_MINUTE * 60 * 1_000_000_000
    for k in range(MINUTES * 60 * RPS):
        t0 = start + k * (1_000_000_000 // RPS) + rng.randrange(0, 400 * MS)
        _, _, front, _ = tracer("storefront", "web-1")
        root = front.start_span("GET /checkout", kind=SpanKind.SERVER, start_time=t0)
        ctx = set_span_in_context(root)
        t = t0 + 2 * MS
        failed = False
        for callee, pods in [("catalog", ["cat-1", "cat-2"]), ("ledger", ["led-1", "led-2"])]:
            pod = pods[k % 2]
            bad = callee == "ledger" and pod == "led-2" and t0 >= onset and rng.random() < 0.33
            took = rng.randrange(8, 20) * MS
            call = front.start_span(f"POST /{callee}", kind=SpanKind.CLIENT, context=ctx, start_time=t)
            _, _, svc, log = tracer(callee, pod)
            serve = svc.start_span(f"POST /{callee}", kind=SpanKind.SERVER, context=set_span_in_context(call),
                                   start_time=t + MS)
            if bad:
                serve.set_status(Status(StatusCode.ERROR, "ledger entry rejected"))
                serve.set_attribute("http.response.status_code", 500)
                token = otel_context.attach(set_span_in_context(serve))
                log.error("ledger entry rejected: balance table locked")
                otel_context.detach(token)
                call.set_attribute("http.response.status_code", 500)
                call.set_status(Status(StatusCode.ERROR))
                failed = True
            else:
                serve.set_attribute("http.response.status_code", 200)
                call.set_attribute("http.response.status_code", 200)
            serve.end(end_time=t + MS + took)
            call.end(end_time=t + 2 * MS + took)
            t += took + 3 * MS
        root.set_attribute("http.response.status_code", 500 if failed else 200)
        if failed:
            root.set_status(Status(StatusCode.ERROR))
        root.end(end_time=t + MS)
    for tp, lp, _, _ in providers.values():
        tp.force_flush()
        tp.shutdown()
        lp.force_flush()
        lp.shutdown()
    return start, start + MINUTES * 60 * 1_000_000_000, onset


def investigate(binary, server, *args):
    r = subprocess.run([binary, "investigate", "--server", server.api, "--format", "json", *args],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_an_sdk_incident_in_each_way_of_asking(binary, server):
    start, end, onset = send_incident(server)
    ways = {
        "no window": [],
        "window over all the data": ["--from", iso(start), "--to", iso(end + 1_000_000_000)],
        "narrow window, baseline before": ["--from", iso(onset + 30_000_000_000), "--to", iso(onset + 210_000_000_000),
                                           "--baseline", f"{iso(start + 60_000_000_000)}..{iso(onset - 60_000_000_000)}"],
    }
    for way, args in ways.items():
        report = investigate(binary, server, *args)
        assert report["incident"] is True, way
        top = report["root_causes"][0]
        assert (top["service"], top["instance"]) == ("ledger", "led-2"), (way, top["summary"])
        # The baseline is never the incident window itself.
        assert report["baseline"]["to"] <= report["window"]["from"], (way, report["baseline"], report["window"])
