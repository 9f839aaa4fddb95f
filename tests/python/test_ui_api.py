"""The API the web UI draws from (`/api/v1/red`, `/map`, `/templates`, `/postmortem`, the critical
path of a trace) and the UI's own routes, on a simulated incident served by the real binary."""

import os

import pytest
import requests

from conftest import Server, simulate_into


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    binary = os.environ["FAULTLINE_BIN"]
    data, truth = simulate_into(binary, tmp_path_factory.mktemp("ui"), "lb-bad-backend", "40m", 5)
    s = Server(binary, data).start()
    yield s, truth
    s.stop()


def window(truth):
    return {"from": truth["window"]["from"], "to": truth["window"]["to"]}


def test_red_per_service_with_buckets_and_a_total(served):
    s, truth = served
    r = requests.get(s.api + "/api/v1/red", params={**window(truth), "step": "1m"}, timeout=60)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["step_ns"] == 60_000_000_000
    by = {x["name"]: x for x in d["services"]}
    assert {"frontend", "inventory", "auth"} <= set(by)
    fe = by["frontend"]
    assert len(fe["buckets"]) == 40 == len(d["total"])
    assert sum(b["count"] for b in fe["buckets"]) == fe["requests"]
    # The bad backend appears at half time: the frontend's errors are in the second half.
    half = len(fe["buckets"]) // 2
    early = sum(b["errors"] for b in fe["buckets"][: half - 2])
    late = sum(b["errors"] for b in fe["buckets"][half + 2 :])
    assert late > 10 * max(early, 1), (early, late)
    # Without a window: the last hour of data. A step too small for the window is refused.
    assert requests.get(s.api + "/api/v1/red", timeout=60).json()["services"]
    bad = requests.get(s.api + "/api/v1/red", params={**window(truth), "step": "1ms"}, timeout=60)
    assert bad.status_code == 400 and "step" in bad.text


def test_map_has_services_peers_and_edges_in_both_windows(served):
    s, truth = served
    w = window(truth)
    onset = truth["faults"][0]["start"]
    r = requests.get(s.api + "/api/v1/map", params={"from": onset, "to": w["to"], "baseline": f"{w['from']}..{onset}"}, timeout=60)
    assert r.status_code == 200, r.text
    d = r.json()
    nodes = {n["name"]: n for n in d["nodes"]}
    assert nodes["inventory-db"]["virtual"] and not nodes["frontend"]["virtual"]
    edges = {(e["from"], e["to"]): e for e in d["edges"]}
    e = edges[("frontend", "inventory")]
    assert e["incident"]["error_rate"] > 0.1 > e["baseline"]["error_rate"], e
    assert e["incident"]["p99_ns"] > 0 and e["incident"]["rate_per_s"] > 0
    # Without a baseline, the stretch as long just before the window.
    d = requests.get(s.api + "/api/v1/map", params={"from": onset, "to": w["to"]}, timeout=60).json()
    assert d["baseline"] == [2 * d["from"] - d["to"], d["from"]]
    assert {n["name"] for n in d["nodes"] if n["baseline"]} >= {"frontend", "inventory"}


def test_templates_with_counts_per_service_before_and_after(served):
    s, truth = served
    w = window(truth)
    onset = truth["faults"][0]["start"]
    r = requests.get(s.api + "/api/v1/templates", params={"from": onset, "to": w["to"], "baseline": f"{w['from']}..{onset}"}, timeout=60)
    assert r.status_code == 200, r.text
    t = r.json()["templates"]
    top = t[0]
    assert top["template"] == "invalid response from server"
    assert top["count"] > 5 * max(top["baseline"], 1)
    assert "frontend" in top["services"] and top["error_share"] == 1.0
    assert len(top["example_trace"]) == 32


def test_postmortem_is_markdown_with_charts(served):
    s, truth = served
    r = requests.get(s.api + "/api/v1/postmortem", params=window(truth), timeout=120)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/markdown")
    assert "inventory" in r.text and "data:image/svg+xml;base64," in r.text


def test_a_trace_carries_its_critical_path(served):
    s, truth = served
    found = requests.get(s.api + "/api/v1/traces", params={**window(truth), "limit": 5}, timeout=60).json()
    tid = found["traces"][0]["trace_id"]
    spans = requests.get(s.api + f"/api/v1/traces/{tid}", timeout=60).json()["spans"]
    root = spans[0]
    assert root["critical"] and root["parent_span_id"] is None
    assert any(sp["critical"] for sp in spans[1:])


def test_ui_pages_are_served_with_a_strict_policy(served):
    s, _ = served
    for path in ["/", "/investigate", "/map", "/traces", "/logs", "/changes", "/compare", "/trace/00"]:
        r = requests.get(s.api + path, timeout=10)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html")
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
    js = requests.get(s.api + "/ui/app.js", timeout=10)
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert requests.get(s.api + "/ui/../Cargo.toml", timeout=10).status_code == 404
    assert requests.get(s.api + "/ui/nothing.js", timeout=10).status_code == 404
