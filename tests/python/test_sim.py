"""`faultline sim` output imports into faultline and comes back through the API; truth.json follows
the contract (shared/contracts/simulation.md)."""

import json
import subprocess


def run(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True, check=True)


def test_sim_list_and_out_import_round_trip(binary, tmp_path):
    listed = run(binary, "sim", "--list").stdout
    for name in ["healthy", "lb-bad-backend", "connection-leak", "slow-external-spike"]:
        assert name in listed
    out = tmp_path / "sim"
    run(binary, "sim", "--scenario", "lb-bad-backend", "--out", str(out), "--duration", "3m", "--rps", "10", "--seed", "3")
    truth = json.loads((out / "truth.json").read_text())
    assert truth["scenario"] == "lb-bad-backend" and truth["seed"] == 3
    assert set(truth["window"]) == {"from", "to"}
    fault = truth["faults"][0]
    assert {"service", "instance", "change_id", "pattern", "start", "end"} <= set(fault)
    assert fault["pattern"] == "bad_config_change" and fault["instance"] == "192.168.1.45:8080"

    data = tmp_path / "data"
    files = [str(out / f) for f in ["traces.jsonl", "logs.jsonl", "metrics.jsonl", "changes.jsonl"]]
    imported = run(binary, "import", "--data-dir", str(data), *files).stdout
    assert "spans imported (OTLP/JSON)" in imported and "change events imported" in imported, imported
    assert "rejected" not in imported, imported

    found = json.loads(run(binary, "traces", "search", 'service = "frontend" and name = "GET /api/products"',
                           "--limit", "1", "--data-dir", str(data), "--format", "json").stdout)["traces"]
    assert found and found[0]["root_service"] == "frontend"
    tree = json.loads(run(binary, "traces", "get", found[0]["trace_id"], "--data-dir", str(data), "--format", "json").stdout)
    services = {s["service_name"] for s in tree["spans"]}
    assert {"frontend", "auth", "inventory"} <= services
    assert all(not s["orphan"] for s in tree["spans"]), "every parent is in the trace"
    changes = json.loads(run(binary, "changes", "list", "--data-dir", str(data), "--format", "json").stdout)["changes"]
    assert "billing-1.8.3" in {c["id"] for c in changes}


def test_sim_streams_over_otlp_into_a_running_server(server, binary):
    run(binary, "sim", "--scenario", "healthy", "--duration", "1m", "--rps", "5", "--speed", "0",
        "--otlp", f"http://127.0.0.1:{server.http}")
    import requests
    services = {s["name"] for s in requests.get(f"{server.api}/api/v1/services").json()["services"]}
    assert {"frontend", "auth", "inventory", "payment", "shipping"} <= services, services
    series = requests.get(f"{server.api}/api/v1/metrics", params={"name": "process.cpu.utilization"}).json()["series"]
    assert len(series) >= 10
