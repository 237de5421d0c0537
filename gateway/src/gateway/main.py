"""The gateway app: identity routes, the streaming proxy, CORS, rate limits, merged OpenAPI."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from portal_kit.app import ServiceContext, ServiceSpec, check_ready, create_service_app
from portal_kit.errors import problem
from portal_kit.events.worker import StreamSpec

from gateway import dashboard, identity, openapi
from gateway.keys import KeyRing
from gateway.proxy import proxy
from gateway.ratelimit import HeaderLimitMiddleware, RateLimiter, RateLimitMiddleware, Rule
from gateway.routes import ROUTERS
from gateway.runtime import Runtime, runtime
from gateway.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
PROXY_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def make_limiter(settings: Settings) -> RateLimiter:
    return RateLimiter(
        {
            "auth": Rule(settings.rate_limit_auth_per_minute, settings.rate_limit_auth_burst),
            "write": Rule(settings.rate_limit_write_per_minute, settings.rate_limit_write_burst),
            "token-write": Rule(
                settings.rate_limit_token_write_per_minute, settings.rate_limit_token_write_burst
            ),
        }
    )


async def upstream_ready(rt: Runtime) -> dict[str, bool]:
    timeout = httpx.Timeout(rt.settings.readiness_timeout)

    async def one(base: str) -> bool:
        try:
            resp = await rt.upstream.get(f"{base}/readyz", timeout=timeout)
            return resp.status_code == 200
        except httpx.HTTPError:
            return False

    upstreams = rt.settings.upstreams()
    results = await asyncio.gather(*(one(base) for base in upstreams.values()))
    return dict(zip(upstreams, results, strict=True))


async def readyz(request: Request) -> JSONResponse:
    rt = runtime(request)
    own, services = await asyncio.gather(check_ready(rt.ctx), upstream_ready(rt))
    checks = {**own, **{f"service:{k}": v for k, v in services.items()}}
    if all(checks.values()):
        return JSONResponse({"status": "ready", "checks": checks})
    failing = [k for k, v in checks.items() if not v]
    return problem(
        503, f"Not ready: {', '.join(failing)}", slug="not-ready", checks=checks, failing=failing
    )


def build_spec(settings: Settings) -> ServiceSpec:
    limiter = make_limiter(settings)

    async def startup(ctx: ServiceContext) -> None:
        keys = KeyRing(settings.signing_key_dir)
        keys.load(create=True)
        upstream = httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=settings.upstream_connect_timeout,
                read=settings.upstream_read_timeout,
                write=settings.upstream_read_timeout,
                pool=settings.upstream_connect_timeout,
            ),
            limits=httpx.Limits(
                max_connections=settings.upstream_pool_size,
                max_keepalive_connections=min(50, settings.upstream_pool_size),
            ),
            follow_redirects=False,
            trust_env=False,
        )
        ctx.extras["gateway"] = Runtime(
            settings=settings, ctx=ctx, keys=keys, upstream=upstream, limiter=limiter
        )
        async with ctx.sessionmaker() as session:
            await identity.ensure_admin(session, settings)
            await session.commit()
        if ctx.worker is not None:
            ctx.worker.wake_relay()

    async def shutdown(ctx: ServiceContext) -> None:
        rt: Runtime | None = ctx.extras.get("gateway")
        if rt is not None:
            await rt.upstream.aclose()

    def configure(app: FastAPI) -> None:
        # the library's /readyz knows nothing of upstreams: ours goes first, so it answers
        app.add_api_route(
            "/readyz",
            readyz,
            methods=["GET"],
            include_in_schema=False,
        )
        app.router.routes.insert(0, app.router.routes.pop())
        openapi.install(app)
        # last: everything the gateway does not answer itself goes to its service (or 404)
        app.add_api_route("/{path:path}", proxy, methods=PROXY_METHODS, include_in_schema=False)
        if settings.rate_limit_enabled:
            app.add_middleware(
                RateLimitMiddleware, limiter=limiter, exempt=settings.exempt_networks()
            )
        app.add_middleware(HeaderLimitMiddleware)  # hardening: 431 above 32 KB / 200 headers
        if settings.cors_origins:
            app.add_middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_credentials="*" not in settings.cors_origins,
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=[
                    "ETag",
                    "Location",
                    "Retry-After",
                    "X-Request-ID",
                    "Content-Disposition",
                ],
                max_age=600,
            )

    return ServiceSpec(
        name="gateway",
        title="Zaporizhzhia open-data portal API",
        description=(
            "The public API of the city open-data portal. Log in at `/api/v1/auth/token` "
            "(OAuth2 password form, username = email) and send `Authorization: Bearer <token>`; "
            "scripts may use an API token (`zpt_...`) from `/api/v1/auth/api-tokens` the same way."
        ),
        routers=[*ROUTERS, dashboard.router],
        stream=StreamSpec(name="IDENTITY", subjects=["identity.>"]),
        on_startup=[startup],
        on_shutdown=[shutdown],
        configure_app=configure,
    )


def create_app(settings: Settings | None = None, *, with_routes: bool = True) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(build_spec(settings), settings, with_routes=with_routes)
