"""deploy/k8s: both overlays build (kubectl kustomize, or the tests' renderer) and every object
validates against the Kubernetes schemas; the security and routing rules ops rely on hold."""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from kustomize_lite import build as lite_build  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.34.0"
OVERLAYS = ["dev", "production"]
PROCESSES = ["gateway", "catalog", "storage", "quality", "harvest", "feedback"]
KUBECTL = shutil.which("kubectl")


def kubectl_build(overlay: str) -> list[dict]:
    out = subprocess.run(
        [KUBECTL, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


_cache: dict[str, list[dict]] = {}


def rendered(overlay: str) -> list[dict]:
    if overlay not in _cache:
        _cache[overlay] = (
            kubectl_build(overlay) if KUBECTL else lite_build(K8S / "overlays" / overlay)
        )
    return _cache[overlay]


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_generated_base_is_up_to_date():
    r = subprocess.run(
        [sys.executable, str(K8S / "generate.py"), "--check"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_builds_and_validates_against_kubernetes_schemas(overlay):
    docs = rendered(overlay)
    assert len(docs) >= 40
    for doc in docs:
        # strict: unknown fields are errors too
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_validation_catches_a_wrong_manifest():
    deployment = json_copy(by_kind(rendered("production"), "Deployment")["catalog"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] = []
    deployment["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def json_copy(obj):
    return yaml.safe_load(yaml.safe_dump(obj))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_process_has_deployment_service_hpa_pdb_and_migration_job(overlay):
    docs = rendered(overlay)
    namespace = {"dev": "portal-dev", "production": "portal"}[overlay]
    deployments = by_kind(docs, "Deployment")
    for name in PROCESSES:
        d = deployments[name]
        assert d["metadata"]["namespace"] == namespace
        pod = d["spec"]["template"]["spec"]
        c = pod["containers"][0]
        assert c["args"] == ["serve"]
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert c["resources"]["requests"] and c["resources"]["limits"]
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] != 0
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
        # credentials only by reference
        for var in c["env"]:
            if any(s in var["name"] for s in ("PASSWORD", "SECRET", "DATABASE_URL")):
                assert "secretKeyRef" in var["valueFrom"], var
        assert (
            by_kind(docs, "Service")[name]["spec"]["selector"]
            == d["spec"]["selector"]["matchLabels"]
        )
        hpa = by_kind(docs, "HorizontalPodAutoscaler")[name]
        assert hpa["spec"]["scaleTargetRef"]["name"] == name
        assert (
            by_kind(docs, "PodDisruptionBudget")[name]["spec"]["selector"] == d["spec"]["selector"]
        )
        job = by_kind(docs, "Job")[f"migrate-{name}"]
        jc = job["spec"]["template"]["spec"]["containers"][0]
        assert jc["args"] == ["migrate"] and jc["image"] == c["image"]


def test_production_uses_release_images_and_defines_no_secret():
    docs = rendered("production")
    assert not by_kind(docs, "Secret")
    assert not by_kind(docs, "StatefulSet")  # stores are external
    for name, d in by_kind(docs, "Deployment").items():
        image = d["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == f"registry.zp.gov.ua/open-data/{name}:0.1.0"
    config = by_kind(docs, "ConfigMap")["portal-config"]["data"]
    assert config["ENVIRONMENT"] == "production" and config["S3_SECURE"] == "true"
    gw = by_kind(docs, "Deployment")["gateway"]["spec"]["template"]["spec"]
    keys = next(v for v in gw["volumes"] if v["name"] == "signing-keys")
    assert keys["secret"]["secretName"] == "portal-gateway-signing-keys"
    assert (
        by_kind(docs, "Namespace")["portal"]["metadata"]["labels"][
            "pod-security.kubernetes.io/enforce"
        ]
        == "restricted"
    )


def test_dev_runs_its_own_stores_and_one_gateway_with_its_own_key():
    docs = rendered("dev")
    assert set(by_kind(docs, "StatefulSet")) == {"postgres", "nats", "minio"}
    assert "minio-init" in by_kind(docs, "Job")
    gw = by_kind(docs, "Deployment")["gateway"]
    keys = next(v for v in gw["spec"]["template"]["spec"]["volumes"] if v["name"] == "signing-keys")
    assert "emptyDir" in keys and "secret" not in keys
    assert by_kind(docs, "HorizontalPodAutoscaler")["gateway"]["spec"]["maxReplicas"] == 1
    secret = by_kind(docs, "Secret")["portal-catalog-database"]
    url = base64.b64decode(secret["data"]["url"]).decode()
    assert url.endswith("@postgres:5432/portal_catalog")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_routes_the_api_and_the_harvest_paths_to_the_gateway(overlay):
    ingress = by_kind(rendered(overlay), "Ingress")["gateway"]
    paths = {p["path"]: p for r in ingress["spec"]["rules"] for p in r["http"]["paths"]}
    for path in (
        "/api/",
        "/api/3/action",
        "/api/action",
        "/catalog.ttl",
        "/catalog.rdf",
        "/catalog.jsonld",
        "/dataset/",
        "/sitemap.xml",
    ):
        assert paths[path]["backend"]["service"]["name"] == "gateway", path
    assert {p["backend"]["service"]["name"] for p in paths.values()} == {"gateway"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_let_only_the_gateway_reach_the_services(overlay):
    pols = by_kind(rendered(overlay), "NetworkPolicy")
    deny = pols["portal-default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    svc_in = pols["portal-services-ingress"]["spec"]
    assert svc_in["podSelector"]["matchLabels"] == {"portal.zp/role": "service"}
    sources = svc_in["ingress"][0]["from"]
    pod_sources = [s["podSelector"] for s in sources if "podSelector" in s]
    assert pod_sources == [{"matchLabels": {"portal.zp/role": "gateway"}}]
    # services may call the gateway (JWKS)
    gw_in = pols["portal-gateway-ingress"]["spec"]["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": {"portal.zp/role": "service"}}} in gw_in
    # only gateway, services and migration jobs get egress to the stores
    backing = pols["portal-backing-egress"]["spec"]
    assert backing["podSelector"]["matchExpressions"][0]["values"] == [
        "gateway",
        "service",
        "migration",
    ]
    ports = {p["port"] for rule in backing["egress"] for p in rule["ports"]}
    assert {5432, 4222} <= ports
    # every pod of the portal carries a role the policies know
    for kind in ("Deployment", "Job", "StatefulSet"):
        for obj in by_kind(rendered(overlay), kind).values():
            role = obj["spec"]["template"]["metadata"]["labels"]["portal.zp/role"]
            assert role in {"gateway", "service", "migration", "backing"}


def _normalize(obj):
    if isinstance(obj, dict):
        return {k: _normalize(v) for k, v in obj.items()}
    if isinstance(obj, list):
        items = [_normalize(x) for x in obj]
        if all(isinstance(x, dict) and "name" in x for x in items):
            items.sort(key=lambda x: x["name"])
        return items
    return obj


def _comparable(docs: list[dict]) -> dict:
    out = {}
    for d in docs:
        d = json_copy(d)
        if d["kind"] == "Secret":
            d["data"] = {k: base64.b64decode(v) for k, v in d.get("data", {}).items()}
        out[(d["kind"], d["metadata"]["name"])] = _normalize(d)
    return out


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed: only the Python renderer runs")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_python_renderer_agrees_with_kubectl_kustomize(overlay):
    real = _comparable(kubectl_build(overlay))
    lite = _comparable(lite_build(K8S / "overlays" / overlay))
    assert set(real) == set(lite)
    for key in real:
        assert real[key] == lite[key], key
