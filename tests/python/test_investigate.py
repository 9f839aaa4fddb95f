"""The investigation surfaces as their users run them: `faultline demo`, `faultline investigate`
(the contract in shared/contracts/investigation.md), `faultline diff` and `faultline templates`,
driven through the real binary."""

import csv
import json
import os
import subprocess
from pathlib import Path

import pytest

# The project's checkout has ../shared beside it.
SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def run(binary, *args, check=True):
    return subprocess.run([binary, *args], capture_output=True, text=True, check=check, timeout=600)


@pytest.fixture(scope="module")
def incident(tmp_path_factory):
    """The lb-bad-backend incident, simulated and imported into a data directory."""
    from conftest import simulate_into
    return simulate_into(os.environ["FAULTLINE_BIN"], tmp_path_factory.mktemp("incident"), "lb-bad-backend", "40m", 15)


def check_contract(report):
    assert report["schema"] == "faultline.investigation/v1"
    for key in ["window", "baseline", "incident", "symptom", "root_causes", "findings", "propagation",
                "suggested_actions", "timeline"]:
        assert key in report, key
    for key in ["summary", "onset", "affected"]:
        assert key in report["symptom"], key
    for i, cause in enumerate(report["root_causes"]):
        assert cause["rank"] == i + 1
        for key in ["service", "instance", "operation", "change", "patterns", "confidence", "summary", "evidence"]:
            assert key in cause, key
        assert 0.0 <= cause["confidence"] <= 1.0
        for e in cause["evidence"]:
            assert e["signal"] in {"traces", "logs", "metrics", "changes"} and e["text"]


def test_demo_streams_an_incident_and_names_its_cause(binary, tmp_path):
    r = run(binary, "demo", "--exit", "--format", "json", "--rps", "20",
            "--data-dir", str(tmp_path / "demo"), "--api-addr", "127.0.0.1:0")
    report = json.loads(r.stdout)
    check_contract(report)
    assert report["incident"] is True
    top = report["root_causes"][0]
    assert top["service"] == "inventory"
    assert top["instance"] == "192.168.1.45:8080"
    assert top["change"]["id"] == "lb-config-v2.3.5"
    assert "Roll back lb-config-v2.3.5" in report["suggested_actions"]


def test_investigate_follows_the_contract(binary, incident):
    data, truth = incident
    fault = truth["faults"][0]
    report = json.loads(run(binary, "investigate", "--data-dir", str(data), "--format", "json").stdout)
    check_contract(report)
    assert report["incident"] is True
    top = report["root_causes"][0]
    assert (top["service"], top["instance"]) == (fault["service"], fault["instance"])
    assert fault["pattern"] in top["patterns"]
    # The evidence points at what it rests on: trace ids, change ids.
    refs = [ref for e in top["evidence"] for ref in e.get("refs", [])]
    assert fault["change_id"] in refs and any(len(r) == 32 for r in refs)
    # Every edge of the dependency map, with its rates before and during.
    edges = {(e["caller"], e["callee"]) for e in report["dependencies"]}
    assert ("frontend", "inventory") in edges

    # An explicit window and baseline, in the forms the contract names.
    onset = report["symptom"]["onset"]
    w = json.loads(run(binary, "investigate", "--data-dir", str(data), "--from", onset,
                       "--to", report["window"]["to"], "--baseline",
                       f'{report["baseline"]["from"]}..{report["baseline"]["to"]}', "--format", "json").stdout)
    assert w["window"]["from"] == onset and w["root_causes"][0]["service"] == fault["service"]

    md = run(binary, "investigate", "--data-dir", str(data), "--format", "markdown").stdout
    assert md.startswith("#") and "inventory" in md and "data:image/svg+xml;base64," in md
    text = run(binary, "investigate", "--data-dir", str(data)).stdout
    assert "Root causes" in text and "192.168.1.45:8080" in text


def test_investigate_refuses_bad_arguments_clearly(binary, incident, tmp_path):
    data, _ = incident
    bad = run(binary, "investigate", "--data-dir", str(data), "--from", "2026-11-13T09:00:00Z",
              "--to", "2026-11-13T08:00:00Z", check=False)
    assert bad.returncode != 0 and "before" in bad.stderr
    missing = run(binary, "investigate", "--data-dir", str(tmp_path / "missing"), check=False)
    assert missing.returncode != 0 and "does not exist" in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = run(binary, "investigate", "--data-dir", str(tmp_path / "empty"), check=False)
    assert empty.returncode != 0 and "no spans" in empty.stderr, empty.stderr
    nonsense = run(binary, "investigate", "--data-dir", str(data), "--baseline", "yesterday", check=False)
    assert nonsense.returncode != 0 and "baseline" in nonsense.stderr


def test_diff_names_what_failing_requests_share(binary, incident):
    data, truth = incident
    d = json.loads(run(binary, "diff", "--data-dir", str(data), "--format", "json").stdout)
    assert d["schema"] == "faultline.diff/v1"
    assert d["a"]["error_rate"] == 1.0 and d["b"]["error_rate"] == 0.0
    top = d["features"][0]
    assert truth["faults"][0]["instance"].split(":")[0] in top["feature"], top
    assert top["a_share"] > 0.9 and top["b_share"] < 0.01 and top["z"] > 10
    slow = json.loads(run(binary, "diff", "--data-dir", str(data), "--slow", "--format", "json").stdout)
    assert slow["a"]["latency_p50_ms"] > slow["b"]["latency_p50_ms"]

    # Two traces, span by span: one that failed and one that did not.
    failing = json.loads(run(binary, "traces", "search", "status = error", "--limit", "1",
                             "--data-dir", str(data), "--format", "json").stdout)["traces"][0]["trace_id"]
    ok = json.loads(run(binary, "traces", "search", 'service = "inventory" and status != error', "--limit", "1",
                        "--data-dir", str(data), "--format", "json").stdout)["traces"][0]["trace_id"]
    c = json.loads(run(binary, "diff", "--data-dir", str(data), "--trace", failing, "--trace", ok,
                       "--format", "json").stdout)
    assert c["a"]["error"] is True and c["b"]["error"] is False
    assert c["a"]["critical_path"] and c["spans"]


def test_templates_json_groups_lines_like_the_ground_truth(binary, tmp_path):
    sample = SHARED / "data" / "loghub" / "HDFS"
    rows = list(csv.DictReader(open(sample / "HDFS_2k.log_structured.csv", newline="")))
    (tmp_path / "msgs.txt").write_text("".join(r["Content"] + "\n" for r in rows))
    out = run(binary, "templates", str(tmp_path / "msgs.txt"), "--format", "json").stdout.splitlines()
    got = [json.loads(line) for line in out]
    assert [g["line"] for g in got] == list(range(1, len(rows) + 1))
    assert all(g["template_id"] and g["template"] for g in got)
    # Grouping accuracy: a line is right when its group is exactly its ground-truth group.
    by_truth, by_miner = {}, {}
    for i, (r, g) in enumerate(zip(rows, got)):
        by_truth.setdefault(r["EventId"], set()).add(i)
        by_miner.setdefault(g["template_id"], set()).add(i)
    correct = sum(1 for i, (r, g) in enumerate(zip(rows, got)) if by_truth[r["EventId"]] == by_miner[g["template_id"]])
    assert correct / len(rows) >= 0.95
    # stdin works too, and text output lists templates with counts.
    text = subprocess.run([binary, "templates"], input="user 1 logged in\nuser 2 logged in\n",
                          capture_output=True, text=True, check=True).stdout
    assert "2" in text and "logged in" in text


def test_a_trace_with_its_clock_skew_corrected(binary, tmp_path):
    out, data = tmp_path / "sim", tmp_path / "data"
    run(binary, "sim", "--scenario", "clock-skew", "--out", str(out), "--duration", "10m", "--rps", "10",
        "--start", "-15m")
    run(binary, "import", "--data-dir", str(data), *[str(out / f) for f in ["traces.jsonl", "metrics.jsonl"]])
    skewed = json.loads((out / "truth.json").read_text())["faults"][0]["instance"]
    found = json.loads(run(binary, "traces", "search", f'instance = "{skewed}"', "--limit", "1",
                           "--data-dir", str(data), "--format", "json").stdout)["traces"]
    assert found, "a trace through the skewed host"
    tid = found[0]["trace_id"]

    def outside(tree):
        """How long (ns) before its parent the earliest child starts: only a clock does that (a
        child may end after its parent: a caller that timed out stops waiting)."""
        by_id = {s["span_id"]: s for s in tree["spans"]}
        worst = 0
        for s in tree["spans"]:
            p = by_id.get(s.get("parent_span_id"))
            if p:
                worst = max(worst, p["start_unix_nano"] - s["start_unix_nano"])
        return worst

    raw = json.loads(run(binary, "traces", "get", tid, "--data-dir", str(data), "--format", "json").stdout)
    fixed = json.loads(run(binary, "traces", "get", tid, "--correct-skew", "--data-dir", str(data),
                           "--format", "json").stdout)
    assert outside(raw) > 100_000_000 and outside(fixed) < 1_000_000, (outside(raw), outside(fixed))
    (c,) = [c for c in fixed["clock_corrections"] if c["instance"] == skewed]
    assert abs(abs(c["offset_ns"]) - 250_000_000) < 20_000_000 and c["pairs"] > 100
    text = run(binary, "traces", "get", tid, "--correct-skew", "--data-dir", str(data)).stdout
    assert f"clock of {skewed}" in text
