"""The deployment files are checked for their shape, since no cluster or collector runs here:

- every Kubernetes manifest validates against the Kubernetes API's JSON schemas (strict: no unknown
  field), with `kubernetes-validate` from PyPI. `kubectl apply --dry-run=client` would need an API
  server to map kinds; the schemas are the same OpenAPI documents it validates against;
- the names agree with each other: the peers' DNS name is the headless service's, the services'
  target ports are container ports, the collector's resolver finds the OTLP/gRPC port;
- every flag the pods pass is one `faultline serve` takes, and the environment names it reads;
- the collector configs use the loadbalancing exporter by trace id for traces and logs, every
  pipeline's receivers, processors and exporters are defined, and the Kubernetes ConfigMap holds
  the standalone config with only its resolver changed."""

import subprocess
from pathlib import Path

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = "1.33.0"


def manifests():
    docs = []
    for f in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(f.read_text()) if d]
    return docs


def by_kind(kind):
    return [d for d in manifests() if d["kind"] == kind]


def test_every_manifest_validates_against_the_kubernetes_schemas():
    docs = manifests()
    assert {d["kind"] for d in docs} >= {"StatefulSet", "Service", "Deployment", "ConfigMap", "Secret"}
    for d in docs:
        kubernetes_validate.validate(d, KUBERNETES_VERSION, strict=True)


def test_a_broken_manifest_is_caught():
    def broken(change):
        (sts,) = by_kind("StatefulSet")
        change(sts)
        try:
            kubernetes_validate.validate(sts, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError:
            return True
        return False

    assert broken(lambda d: d["spec"].update(replicas="three")), "a string for replicas passed"
    assert broken(lambda d: d["spec"]["template"]["spec"]["containers"][0].update(argz=["serve"])), \
        "an unknown field passed"


def test_the_names_and_ports_agree():
    (sts,) = by_kind("StatefulSet")
    services = {s["metadata"]["name"]: s for s in by_kind("Service")}
    headless = services[sts["spec"]["serviceName"]]
    assert headless["spec"]["clusterIP"] == "None"
    ns = sts["metadata"]["namespace"]
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    args = dict(a.removeprefix("--").split("=", 1) for a in container["args"][1:])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert args["peers"] == f"dns:{headless['metadata']['name']}.{ns}.svc.cluster.local:{ports['api']}"
    assert args["api-addr"].endswith(f":{ports['api']}") and args["grpc-addr"].endswith(f":{ports['otlp-grpc']}")
    assert args["storage"].startswith("s3://")
    labels = sts["spec"]["template"]["metadata"]["labels"]
    for name in ("faultline", "faultline-headless"):
        svc = services[name]
        assert svc["spec"]["selector"].items() <= labels.items()
        assert all(p["targetPort"] in ports for p in svc["spec"]["ports"])
    # The collector's resolver: the headless name and the OTLP/gRPC port.
    cfg = collector_config_in_kubernetes()
    for name, exp in cfg["exporters"].items():
        dns = exp["resolver"]["dns"]
        assert dns["hostname"] == f"{headless['metadata']['name']}.{ns}.svc.cluster.local", name
        assert dns["port"] == ports["otlp-grpc"], name


def test_the_pods_pass_only_what_faultline_serve_takes(binary):
    help_text = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True, check=True).stdout
    (sts,) = by_kind("StatefulSet")
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    assert container["args"][0] == "serve"
    for a in container["args"][1:]:
        assert f"{a.split('=')[0]} " in help_text or f"{a.split('=')[0]}\n" in help_text, a
    (secret,) = [s for s in by_kind("Secret") if s["metadata"]["name"] == "faultline"]
    for k in secret["stringData"]:
        assert k.startswith("AWS_") or k in help_text or k in (ROOT / "docs" / "config.md").read_text(), k


def collector_config_in_kubernetes():
    (cm,) = [c for c in by_kind("ConfigMap") if c["metadata"]["name"] == "otel-collector"]
    return yaml.safe_load(cm["data"]["config.yaml"])


def check_collector(cfg):
    exporters = cfg["exporters"]
    for name, pipeline in cfg["service"]["pipelines"].items():
        for r in pipeline["receivers"]:
            assert r in cfg["receivers"], (name, r)
        for p in pipeline.get("processors", []):
            assert p in cfg["processors"], (name, p)
        for e in pipeline["exporters"]:
            assert e in exporters, (name, e)
            assert e.split("/")[0] == "loadbalancing", (name, e)
    for signal in ("traces", "logs"):
        (e,) = cfg["service"]["pipelines"][signal]["exporters"]
        assert exporters[e]["routing_key"] == "traceID", signal
    for name, e in exporters.items():
        otlp = e["protocol"]["otlp"]
        assert otlp["headers"]["authorization"].startswith("Bearer ${env:"), name


def test_the_collector_configs_spread_traces_by_trace_id():
    standalone = yaml.safe_load((DEPLOY / "otel-collector" / "loadbalancing.yaml").read_text())
    in_kubernetes = collector_config_in_kubernetes()
    check_collector(standalone)
    check_collector(in_kubernetes)
    for e in standalone["exporters"].values():
        assert all(h.endswith(":4317") for h in e["resolver"]["static"]["hostnames"])
    # The same config but for the resolver.
    for cfg in (standalone, in_kubernetes):
        for e in cfg["exporters"].values():
            e.pop("resolver")
    assert standalone == in_kubernetes
