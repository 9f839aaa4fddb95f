"""A server on loopback answers only requests to a loopback name (no DNS rebinding), and refuses
writes that a web page of another origin sends."""

import requests


def test_dns_rebinding_and_cross_origin_writes_are_refused(server):
    api = server.api
    assert requests.get(f"{api}/api/v1/status").ok
    assert requests.get(f"{api}/api/v1/status", headers={"Host": f"localhost:{server.api_port}"}).ok
    r = requests.get(f"{api}/api/v1/status", headers={"Host": "evil.example"})
    assert r.status_code == 421 and "DNS rebinding" in r.json()["error"]
    # The OTLP/HTTP listener is on loopback too.
    r = requests.post(f"http://127.0.0.1:{server.http}/v1/traces", json={"resourceSpans": []},
                      headers={"Host": "evil.example:4318"})
    assert r.status_code == 421

    change = {"service": "web", "kind": "deploy", "description": "v2"}
    r = requests.post(f"{api}/api/v1/changes", json=change, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "another origin" in r.json()["error"]
    assert requests.get(f"{api}/api/v1/changes").json()["changes"] == []
    same = requests.post(f"{api}/api/v1/changes", json=change, headers={"Origin": f"http://127.0.0.1:{server.api_port}"})
    assert same.status_code == 201, same.text
    # No CORS headers: a page of another origin cannot read answers either.
    r = requests.get(f"{api}/api/v1/changes", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in {k.lower() for k in r.headers}
