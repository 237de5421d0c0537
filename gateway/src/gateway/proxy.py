"""Routing table and the streaming reverse proxy.

Bodies stream both ways (``request.stream()`` into httpx, ``aiter_raw()`` back out), so uploads
and downloads of any size pass through in constant memory. Paths and query strings are forwarded
unchanged. A bearer token is checked here first: a bad JWT never reaches a service, and an API
token (``zpt_...``) is exchanged for a short JWT, so services only ever verify JWTs.
"""

from __future__ import annotations

import logging

import httpx
from fastapi import Request
from portal_kit.errors import AppError, Unauthorized, problem
from portal_kit.logging import request_id_var
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse

from gateway import identity, tokens
from gateway.models import User
from gateway.runtime import Runtime, runtime

log = logging.getLogger("gateway.proxy")

# Public path -> owning service. A pattern ending in "*" is a raw prefix ("/catalog." matches
# "/catalog.ttl"); any other pattern matches itself and everything below it ("/api/v1/datasets"
# matches "/api/v1/datasets" and "/api/v1/datasets/x", not "/api/v1/datasetsx").
# "/api/v1/stats/<service>/..." goes to <service> (see route_for).
ROUTES: dict[str, str] = {
    "/api/v1/organizations": "catalog",
    "/api/v1/datasets": "catalog",
    "/api/v1/register": "catalog",
    "/api/v1/posts": "catalog",
    "/api/v1/themes": "catalog",
    "/api/v1/licenses": "catalog",
    "/api/v1/vocabularies": "catalog",
    "/api/v1/files": "storage",
    "/api/v1/uploads": "storage",
    "/api/v1/downloads": "storage",
    "/files": "storage",
    "/api/v1/quality": "quality",
    "/api/3/action": "harvest",
    "/api/action": "harvest",
    "/catalog.*": "harvest",
    "/dataset": "harvest",
    "/sitemap.xml": "harvest",
    "/api/v1/harvest": "harvest",
    "/api/v1/feedback": "feedback",
    "/api/v1/requests": "feedback",
    "/api/v1/surveys": "feedback",
    "/api/v1/showcases": "feedback",
}
STATS_PREFIX = "/api/v1/stats/"
SERVICE_ALIASES = {"harvest-export": "harvest", "harvest_export": "harvest"}

_ORDERED = sorted(ROUTES.items(), key=lambda kv: len(kv[0]), reverse=True)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "TRACE"})


def route_for(path: str, services: set[str] | None = None) -> str | None:
    """The service that owns ``path`` (None when nobody does)."""
    if path.startswith(STATS_PREFIX):
        name = path[len(STATS_PREFIX) :].split("/", 1)[0]
        name = SERVICE_ALIASES.get(name, name)
        if services is None or name in services:
            return name
        return None
    for pattern, service in _ORDERED:
        if pattern.endswith("*"):
            if path.startswith(pattern[:-1]):
                return service
        elif path == pattern or path.startswith(pattern + "/"):
            return service
    return None


def _dropped(headers: list[tuple[bytes, bytes]]) -> set[bytes]:
    """Hop-by-hop names, including those the Connection header lists."""
    drop = {h.encode() for h in HOP_BY_HOP}
    for name, value in headers:
        if name.lower() == b"connection":
            drop.update(v.strip().lower() for v in value.split(b",") if v.strip())
    return drop


async def edge_auth(rt: Runtime, request: Request) -> str | None:
    """Check the bearer token; returns the Authorization value to forward (None = none)."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, raw = header.partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw:
        raise Unauthorized("Authorization must be 'Bearer <token>'")
    if tokens.is_api_token(raw):
        async with rt.ctx.sessionmaker() as session:
            caller = await identity.api_token_caller(session, raw)
            jwt = await identity.mint_for(
                session,
                rt.keys,
                rt.settings,
                caller.user,
                token_id=caller.token_id,
                lifetime=rt.settings.exchanged_token_lifetime_seconds,
            )
            await session.commit()  # last_used_at
        return f"Bearer {jwt}"
    principal = tokens.verify(
        rt.keys, raw, issuer=rt.settings.jwt_issuer, audience=rt.settings.jwt_audience
    )
    active = rt.active.get(principal.user_id)
    if active is None:
        async with rt.ctx.sessionmaker() as session:
            user = await session.get(User, principal.user_id)
            active = bool(user and user.is_active)
        rt.active.put(principal.user_id, active)
    if not active:
        raise Unauthorized("Account deactivated")
    return header


def _upstream_headers(request: Request, authorization: str | None) -> list[tuple[bytes, bytes]]:
    raw = request.scope["headers"]
    drop = _dropped(raw) | {
        b"host",
        b"authorization",
        b"x-request-id",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"forwarded",
    }
    out = [(k, v) for k, v in raw if k.lower() not in drop]
    if authorization:
        out.append((b"authorization", authorization.encode("latin-1")))
    client = request.client.host if request.client else None
    prior = request.headers.get("x-forwarded-for")
    # uvicorn already turned a trusted proxy's X-Forwarded-For into request.client; keep the
    # chain only when the peer was trusted (then the header has been consumed, so rebuild it)
    chain = [client] if client else []
    if prior and client and prior.split(",")[0].strip() == client:
        chain = [p.strip() for p in prior.split(",") if p.strip()]
    if chain:
        out.append((b"x-forwarded-for", ", ".join(chain).encode("latin-1")))
    out.append((b"x-forwarded-proto", request.url.scheme.encode("latin-1")))
    host = request.headers.get("host")
    if host:
        out.append((b"x-forwarded-host", host.encode("latin-1")))
    rid = request_id_var.get()
    if rid:
        out.append((b"x-request-id", rid.encode("latin-1")))
    return out


IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})


async def proxy(request: Request) -> Response:
    rt = runtime(request)
    # a harvest source URL saved with a trailing slash makes harvesters ask for "//api/3/...":
    # route and forward such paths as if the slashes were one
    path = "/" + request.url.path.lstrip("/")
    service = route_for(path, set(rt.settings.upstreams()))
    if service is None:
        return problem(404, f"No route for {path}", instance=path)
    try:
        authorization = await edge_auth(rt, request)
    except AppError as exc:
        return problem(
            exc.status, exc.detail, instance=path, headers=exc.headers or None, **exc.extra
        )
    base = rt.settings.upstreams()[service]
    raw_path = b"/" + (request.scope.get("raw_path") or path.encode()).lstrip(b"/")
    qs = request.scope.get("query_string") or b""
    url = httpx.URL(base).copy_with(raw_path=raw_path + (b"?" + qs if qs else b""))
    headers = _upstream_headers(request, authorization)
    has_body = request.method not in BODYLESS or any(
        k in (b"content-length", b"transfer-encoding") for k, _ in request.scope["headers"]
    )
    content = request.stream() if has_body else None
    upstream_req = rt.upstream.build_request(request.method, url, headers=headers, content=content)
    try:
        try:
            upstream = await rt.upstream.send(upstream_req, stream=True)
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            # a pooled keep-alive connection the service had already closed (it does so after
            # an error response): a request without a body is safe to send once more
            if has_body or request.method not in IDEMPOTENT:
                raise
            log.info("retrying %s %s on a fresh connection: %r", request.method, path, exc)
            upstream_req = rt.upstream.build_request(request.method, url, headers=headers)
            upstream = await rt.upstream.send(upstream_req, stream=True)
    except ClientDisconnect:
        return Response(status_code=499)
    except httpx.TimeoutException as exc:
        log.warning("upstream %s timed out: %r", service, exc)
        return problem(
            504, f"The {service} service did not answer in time", instance=path, service=service
        )
    except httpx.HTTPError as exc:
        log.warning("upstream %s unreachable: %r", service, exc)
        return problem(502, f"The {service} service is unavailable", instance=path, service=service)
    # the gateway's server sets its own Date and Server (without a version): the service's
    # copies would repeat them
    drop = _dropped(list(upstream.headers.raw)) | {b"x-request-id", b"date", b"server"}
    response = StreamingResponse(
        _relay(upstream, service),
        status_code=upstream.status_code,
        background=BackgroundTask(upstream.aclose),
    )
    response.raw_headers = [
        (k.lower(), v) for k, v in upstream.headers.raw if k.lower() not in drop
    ]
    if not any(k == b"x-content-type-options" for k, _ in response.raw_headers):
        # hardening: data is never sniffed into HTML by a browser
        response.raw_headers.append((b"x-content-type-options", b"nosniff"))
    return response


async def _relay(upstream: httpx.Response, service: str):  # type: ignore[no-untyped-def]
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:
        # headers are gone already: all we can do is cut the body short
        log.warning("upstream %s broke off mid-response: %r", service, exc)
        raise
