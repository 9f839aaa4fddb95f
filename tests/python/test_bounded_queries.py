"""Reads are bounded: a page holds at most 1000 rows and says where the next one starts, and the
pages of a listing together hold every row once, in order."""

import time

import requests

from conftest import Server

N_TRACES = 700  # 3 spans each: 2100 spans, three pages of 1000 at most.


def otlp_json(now_ns):
    spans, logs = [], []
    for t in range(N_TRACES):
        tid = f"{t + 1:032x}"
        start = now_ns - (N_TRACES - t) * 1_000_000
        for k in range(3):
            spans.append({"traceId": tid, "spanId": f"{t * 3 + k + 1:016x}", "name": f"op{k}", "kind": 2,
                          "startTimeUnixNano": str(start + k), "endTimeUnixNano": str(start + k + 500_000),
                          **({"parentSpanId": f"{t * 3 + 1:016x}"} if k else {})})
        # Two log lines per trace at the same instant: a cursor must tell them apart.
        for text in ("begin", "end"):
            logs.append({"timeUnixNano": str(start), "severityNumber": 9, "body": {"stringValue": f"{text} {t}"},
                         "traceId": tid})
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "pager"}}]}
    return ({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]},
            {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": logs}]}]})


def read_all(url, key, params):
    rows, cursor, pages, first_total = [], None, 0, None
    while True:
        r = requests.get(url, params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        page = r.json()
        first_total = first_total if first_total is not None else page.get("total")
        rows += page[key]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return rows, pages, first_total


def test_pages_cover_every_row_once_in_order(server):
    traces, logs = otlp_json(time.time_ns())
    assert requests.post(f"http://127.0.0.1:{server.http}/v1/traces", json=traces).ok
    assert requests.post(f"http://127.0.0.1:{server.http}/v1/logs", json=logs).ok
    api = server.api

    huge = requests.get(f"{api}/api/v1/spans", params={"limit": 100000000})
    assert huge.status_code == 400 and "next_cursor" in huge.json()["error"]

    spans, pages, total = read_all(f"{api}/api/v1/spans", "spans", {"limit": 1000})
    assert (len(spans), pages, total) == (3 * N_TRACES, 3, 3 * N_TRACES)
    keys = [(s["start_unix_nano"], s["trace_id"], s["span_id"]) for s in spans]
    assert len(set(keys)) == len(keys) and keys == sorted(keys, reverse=True)

    logs_read, pages, total = read_all(f"{api}/api/v1/logs", "logs", {"limit": 333})
    assert len(logs_read) == 2 * N_TRACES == total and pages == 5
    assert len({(l["body"], l["time_unix_nano"]) for l in logs_read}) == 2 * N_TRACES

    found, pages, _ = read_all(f"{api}/api/v1/traces", "traces", {"limit": 300})
    assert len({t["trace_id"] for t in found}) == N_TRACES and pages == 3

    bad = requests.get(f"{api}/api/v1/spans", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400 and "cursor" in bad.json()["error"]


def test_a_bad_query_time_out_is_refused_at_start(binary, tmp_path):
    # The time-out itself is tested in the server's unit tests, on a paused clock.
    s = Server(binary, tmp_path / "data", ["--query-timeout", "soon"])
    try:
        s.start()
        raise AssertionError("faultline serve started with --query-timeout soon")
    except RuntimeError as e:
        assert "--query-timeout" in str(e)
    finally:
        s.stop()


def test_a_read_past_its_memory_budget_is_refused_and_pages_still_read(binary, tmp_path):
    s = Server(binary, tmp_path / "data", ["--query-memory", "1KB"]).start()
    try:
        traces, _ = otlp_json(time.time_ns())
        assert requests.post(f"http://127.0.0.1:{s.http}/v1/traces", json=traces).ok
        whole = requests.get(f"{s.api}/api/v1/investigate")
        assert whole.status_code == 400 and "memory budget of 0 MiB" not in whole.text
        assert "memory budget" in whole.json()["error"] and "--query-memory" in whole.json()["error"]
        # Pages hold one page of rows whatever matches: they are not charged to the budget.
        spans, pages, total = read_all(f"{s.api}/api/v1/spans", "spans", {"limit": 1000})
        assert len(spans) == total == 3 * N_TRACES
        assert requests.post(f"http://127.0.0.1:{s.http}/v1/traces", json=traces).ok
    finally:
        s.stop()
