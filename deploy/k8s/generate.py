"""Write deploy/k8s/base/<service>.yaml for every process from one table.

The six Deployments differ only in name, package, environment prefix, database and a few
sizes, so they are generated to stay identical in everything else (probes, security
context, volumes). Edit this file, then run:

    uv run python deploy/k8s/generate.py

and commit the result; tests/deploy checks that the committed files match the output.
Everything else under deploy/k8s (networking, ingress, overlays) is written by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

BASE = Path(__file__).parent / "base"
PART_OF = "zp-portal"
PORT = 8000
UID = 10001

# name, package, env prefix, database, min/max replicas, cpu/memory requests and limits
PROCESSES: list[dict[str, Any]] = [
    {
        "name": "gateway",
        "package": "gateway",
        "prefix": "PORTAL_GATEWAY_",
        "database": "portal_gateway",
        "replicas": (2, 6),
        "cpu": ("200m", "1"),
        "memory": ("256Mi", "512Mi"),
    },
    {
        "name": "catalog",
        "package": "catalog",
        "prefix": "PORTAL_CATALOG_",
        "database": "portal_catalog",
        "replicas": (2, 6),
        "cpu": ("200m", "1"),
        "memory": ("256Mi", "768Mi"),
    },
    {
        "name": "storage",
        "package": "storage",
        "prefix": "PORTAL_STORAGE_",
        "database": "portal_storage",
        "replicas": (2, 6),
        "cpu": ("100m", "1"),
        "memory": ("256Mi", "768Mi"),
    },
    {
        "name": "quality",
        "package": "quality",
        "prefix": "PORTAL_QUALITY_",
        "database": "portal_quality",
        "replicas": (2, 4),
        "cpu": ("200m", "2"),
        "memory": ("384Mi", "1536Mi"),
    },
    {
        "name": "harvest",
        "package": "harvest_export",
        "prefix": "PORTAL_HARVEST_",
        "database": "portal_harvest",
        "replicas": (2, 4),
        "cpu": ("100m", "1"),
        "memory": ("256Mi", "768Mi"),
    },
    {
        "name": "feedback",
        "package": "feedback",
        "prefix": "PORTAL_FEEDBACK_",
        "database": "portal_feedback",
        "replicas": (2, 4),
        "cpu": ("100m", "1"),
        "memory": ("256Mi", "512Mi"),
    },
]

# shared, non-secret settings: ConfigMap key -> settings field (without the prefix)
CONFIG_KEYS = {
    "ENVIRONMENT": "ENVIRONMENT",
    "PUBLIC_BASE_URL": "PUBLIC_BASE_URL",
    "NATS_URL": "NATS_URL",
    "JWKS_URL": "JWKS_URL",
    "S3_ENDPOINT": "S3_ENDPOINT",
    "S3_BUCKET": "S3_BUCKET",
    "S3_SECURE": "S3_SECURE",
    "S3_REGION": "S3_REGION",
    "LOG_LEVEL": "LOG_LEVEL",
    "DATABASE_POOL_SIZE": "DATABASE_POOL_SIZE",
}
# service-to-service calls (settings without the prefix), made through the gateway
PEER_CALLS = {
    "catalog": ("QUALITY_URL", "STORAGE_URL"),  # moderation pre-check, file metadata
    "quality": ("FEEDBACK_URL", "HARVEST_URL"),  # steward rating R, the card's harvest status
}
GATEWAY_CONFIG_KEYS = {"CORS_ORIGINS": "CORS_ORIGINS", "FORWARDED_ALLOW_IPS": "FORWARDED_ALLOW_IPS"}


def labels(p: dict[str, Any], component: str = "server") -> dict[str, str]:
    return {
        "app.kubernetes.io/name": p["name"],
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/component": component,
    }


def role(p: dict[str, Any]) -> str:
    return "gateway" if p["name"] == "gateway" else "service"


def env(p: dict[str, Any]) -> list[dict[str, Any]]:
    pre = p["prefix"]
    out: list[dict[str, Any]] = [
        {"name": f"{pre}HOST", "value": "0.0.0.0"},
        {"name": f"{pre}PORT", "value": str(PORT)},
        {"name": f"{pre}SERVICE_NAME", "value": p["name"]},
    ]
    keys = dict(CONFIG_KEYS)
    if p["name"] == "gateway":
        keys.update(GATEWAY_CONFIG_KEYS)
    for key, field in keys.items():
        out.append(
            {
                "name": f"{pre}{field}",
                "valueFrom": {"configMapKeyRef": {"name": "portal-config", "key": key}},
            }
        )
    # credentials: references only; the Secrets are made by the operator (docs/ops.md)
    out.append(
        {
            "name": f"{pre}DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": f"portal-{p['name']}-database", "key": "url"}},
        }
    )
    out += [
        {
            "name": f"{pre}S3_ACCESS_KEY",
            "valueFrom": {"secretKeyRef": {"name": "portal-s3", "key": "access-key"}},
        },
        {
            "name": f"{pre}S3_SECRET_KEY",
            "valueFrom": {"secretKeyRef": {"name": "portal-s3", "key": "secret-key"}},
        },
        {
            "name": "PORTAL_OTEL_ENABLED",
            "valueFrom": {"configMapKeyRef": {"name": "portal-config", "key": "OTEL_ENABLED"}},
        },
        {
            "name": "OTEL_EXPORTER_OTLP_ENDPOINT",
            "valueFrom": {
                "configMapKeyRef": {"name": "portal-config", "key": "OTEL_EXPORTER_OTLP_ENDPOINT"}
            },
        },
        {"name": "OTEL_SERVICE_NAME", "value": f"portal-{p['name']}"},
    ]
    # a service calling another's API goes through the gateway inside the cluster (the network
    # policies let only the gateway reach services), not the public URL pods may not reach
    for field in PEER_CALLS.get(p["name"], ()):
        out.append({"name": f"{pre}{field}", "value": f"http://gateway:{PORT}"})
    if p["name"] == "gateway":
        for other in PROCESSES:
            if other["name"] != "gateway":
                out.append(
                    {
                        "name": f"PORTAL_GATEWAY_{other['name'].upper()}_URL",
                        "value": f"http://{other['name']}:{PORT}",
                    }
                )
        out += [
            {"name": "PORTAL_GATEWAY_SIGNING_KEY_DIR", "value": "/var/lib/portal/signing-keys"},
            {
                "name": "PORTAL_ADMIN_EMAIL",
                "valueFrom": {"secretKeyRef": {"name": "portal-admin", "key": "email"}},
            },
            {
                "name": "PORTAL_ADMIN_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "portal-admin", "key": "password"}},
            },
        ]
    return out


def pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "fsGroup": UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def volumes(p: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    vols: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    if p["name"] == "gateway":
        vols.append(
            {
                "name": "signing-keys",
                "secret": {"secretName": "portal-gateway-signing-keys", "defaultMode": 0o440},
            }
        )
        mounts.append(
            {"name": "signing-keys", "mountPath": "/var/lib/portal/signing-keys", "readOnly": True}
        )
    return vols, mounts


def deployment(p: dict[str, Any]) -> dict[str, Any]:
    vols, mounts = volumes(p)
    pod_labels = {**labels(p), "portal.zp/role": role(p)}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": p["name"], "labels": pod_labels},
        "spec": {
            "replicas": p["replicas"][0],
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": labels(p)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(PORT),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": pod_security(),
                    # uvicorn's graceful shutdown (25 s) + the worker's flush, after preStop
                    "terminationGracePeriodSeconds": 45,
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": labels(p)},
                        }
                    ],
                    "containers": [
                        {
                            "name": p["name"],
                            "image": f"zp-portal/{p['name']}:dev",
                            "imagePullPolicy": "IfNotPresent",
                            "args": ["serve"],
                            "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
                            "env": env(p),
                            "resources": {
                                "requests": {"cpu": p["cpu"][0], "memory": p["memory"][0]},
                                "limits": {"cpu": p["cpu"][1], "memory": p["memory"][1]},
                            },
                            "startupProbe": {
                                "httpGet": {"path": "/healthz", "port": "http"},
                                "periodSeconds": 2,
                                "failureThreshold": 60,
                            },
                            "livenessProbe": {
                                "httpGet": {"path": "/healthz", "port": "http"},
                                "periodSeconds": 10,
                                "timeoutSeconds": 3,
                                "failureThreshold": 3,
                            },
                            "readinessProbe": {
                                "httpGet": {"path": "/readyz", "port": "http"},
                                "periodSeconds": 5,
                                "timeoutSeconds": 4,
                                "failureThreshold": 2,
                            },
                            # let the endpoints controller take the pod out before SIGTERM
                            "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
                            "securityContext": container_security(),
                            "volumeMounts": mounts,
                        }
                    ],
                    "volumes": vols,
                },
            },
        },
    }


def service(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": p["name"], "labels": labels(p)},
        "spec": {
            "type": "ClusterIP",
            "selector": labels(p),
            "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def hpa(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": p["name"], "labels": labels(p)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": p["name"]},
            "minReplicas": p["replicas"][0],
            "maxReplicas": p["replicas"][1],
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }


def pdb(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": p["name"], "labels": labels(p)},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels(p)}},
    }


def migration_job(p: dict[str, Any]) -> dict[str, Any]:
    job_labels = {**labels(p, "migration"), "portal.zp/role": "migration"}
    vols, mounts = volumes({**p, "name": "job"})
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"migrate-{p['name']}", "labels": job_labels},
        "spec": {
            "backoffLimit": 3,
            "activeDeadlineSeconds": 900,
            # gone before the next release applies a new (immutable) pod template
            "ttlSecondsAfterFinished": 600,
            "template": {
                "metadata": {"labels": job_labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": pod_security(),
                    "containers": [
                        {
                            "name": "migrate",
                            "image": f"zp-portal/{p['name']}:dev",
                            "imagePullPolicy": "IfNotPresent",
                            "args": ["migrate"],
                            "env": [e for e in env(p) if "ADMIN" not in e["name"]],
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"cpu": "1", "memory": "512Mi"},
                            },
                            "securityContext": container_security(),
                            "volumeMounts": mounts,
                        }
                    ],
                    "volumes": vols,
                },
            },
        },
    }


def render(p: dict[str, Any]) -> str:
    docs = [deployment(p), service(p), hpa(p), pdb(p), migration_job(p)]
    head = (
        f"# GENERATED by deploy/k8s/generate.py: {p['name']} "
        f"(python -m {p['package']}); edit the generator, not this file.\n"
    )
    return head + yaml.safe_dump_all(docs, sort_keys=False, width=100)


def outputs() -> dict[Path, str]:
    return {BASE / f"{p['name']}.yaml": render(p) for p in PROCESSES}


def main() -> int:
    check = "--check" in sys.argv
    stale = []
    for path, text in outputs().items():
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.write_text(text)
    if stale:
        print("out of date (run deploy/k8s/generate.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
