"""Every PORTAL_<SERVICE>_* variable that docker-compose.yml or the Kubernetes manifests set is a
setting the process really reads: a misspelt name would be ignored silently and the process would
run on its default (e.g. a service calling the public URL it cannot reach from inside)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from kustomize_lite import build  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PORTAL = {  # compose service / Kubernetes app -> (package, env prefix)
    "gateway": ("gateway", "PORTAL_GATEWAY_"),
    "catalog": ("catalog", "PORTAL_CATALOG_"),
    "storage": ("storage", "PORTAL_STORAGE_"),
    "quality": ("quality", "PORTAL_QUALITY_"),
    "harvest": ("harvest_export", "PORTAL_HARVEST_"),
    "feedback": ("feedback", "PORTAL_FEEDBACK_"),
}


def settings_fields(package: str) -> set[str]:
    cls = importlib.import_module(f"{package}.settings").Settings
    return set(cls.model_fields)


def unknown(prefix: str, package: str, names: list[str]) -> list[str]:
    fields = settings_fields(package)
    return [n for n in names if n.startswith(prefix) and n[len(prefix) :].lower() not in fields]


def test_compose_sets_only_real_settings():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    bad, seen = [], set()
    for name, svc in compose["services"].items():
        base = name.removeprefix("migrate-")
        if base not in PORTAL:
            continue
        package, prefix = PORTAL[base]
        seen.add(base)
        bad += [f"{name}: {n}" for n in unknown(prefix, package, list(svc.get("environment", {})))]
    assert seen == set(PORTAL) and bad == []


@pytest.mark.parametrize("overlay", ["dev", "production"])
def test_kubernetes_sets_only_real_settings(overlay):
    bad, seen = [], set()
    for obj in build(ROOT / "deploy" / "k8s" / "overlays" / overlay):
        if obj["kind"] not in ("Deployment", "Job"):
            continue
        name = obj["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/name")
        if name not in PORTAL:
            continue
        package, prefix = PORTAL[name]
        seen.add(name)
        for c in obj["spec"]["template"]["spec"]["containers"]:
            names = [e["name"] for e in c.get("env", [])]
            bad += [f"{obj['kind']} {name}: {n}" for n in unknown(prefix, package, names)]
    assert seen == set(PORTAL) and bad == []


def test_the_check_catches_a_misspelt_setting():
    assert unknown("PORTAL_QUALITY_", "quality", ["PORTAL_QUALITY_FEEDBAK_URL"]) == [
        "PORTAL_QUALITY_FEEDBAK_URL"
    ]
    assert unknown("PORTAL_QUALITY_", "quality", ["PORTAL_QUALITY_FEEDBACK_URL"]) == []
