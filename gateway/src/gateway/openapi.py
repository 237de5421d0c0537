"""One OpenAPI document for the whole API: the gateway's routes plus each service's routed paths."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from portal_kit.openapi import WRITE_METHODS, problem_response

from gateway.proxy import route_for
from gateway.runtime import Runtime, runtime

FAILED_RETRY_SECONDS = 5.0
EDGE_DESCRIPTIONS = {
    401: "Bearer token invalid, expired or revoked (checked at the gateway)",
    429: "Too many requests (rate limit; see Retry-After)",
    431: "Request headers too large",
    502: "The owning service is unavailable",
    504: "The owning service did not answer in time",
}
COMPONENT_SECTIONS = (
    "schemas",
    "responses",
    "parameters",
    "examples",
    "requestBodies",
    "headers",
    "links",
    "callbacks",
)
SECURITY_SCHEME = {
    "OAuth2Password": {
        "type": "oauth2",
        "description": "Log in with email and password, or send an API token (zpt_...) as a "
        "bearer token",
        "flows": {"password": {"tokenUrl": "/api/v1/auth/token", "scopes": {}}},
    }
}


async def fetch_doc(rt: Runtime, service: str, base: str) -> tuple[dict[str, Any] | None, str]:
    now = time.monotonic()
    cached = rt.openapi_cache.get(service)
    if cached is not None:
        fetched_at, doc, error = cached
        ttl = rt.settings.openapi_cache_seconds if doc is not None else FAILED_RETRY_SECONDS
        if now - fetched_at < ttl:
            return doc, error
    try:
        resp = await rt.upstream.get(
            f"{base}/openapi.json", timeout=httpx.Timeout(3.0, connect=1.0)
        )
        resp.raise_for_status()
        doc = resp.json()
        if not isinstance(doc, dict):
            raise ValueError("not an object")
        result: tuple[dict[str, Any] | None, str] = (doc, "")
    except (httpx.HTTPError, ValueError) as exc:
        result = (None, f"{type(exc).__name__}")
    rt.openapi_cache[service] = (now, *result)
    return result


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v in renames:
                out[k] = renames[v]
            else:
                out[k] = _rewrite_refs(v, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, renames) for v in node]
    return node


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def merge(
    own: dict[str, Any],
    upstream_docs: dict[str, dict[str, Any] | None],
    services: set[str],
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    doc = copy.deepcopy(own)
    doc["openapi"] = own.get("openapi", "3.1.0")
    paths: dict[str, Any] = doc.setdefault("paths", {})
    components: dict[str, Any] = doc.setdefault("components", {})
    tags = {t["name"]: t for t in doc.get("tags", []) if isinstance(t, dict) and "name" in t}
    operation_ids = {
        op.get("operationId")
        for item in paths.values()
        for op in item.values()
        if isinstance(op, dict)
    }
    missing: list[str] = []
    for service, udoc in sorted(upstream_docs.items()):
        if udoc is None:
            missing.append(service)
            continue
        ucomponents = udoc.get("components") or {}
        renames: dict[str, str] = {}
        for section in COMPONENT_SECTIONS:
            for name, value in (ucomponents.get(section) or {}).items():
                existing = components.get(section, {}).get(name)
                if existing is not None and _canonical(existing) != _canonical(value):
                    prefix = "".join(p.capitalize() for p in service.replace("-", "_").split("_"))
                    renames[f"#/components/{section}/{name}"] = (
                        f"#/components/{section}/{prefix}_{name}"
                    )
        ucomponents = _rewrite_refs(ucomponents, renames)
        for section in COMPONENT_SECTIONS:
            for name, value in (ucomponents.get(section) or {}).items():
                ref = f"#/components/{section}/{name}"
                new_name = renames.get(ref, ref).rsplit("/", 1)[-1]
                components.setdefault(section, {})[new_name] = value
        for path, item in (udoc.get("paths") or {}).items():
            if route_for(path, services) != service or path in paths:
                continue
            item = _rewrite_refs(item, renames)
            for op in item.values():
                if isinstance(op, dict) and op.get("operationId"):
                    candidate, n = op["operationId"], 1
                    while candidate in operation_ids:
                        n += 1
                        candidate = f"{service}_{op['operationId']}" + (f"_{n}" if n > 2 else "")
                    op["operationId"] = candidate
                    operation_ids.add(candidate)
                    for tag in op.get("tags", []):
                        tags.setdefault(tag, {"name": tag})
            paths[path] = item
        for tag in udoc.get("tags") or []:
            if isinstance(tag, dict) and "name" in tag:
                tags.setdefault(tag["name"], tag)
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEME)
    _edge_problems(doc, set(own.get("paths") or {}))
    # every route accepts a token; anonymous access is allowed where the service allows it
    doc["security"] = [{"OAuth2Password": []}, {}]
    ready = paths.get("/readyz", {}).get("get")
    if isinstance(ready, dict):
        ready["summary"] = "Readiness: own database, NATS and every service ready"
    if tags:
        doc["tags"] = list(tags.values())
    description = own.get("info", {}).get("description", "")
    if missing:
        detail = "; ".join(f"{s} ({errors[s]})" if errors and errors.get(s) else s for s in missing)
        description += (
            f"\n\n**Incomplete:** these services did not answer and their routes are missing "
            f"from this document: {detail}."
        )
    doc.setdefault("info", {})["description"] = description
    doc["info"]["x-services-missing"] = missing
    return doc


def _edge_problems(doc: dict[str, Any], own_paths: set[str]) -> None:
    """Problems the gateway itself answers before a service sees the request: 401 for a bad
    bearer token (every route), 429 for writes beyond the rate limits, 431 for oversized
    headers, 502/504 when the owning service is down or slow (proxied routes)."""
    for path, item in (doc.get("paths") or {}).items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses = op["responses"]
            codes = [401, 431]
            if method in WRITE_METHODS:
                codes.append(429)
            if path not in own_paths:
                codes += [502, 504]
            for code in codes:
                responses.setdefault(str(code), problem_response(code, EDGE_DESCRIPTIONS[code]))


async def merged_openapi(app: FastAPI, rt: Runtime) -> dict[str, Any]:
    upstreams = rt.settings.upstreams()
    results = await asyncio.gather(*(fetch_doc(rt, name, base) for name, base in upstreams.items()))
    docs = {name: doc for name, (doc, _) in zip(upstreams, results, strict=True)}
    errors = {name: err for name, (_, err) in zip(upstreams, results, strict=True)}
    return merge(app.openapi(), docs, set(upstreams), errors)


def install(app: FastAPI) -> None:
    """Replace FastAPI's /openapi.json with the merged document (Swagger UI at /docs reads it)."""
    url = app.openapi_url or "/openapi.json"
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) != url]

    async def openapi_json(request: Request) -> JSONResponse:
        return JSONResponse(await merged_openapi(request.app, runtime(request)))

    app.add_route(url, openapi_json, include_in_schema=False)
