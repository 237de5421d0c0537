"""A small Python renderer of the Kustomize subset deploy/k8s uses, for machines without kubectl.

No kustomize binary installs from PyPI or Debian for Python 3.11 (pykustomize needs 3.14),
so the tests run ``kubectl kustomize`` where it exists and this renderer everywhere; where
both exist a test checks that they agree. Supported, and nothing more (anything else raises):
``resources`` (files and directories), ``namespace``, ``labels`` (pairs, includeSelectors
false, includeTemplates), ``images`` (newName/newTag), ``configMapGenerator`` and
``secretGenerator`` (literals, files; behavior create/merge; disableNameSuffixHash only),
``patches`` with ``path`` (strategic merge, matched by kind and name).
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "labels",
    "images",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "patches",
}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
}
# list merge keys of the strategic merge patch, by field name (the ones our objects use)
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}


class KustomizeError(ValueError):
    pass


def _load_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def merge_patch(base: Any, patch: Any, field: str | None = None) -> Any:
    """Strategic merge: maps merge key by key (null deletes); lists of maps with a merge key
    merge element by element; any other list is replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = merge_patch(out[key], value, key)
            else:
                out[key] = copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(patch, list) and field in MERGE_KEYS:
        key = MERGE_KEYS[field]
        out = [copy.deepcopy(x) for x in base]
        for item in patch:
            for i, existing in enumerate(out):
                if isinstance(existing, dict) and existing.get(key) == item.get(key):
                    out[i] = merge_patch(existing, item, None)
                    break
            else:
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(patch)


def _generated(kind: str, gen: dict[str, Any], root: Path) -> dict[str, Any]:
    data: dict[str, str] = {}
    for literal in gen.get("literals", []):
        k, _, v = literal.partition("=")
        data[k] = v
    for entry in gen.get("files", []):
        k, _, f = entry.partition("=") if "=" in entry else (Path(entry).name, "", entry)
        data[k] = (root / f).read_text()
    if kind == "Secret":
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": gen["name"]},
            "type": gen.get("type", "Opaque"),
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": gen["name"]},
        "data": data,
    }


def _find(objects: list[dict[str, Any]], kind: str, name: str) -> int:
    for i, obj in enumerate(objects):
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return i
    raise KustomizeError(f"no {kind}/{name} to patch or merge")


def _set_images(obj: dict[str, Any], images: list[dict[str, Any]]) -> None:
    spec = obj.get("spec", {})
    pod = spec.get("template", {}).get("spec") if obj["kind"] in POD_TEMPLATE_KINDS else None
    if pod is None:
        return
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        name, _, tag = container["image"].partition(":")
        for image in images:
            if image["name"] == name:
                name = image.get("newName", name)
                tag = image.get("newTag", tag)
                container["image"] = f"{name}:{tag}" if tag else name


def build(directory: Path | str) -> list[dict[str, Any]]:
    root = Path(directory)
    kfile = root / "kustomization.yaml"
    k = yaml.safe_load(kfile.read_text())
    unknown = set(k) - SUPPORTED
    if unknown:
        raise KustomizeError(f"{kfile}: unsupported fields {sorted(unknown)}")
    if not (k.get("generatorOptions") or {}).get("disableNameSuffixHash"):
        if k.get("configMapGenerator") or k.get("secretGenerator"):
            raise KustomizeError(f"{kfile}: only disableNameSuffixHash generators are supported")

    objects: list[dict[str, Any]] = []
    for res in k.get("resources", []):
        path = (root / res).resolve()
        objects += build(path) if path.is_dir() else _load_docs(path)

    for kind, key in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for gen in k.get(key, []):
            obj = _generated(kind, gen, root)
            behavior = gen.get("behavior", "create")
            if behavior == "create":
                objects.append(obj)
            elif behavior == "merge":
                i = _find(objects, kind, gen["name"])
                objects[i] = merge_patch(objects[i], obj)
            else:
                raise KustomizeError(f"generator behavior {behavior!r} not supported")

    for patch in k.get("patches", []):
        if set(patch) != {"path"}:
            raise KustomizeError(f"only file patches are supported: {patch}")
        for doc in _load_docs(root / patch["path"]):
            i = _find(objects, doc["kind"], doc["metadata"]["name"])
            objects[i] = merge_patch(objects[i], doc)

    for obj in objects:
        _set_images(obj, k.get("images", []))
        for entry in k.get("labels", []):
            if entry.get("includeSelectors"):
                raise KustomizeError("labels.includeSelectors is not supported")
            obj["metadata"].setdefault("labels", {}).update(entry["pairs"])
            template = obj.get("spec", {}).get("template")
            if entry.get("includeTemplates") and template is not None:
                template.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])
            if entry.get("includeTemplates"):
                for claim in obj.get("spec", {}).get("volumeClaimTemplates", []):
                    claim.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])
        if k.get("namespace"):
            if obj["kind"] in CLUSTER_SCOPED:
                continue
            obj["metadata"]["namespace"] = k["namespace"]
    return objects
