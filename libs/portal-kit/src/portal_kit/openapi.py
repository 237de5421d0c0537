"""Error responses in every service's OpenAPI: inferred from each route, rendered as problem+json.

FastAPI documents only the success response and a 422 that claims ``application/json`` with its
own ``HTTPValidationError`` body, while every error we answer is ``application/problem+json``
(portal_kit.errors). ``install_problem_responses(app)`` post-processes ``app.openapi()``:

- one shared ``Problem`` schema (RFC 9457 members plus ``errors`` and free extensions);
- per operation, the problems it can give, inferred from the route:
  400 (bad input, e.g. NUL in text) and 422 for any parameter or body; 408 for a request body
  (portal_kit.timeouts); 401 and 403 when a principal is resolved (``optional_principal`` or a
  ``responses_for_dependency`` registration, e.g. the gateway's callers); 404 for path
  parameters; 409 for writes by a principal; 412 and 428 when the endpoint checks ``If-Match``;
  413 and 415 for raw-body uploads (endpoints reading ``request.stream()``);
- explicit ``responses=`` of a route win; a declared 4xx/5xx without a real body schema gets
  the problem+json body.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from portal_kit.auth import current_principal, optional_principal
from portal_kit.errors import _TITLES, PROBLEM_JSON

PROBLEM_REF = "#/components/schemas/Problem"
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details (application/problem+json)",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": "stable URI of the problem kind"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "description": "field errors: loc (path to the field), msg, type",
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}
# (regex over the endpoint's source, statuses it implies)
_SOURCE_HINTS: list[tuple[str, tuple[int, ...]]] = [
    (r"request\.(json|body|form)\(\)", (400, 408, 422)),
    (r"\bBadRequest\(", (400,)),
    (r"\bUnprocessable\(|\bunprocessable\(", (422,)),
    (r"\bForbidden\(", (403,)),
    (r"\bNotFound\(", (404,)),
    (r"\bConflict\(", (409,)),
    (r"\bPayloadTooLarge\(", (413,)),
]
WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})
# dependencies that resolve a caller: call -> True when anonymous callers are refused (401)
_PRINCIPAL_DEPENDENCIES: dict[Callable[..., Any], bool] = {
    optional_principal: False,
    current_principal: True,
}


def register_principal_dependency(call: Callable[..., Any], *, required: bool) -> None:
    """Teach the inference a service's own caller dependency (e.g. the gateway's)."""
    _PRINCIPAL_DEPENDENCIES[call] = required


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    return {
        "description": description or _TITLES.get(status, "Error"),
        "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}},
    }


def _calls(dependant: Dependant) -> Iterable[Callable[..., Any]]:
    for dep in dependant.dependencies:
        if dep.call is not None:
            yield dep.call
        yield from _calls(dep)


def _params(dependant: Dependant, kind: str) -> list[Any]:
    out = list(getattr(dependant, kind))
    for dep in dependant.dependencies:
        out.extend(_params(dep, kind))
    return out


def _source(call: Any) -> str:
    try:
        return inspect.getsource(call)
    except (OSError, TypeError):
        return ""


def _api_routes(app: FastAPI) -> Iterable[Any]:
    """Every API route with its effective path and dependencies (FastAPI >= 0.16x nests
    included routers; ``iter_route_contexts`` resolves them the way ``get_openapi`` does)."""
    iter_contexts = getattr(fastapi_routing, "iter_route_contexts", None)
    if iter_contexts is None:  # older FastAPI: a flat list
        yield from (r for r in app.routes if isinstance(r, APIRoute))
        return
    for context in iter_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def inferred_statuses(route: Any, method: str) -> dict[int, str]:
    """Status -> description of the problems ``route`` can answer for ``method``."""
    dependant = route.dependant
    calls = list(_calls(dependant))
    principal = [_PRINCIPAL_DEPENDENCIES[c] for c in calls if c in _PRINCIPAL_DEPENDENCIES]
    path = _params(dependant, "path_params")
    inputs = path or any(
        _params(dependant, kind) for kind in ("query_params", "header_params", "body_params")
    )
    source = _source(route.endpoint)
    lowered = source.lower()
    raw_body = "request.stream()" in source or "raw_chunks(" in source
    out: dict[int, str] = {}
    if inputs or raw_body:
        out[400] = "Bad request (e.g. malformed or NUL in text)"
        out[422] = "Invalid parameters or body (errors[] names the fields)"
    if _params(dependant, "body_params") or raw_body:
        out[408] = "The request body stopped arriving (idle timeout)"
    if principal:
        out[401] = (
            "Authentication required or token invalid"
            if any(principal)
            else "Token invalid or expired (anonymous access is allowed)"
        )
        out[403] = "Not allowed for this caller"
    if path:
        out[404] = "Not found (or not visible to this caller)"
    if method in WRITE_METHODS and principal:
        out[409] = "Conflicts with the current state (duplicate name, wrong status, ...)"
    if "if_match" in lowered or "if-match" in lowered:
        out[412] = "If-Match does not name the current revision (re-read and retry)"
        out[428] = "If-Match is required"
    if raw_body:
        out[413] = "Too large (file size limit or organization quota)"
        out[415] = "File type not accepted"
    # what the endpoint itself raises or answers (a body read by hand, Unprocessable(...), ...)
    for pattern, statuses in _SOURCE_HINTS:
        if re.search(pattern, source):
            for status in statuses:
                out.setdefault(status, _TITLES.get(status, "Error"))
    for match in re.finditer(r"(?:problem|text_error)\(\s*(4\d\d)\b", source):
        out.setdefault(int(match.group(1)), _TITLES.get(int(match.group(1)), "Error"))
    return out


def _success_media_types(route: Any) -> list[str]:
    """Media types the endpoint answers besides JSON (``media_type="text/csv; ..."`` literals),
    e.g. CSV/XLSX exports chosen by ``?format=``."""
    found = re.findall(r'media_type\s*=\s*"([a-z]+/[^";]+)', _source(route.endpoint))
    return sorted({m.strip() for m in found} - {PROBLEM_JSON})


def _has_real_body(response: dict[str, Any]) -> bool:
    for media, body in (response.get("content") or {}).items():
        schema = (body or {}).get("schema") or {}
        ref = schema.get("$ref", "")
        if media == PROBLEM_JSON:
            continue
        if schema and not ref.endswith("/HTTPValidationError"):
            return True
    return False


def document_problems(app: FastAPI, schema: dict[str, Any]) -> dict[str, Any]:
    """Add the inferred problem responses to ``schema`` (app.openapi()) in place."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    paths = schema.get("paths") or {}
    for route in _api_routes(app):
        if not route.include_in_schema:
            continue
        item = paths.get(route.path_format) or {}
        for method in route.methods or ():
            op = item.get(method.lower())
            if not isinstance(op, dict):
                continue
            responses = op.setdefault("responses", {})
            success = responses.get(str(getattr(route, "status_code", None) or 200))
            if isinstance(success, dict):
                content = success.setdefault("content", {})
                for media in _success_media_types(route):
                    content.setdefault(media, {"schema": {"type": "string", "format": "binary"}})
            for status, description in inferred_statuses(route, method.lower()).items():
                responses.setdefault(str(status), problem_response(status, description))
            for code, response in responses.items():
                if code[:1] in ("4", "5") and not _has_real_body(response):
                    response["content"] = problem_response(int(code))["content"]
                    if code == "422":
                        response["description"] = "Invalid parameters or body (errors[] names them)"
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's, replaced by Problem
        if unused in schemas and unused not in _refs(schema, skip=unused):
            del schemas[unused]
    return schema


def _refs(schema: dict[str, Any], skip: str) -> set[str]:
    """Names of the schemas referenced anywhere except from ``skip`` itself."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref" and isinstance(v, str):
                    found.add(v.rsplit("/", 1)[-1])
                elif not (k == skip and node is schema["components"]["schemas"]):
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema)
    return found


def install_problem_responses(app: FastAPI) -> None:
    """Make ``app.openapi()`` document problem responses (cached like FastAPI's own)."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(app, original())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
