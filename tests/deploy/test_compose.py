"""docker-compose.yml and .env.example: valid Compose, complete configuration, safe defaults."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).parent / "data" / "compose-spec.json"
PORTAL = {  # compose service -> (package, env prefix, database)
    "gateway": ("gateway", "PORTAL_GATEWAY_", "portal_gateway"),
    "catalog": ("catalog", "PORTAL_CATALOG_", "portal_catalog"),
    "storage": ("storage", "PORTAL_STORAGE_", "portal_storage"),
    "quality": ("quality", "PORTAL_QUALITY_", "portal_quality"),
    "harvest": ("harvest_export", "PORTAL_HARVEST_", "portal_harvest"),
    "feedback": ("feedback", "PORTAL_FEEDBACK_", "portal_feedback"),
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def env_example() -> dict[str, str]:
    out = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def test_compose_file_validates_against_the_compose_schema(compose):
    jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).validate(compose)


def test_the_schema_check_rejects_a_broken_compose_file(compose):
    broken = json.loads(json.dumps(compose))
    broken["services"]["gateway"]["depends_on"]["catalog"]["condition"] = "service_ready"
    broken["services"]["catalog"]["healthcheck"]["interval"] = {"seconds": 10}
    errors = list(jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).iter_errors(broken))
    assert len(errors) >= 2


def test_every_variable_compose_reads_is_documented_in_env_example():
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    documented = env_example()
    assert used == set(documented), (used - set(documented), set(documented) - used)
    # every documented variable has a comment line right above it
    lines = (ROOT / ".env.example").read_text().splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert lines[i - 1].startswith("#"), f"{line} is not documented"


def test_secrets_are_required_and_have_no_default():
    text = (ROOT / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    assert {
        "POSTGRES_PASSWORD",
        "PORTAL_DB_PASSWORD",
        "MINIO_ROOT_PASSWORD",
        "PORTAL_S3_SECRET_KEY",
        "PORTAL_ADMIN_EMAIL",
        "PORTAL_ADMIN_PASSWORD",
    } <= required
    env = env_example()
    for name in required:
        assert env[name] == "", f"{name} must not have a value in .env.example"
    # no secret is given a fallback anywhere
    assert not re.search(r"\$\{[A-Z_]*(PASSWORD|SECRET)[A-Z_]*:-", text)


def test_every_process_is_migrated_first_and_started_after_the_stores(compose):
    services = compose["services"]
    for name, (package, prefix, database) in PORTAL.items():
        svc, job = services[name], services[f"migrate-{name}"]
        assert svc["build"]["args"]["SERVICE"] == package == job["build"]["args"]["SERVICE"]
        assert svc["image"] == job["image"]
        assert job["command"] == ["migrate"] and job["restart"] == "no"
        assert svc["command"] == ["serve"]
        deps = svc["depends_on"]
        assert deps[f"migrate-{name}"]["condition"] == "service_completed_successfully"
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["nats"]["condition"] == "service_healthy"
        assert deps["minio-init"]["condition"] == "service_completed_successfully"
        assert svc["healthcheck"]["test"][-1] == "/readyz"
        env = svc["environment"]
        assert env[f"{prefix}DATABASE_URL"].endswith(f"@postgres:5432/{database}")
        assert env[f"{prefix}HOST"] == "0.0.0.0" and env[f"{prefix}PORT"] == "8000"
        assert env[f"{prefix}NATS_URL"] == "nats://nats:4222"
        assert env == job["environment"] or name == "gateway"
        assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"]
    gw = compose["services"]["gateway"]
    for name in PORTAL:
        if name != "gateway":
            assert gw["depends_on"][name]["condition"] == "service_healthy"
            assert gw["environment"][f"PORTAL_GATEWAY_{name.upper()}_URL"] == f"http://{name}:8000"
    assert gw["ports"] == ["${PORTAL_HTTP_PORT:-8000}:8000"]


def test_stores_have_health_checks_and_named_volumes(compose):
    services = compose["services"]
    for name in ("postgres", "nats", "minio"):
        assert services[name]["healthcheck"]["test"]
    assert "--jetstream" in services["nats"]["command"]
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    named = set(compose["volumes"])
    for svc in services.values():
        for vol in svc.get("volumes", []):
            source = vol.split(":", 1)[0]
            assert source.startswith("./") or source in named, vol
    assert {"postgres-data", "nats-data", "minio-data", "gateway-keys"} <= named


def test_postgres_init_script_creates_every_service_database(compose):
    listed = compose["services"]["postgres"]["environment"]["PORTAL_DATABASES"].split()
    assert sorted(listed) == sorted(db for _, _, db in PORTAL.values())
    script = (ROOT / "deploy/compose/postgres-init.sh").read_text()
    assert "CREATE DATABASE %I OWNER portal" in script and "for db in $PORTAL_DATABASES" in script
    # the dev Kubernetes overlay runs the same script
    assert (ROOT / "deploy/k8s/overlays/dev/postgres-init.sh").read_text() == script
    assert (ROOT / "deploy/k8s/overlays/dev/minio-init.sh").read_text() == (
        ROOT / "deploy/compose/minio-init.sh"
    ).read_text()


def test_dockerfile_builds_every_service_the_same_way():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M)
    assert [s[1] for s in stages] == ["uv", "builder", "runtime"]
    runtime = text.split("AS runtime", 1)[1]
    assert "uv sync --frozen --no-dev" in text and "--package" in text
    assert "COPY --from=uv" not in runtime and "apt-get" not in runtime and "gcc" not in runtime
    assert re.search(r"^USER 10001:10001$", runtime, re.M)
    assert "PYTHONUNBUFFERED=1" in runtime
    assert re.search(r"^STOPSIGNAL SIGTERM$", runtime, re.M)
    assert re.search(
        r"^HEALTHCHECK .*\n\s+CMD \[\"python\", \"/app/healthcheck.py\"\]", runtime, re.M
    )
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[1:2] == ["**"] or "**" in ignore
