"""TLS on every listener: the API and OTLP/HTTP over HTTPS, OTLP/gRPC over TLS, from the
OpenTelemetry SDK and the CLI; plain text is refused; a renewed certificate is served without a
restart (at once on SIGHUP, and by itself within the reload check); a broken renewal keeps the
certificate in use."""

import os
import signal
import socket
import ssl
import subprocess
import time

import grpc
import pytest
import requests
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from conftest import Server


def make_cert(directory, cn):
    cert, key = directory / "cert.pem", directory / "key.pem"
    tmp_c, tmp_k = directory / "new-cert.pem", directory / "new-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(tmp_k), "-out", str(tmp_c), "-days", "2", "-subj", f"/CN={cn}",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         # A server certificate, not a CA: rustls (webpki) refuses a CA used as an end entity.
         "-addext", "basicConstraints=critical,CA:FALSE"],
        check=True, capture_output=True)
    # Renewal tools replace the files by renaming, so a reader never sees half of one.
    os.replace(tmp_k, key)
    os.replace(tmp_c, cert)
    return cert, key


def served_cn(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with ctx.wrap_socket(s) as t:
            der = t.getpeercert(binary_form=True)
    pem = ssl.DER_cert_to_PEM_cert(der)
    out = subprocess.run(["openssl", "x509", "-noout", "-subject"], input=pem, capture_output=True, text=True, check=True)
    return out.stdout.strip().split("CN")[-1].strip(" =")


@pytest.fixture
def tls_server(binary, tmp_path, monkeypatch):
    # requests lets these override a session's own `verify` (what the SDK's certificate_file sets).
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    certs = tmp_path / "certs"
    certs.mkdir()
    cert, key = make_cert(certs, "faultline-one")
    s = Server(binary, tmp_path / "data", ["--tls-cert", str(cert), "--tls-key", str(key)])
    s.scheme, s.verify = "https", str(cert)
    s.start()
    s.cert, s.certs = cert, certs
    yield s
    s.stop()


def test_every_listener_speaks_tls_and_not_plain_text(tls_server):
    s = tls_server
    assert requests.get(s.api + "/healthz", verify=s.verify, timeout=10).ok
    for port in (s.api_port, s.http):
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(s.api + "/healthz", timeout=5)  # not trusted without the certificate


def test_the_sdk_sends_over_tls_on_http_and_grpc_and_the_cli_reads(tls_server, binary):
    s = tls_server
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
    exporters = {
        "tls-http": HttpExporter(endpoint=f"https://127.0.0.1:{s.http}/v1/traces", certificate_file=str(s.cert)),
        "tls-grpc": GrpcExporter(endpoint=f"127.0.0.1:{s.grpc}",
                                 credentials=grpc.ssl_channel_credentials(s.cert.read_bytes())),
    }
    for name, exp in exporters.items():
        tp = TracerProvider(resource=Resource.create({"service.name": name}))
        tp.add_span_processor(SimpleSpanProcessor(exp))
        with tp.get_tracer("t").start_as_current_span("op"):
            pass
        tp.shutdown()
    names = {x["name"] for x in requests.get(s.api + "/api/v1/services", verify=s.verify, timeout=30).json()["services"]}
    assert {"tls-http", "tls-grpc"} <= names, names
    env = {**os.environ, "FAULTLINE_SERVER": s.api}
    r = subprocess.run([binary, "status"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode != 0, "the CLI trusted a self-signed certificate it was not given"
    r = subprocess.run([binary, "status"], capture_output=True, text=True, timeout=60,
                       env={**env, "FAULTLINE_CA_CERT": str(s.cert)})
    assert r.returncode == 0, r.stderr


def wait_for_cn(port, cn, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if served_cn(port) == cn:
            return True
        time.sleep(0.2)
    return False


def test_a_renewed_certificate_is_served_without_a_restart(tls_server):
    s = tls_server
    assert served_cn(s.api_port) == "faultline-one"
    make_cert(s.certs, "faultline-two")
    s.proc.send_signal(signal.SIGHUP)
    assert wait_for_cn(s.api_port, "faultline-two", 10)
    assert wait_for_cn(s.grpc, "faultline-two", 10)
    # Without a signal: the periodic check picks it up.
    make_cert(s.certs, "faultline-three")
    assert wait_for_cn(s.http, "faultline-three", 30)
    # A broken renewal keeps the certificate in use, and the server up.
    s.cert.write_text("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n")
    s.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert served_cn(s.api_port) == "faultline-three"
    assert s.proc.poll() is None


def test_a_bad_certificate_is_refused_at_start_with_the_file_named(binary, tmp_path):
    bad = tmp_path / "cert.pem"
    bad.write_text("not a certificate")
    key = tmp_path / "key.pem"
    key.write_text("not a key")
    s = Server(binary, tmp_path / "data", ["--tls-cert", str(bad), "--tls-key", str(key)])
    with pytest.raises(RuntimeError) as e:
        s.start()
    assert "cert.pem" in str(e.value)
