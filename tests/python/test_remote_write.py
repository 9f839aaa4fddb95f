"""Prometheus remote write, with Prometheus itself as the client (Debian's `prometheus` package,
installed by the test command): it scrapes faultline's own `/metrics` every second and remote-writes
what it scraped to faultline's `POST /api/v1/write` (snappy-compressed protobuf). The series arrive as
faultline metrics with the scrape's `job` as the service and its `instance` as the instance, and a
body that is not remote write is refused with a 400 that says why."""

import shutil
import subprocess
import time

import pytest
import requests

from conftest import free_port

PROMETHEUS = shutil.which("prometheus")


def series(server, name):
    r = requests.get(server.api + "/api/v1/metrics", params={"name": name, "from": "-1h"}, timeout=30)
    assert r.ok, r.text[:300]
    return r.json()["series"]


@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus is not installed (the test command installs it)")
def test_prometheus_remote_writes_its_scrapes_into_faultline(server, tmp_path):
    target = server.api.removeprefix("http://")
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: faultline-self
    static_configs:
      - targets: ["{target}"]
remote_write:
  - url: {server.api}/api/v1/write
    queue_config:
      batch_send_deadline: 1s
""")
    web = free_port()
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{web}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not series(server, "up"):
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.time() < deadline, "no remote-written sample of `up` arrived in 60 s"
            time.sleep(0.5)
        check_series(server, target)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def check_series(server, target):
    up = series(server, "up")[0]
    assert up["service"] == "faultline-self" and up["instance"] == target, up
    assert up["kind"] == "gauge" and up["points"][-1][1] == 1.0, up
    # faultline's own counter of items stored, scraped and written back: cumulative sums by their
    # `signal` label, the metric points among them (what remote write itself stored, so the
    # samples of a later scrape count those of an earlier one).
    deadline = time.time() + 30
    while True:
        received = series(server, "faultline_items_received_total")
        assert received and all(s["kind"] == "sum" and s["is_monotonic"] for s in received), received[:1]
        points = [s for s in received if s["attributes"].get("signal") == "metric_points"]
        assert len(points) == 1, received
        if max(v for _, v in points[0]["points"]) > 0:
            break
        assert time.time() < deadline, points
        time.sleep(0.5)


def test_a_body_that_is_not_remote_write_is_a_clear_400(server):
    r = requests.post(server.api + "/api/v1/write", data=b"plain text, not snappy",
                      headers={"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"}, timeout=30)
    assert r.status_code == 400 and "snappy" in r.text, r.text
    r = requests.post(server.api + "/api/v1/write", data=b"x", headers={"Content-Encoding": "gzip"}, timeout=30)
    assert r.status_code == 415 and "snappy" in r.text, r.text
