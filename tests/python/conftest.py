"""Shared fixtures: a faultline server on free loopback ports with a fresh data directory."""

import os
import socket
import subprocess
import time

import pytest
import requests


def free_port():
    return free_ports(1)[0]


def free_ports(n):
    """`n` distinct free loopback ports: the sockets stay bound until all are chosen, so the kernel
    cannot hand the same port out twice (one CI run got gRPC and HTTP on one port)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


# How often `Server.start` picks fresh ports when one was taken between choosing and binding
# (another test's client may be handed the same ephemeral port meanwhile).
PORT_RETRIES = 3


class PortTaken(RuntimeError):
    """The server could not bind a port chosen for it."""


class Server:
    def __init__(self, binary, data_dir, extra_args=(), env=None):
        self.extra_args = list(extra_args)
        self.env = env
        self.binary = binary
        self.data_dir = data_dir
        self.grpc, self.http, self.api_port = free_ports(3)
        self.proc = None
        self.scheme = "http"
        self.verify = True

    @property
    def api(self):
        return f"{self.scheme}://127.0.0.1:{self.api_port}"

    def start(self):
        for attempt in range(PORT_RETRIES):
            try:
                return self._start()
            except PortTaken:
                if attempt + 1 == PORT_RETRIES:
                    raise
                self.grpc, self.http, self.api_port = free_ports(3)

    def _start(self):
        self.proc = subprocess.Popen(
            [
                self.binary, "serve", "--data-dir", str(self.data_dir),
                "--grpc-addr", f"127.0.0.1:{self.grpc}",
                "--otlp-http-addr", f"127.0.0.1:{self.http}",
                "--api-addr", f"127.0.0.1:{self.api_port}",
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=self.env,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode()
                if "Address already in use" in err:
                    raise PortTaken(err)
                raise RuntimeError("faultline serve exited: " + err)
            try:
                if requests.get(self.api + "/healthz", timeout=1, verify=self.verify).ok:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise RuntimeError("faultline serve did not come up")

    def stop(self, kill=False):
        if self.proc and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            self.proc.wait(timeout=30)


def simulate_into(binary, tmp, scenario, duration, rps):
    """Simulates a built-in scenario and imports it into `tmp/data`: (data dir, truth)."""
    import json
    out, data = tmp / "sim", tmp / "data"
    run = lambda *a: subprocess.run([binary, *a], capture_output=True, text=True, check=True, timeout=600)
    run("sim", "--scenario", scenario, "--out", str(out), "--duration", duration, "--rps", str(rps))
    files = [str(out / f) for f in ["traces.jsonl", "logs.jsonl", "metrics.jsonl", "changes.jsonl"]]
    run("import", "--data-dir", str(data), *files)
    return data, json.loads((out / "truth.json").read_text())


@pytest.fixture
def binary():
    path = os.environ.get("FAULTLINE_BIN")
    assert path and os.path.exists(path), "set FAULTLINE_BIN to the faultline binary"
    return path


@pytest.fixture
def server(binary, tmp_path):
    s = Server(binary, tmp_path / "data").start()
    yield s
    s.stop()


def remote_write_body(series):
    """A Prometheus remote-write body, encoded here by hand (protobuf fields, snappy literals):
    `series` is [(labels dict, [(value, unix ms), ...]), ...]."""
    import struct

    def varint(n):
        out = b""
        while True:
            b, n = n & 0x7F, n >> 7
            if not n:
                return out + bytes([b])
            out += bytes([b | 0x80])

    def field(tag, wire, payload):
        return varint(tag << 3 | wire) + (varint(len(payload)) + payload if wire == 2 else payload)

    req = b""
    for labels, samples in series:
        ts = b"".join(field(1, 2, field(1, 2, k.encode()) + field(2, 2, v.encode())) for k, v in labels.items())
        ts += b"".join(field(2, 2, field(1, 1, struct.pack("<d", v)) + field(2, 0, varint(t))) for v, t in samples)
        req += field(1, 2, ts)
    out, i = varint(len(req)), 0
    while i < len(req):  # snappy's block format, all literals of at most 60 bytes
        chunk = req[i:i + 60]
        out += bytes([(len(chunk) - 1) << 2]) + chunk
        i += 60
    return out
