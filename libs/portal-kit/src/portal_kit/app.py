"""App factory shared by every service: lifespan state, problem handlers, health, metrics, worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from minio import Minio
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from portal_kit.auth import TokenVerifier
from portal_kit.db import make_engine, make_sessionmaker
from portal_kit.errors import install_problem_handlers, problem
from portal_kit.events.consumer import Subscription
from portal_kit.events.worker import EventWorker, StreamSpec
from portal_kit.logging import RequestIdMiddleware, configure_logging
from portal_kit.metrics import MetricsMiddleware, metrics_endpoint
from portal_kit.openapi import install_problem_responses
from portal_kit.settings import ServiceSettings
from portal_kit.timeouts import BodyIdleTimeoutMiddleware
from portal_kit.tracing import instrument_app
from portal_kit.tracing import shutdown as flush_traces

log = logging.getLogger("portal.app")


@dataclass
class ServiceContext:
    """Everything a running service holds; lives in lifespan state as ``ctx``."""

    settings: ServiceSettings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    verifier: TokenVerifier
    http: httpx.AsyncClient
    worker: EventWorker | None = None
    s3: Minio | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    extras: dict[str, Any] = field(default_factory=dict)
    background: list[asyncio.Task[Any]] = field(default_factory=list)

    def spawn(self, coro: Awaitable[Any], name: str) -> None:
        """Run a long-lived background coroutine; it should return once ``stop`` is set."""
        self.background.append(asyncio.ensure_future(coro))

    async def sleep(self, seconds: float) -> bool:
        """Sleep unless stopping; returns False when the service is stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)
        return not self.stop.is_set()


Hook = Callable[[ServiceContext], Awaitable[None]]


@dataclass
class ServiceSpec:
    name: str
    title: str
    description: str = ""
    version: str = "0.1.0"
    routers: list[APIRouter] = field(default_factory=list)
    stream: StreamSpec | None = None
    subscriptions: Callable[[ServiceContext], list[Subscription]] | None = None
    uses_s3: bool = False
    on_startup: list[Hook] = field(default_factory=list)
    on_shutdown: list[Hook] = field(default_factory=list)
    configure_app: Callable[[FastAPI], None] | None = None


def make_s3(settings: ServiceSettings) -> Minio:
    return Minio(
        settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=settings.s3_secure,
        region=settings.s3_region,
    )


async def check_ready(ctx: ServiceContext) -> dict[str, bool]:
    checks: dict[str, bool] = {}
    try:
        async with ctx.engine.connect() as conn:
            await asyncio.wait_for(conn.execute(sa.text("SELECT 1")), timeout=2.0)
        checks["database"] = True
    except Exception:
        checks["database"] = False
    if ctx.worker is not None:
        checks.update(ctx.worker.status())
    if ctx.s3 is not None:
        try:
            s3 = ctx.s3
            checks["s3"] = await asyncio.wait_for(
                asyncio.to_thread(s3.bucket_exists, ctx.settings.s3_bucket), timeout=3.0
            )
        except Exception:
            checks["s3"] = False
    return checks


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: database, NATS and S3 (where used) reachable")
    async def readyz(request: Request) -> JSONResponse:
        ctx: ServiceContext = request.state.ctx
        checks = await check_ready(ctx)
        if all(checks.values()):
            return JSONResponse({"status": "ready", "checks": checks})
        failing = ", ".join(k for k, v in checks.items() if not v)
        return problem(503, f"Not ready: {failing}", slug="not-ready", checks=checks)

    router.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    return router


def create_service_app(
    spec: ServiceSpec, settings: ServiceSettings, *, with_routes: bool = True
) -> FastAPI:
    configure_logging(spec.name, settings.log_level, json_output=settings.log_json)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        engine = make_engine(settings.database_url, pool_size=settings.database_pool_size)
        sessionmaker = make_sessionmaker(engine)
        http = httpx.AsyncClient(timeout=10.0)
        verifier = TokenVerifier(
            settings.jwks_url,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            client=http,
        )
        ctx = ServiceContext(
            settings=settings,
            engine=engine,
            sessionmaker=sessionmaker,
            verifier=verifier,
            http=http,
        )
        if spec.uses_s3:
            ctx.s3 = make_s3(settings)
        if settings.run_worker or spec.stream is not None:
            ctx.worker = EventWorker(
                service=spec.name,
                nats_url=settings.nats_url,
                sessionmaker=sessionmaker,
                stream=spec.stream,
                subscriptions=(spec.subscriptions(ctx) if spec.subscriptions else [])
                if settings.run_worker
                else [],
                poll_interval=settings.outbox_poll_interval,
                run_relay=settings.run_worker,
            )
            await ctx.worker.start()
        for hook in spec.on_startup:
            await hook(ctx)
        try:
            yield {
                "ctx": ctx,
                "sessionmaker": sessionmaker,
                "verifier": verifier,
                "settings": settings,
            }
        finally:
            ctx.stop.set()
            for hook in spec.on_shutdown:
                with contextlib.suppress(Exception):
                    await hook(ctx)
            if ctx.background:
                _, pending = await asyncio.wait(ctx.background, timeout=10)
                for task in pending:
                    task.cancel()
            if ctx.worker is not None:
                await ctx.worker.stop()
            await http.aclose()
            await engine.dispose()
            flush_traces()

    app = FastAPI(
        title=spec.title,
        description=spec.description,
        version=spec.version,
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    install_problem_responses(app)  # OpenAPI: the problem+json answers of every operation
    app.include_router(health_router())
    if with_routes:
        for router in spec.routers:
            app.include_router(router)
    if spec.configure_app is not None:
        spec.configure_app(app)
    # hardening: a client trickling its body is cut off (408) instead of holding the request
    app.add_middleware(BodyIdleTimeoutMiddleware, idle=settings.body_idle_timeout)
    app.add_middleware(MetricsMiddleware, service=spec.name)
    app.add_middleware(RequestIdMiddleware)
    instrument_app(app, spec.name)  # no-op unless PORTAL_OTEL_ENABLED
    return app


def wake_relay(request: Request) -> None:
    """Call after a write that recorded events, to publish them without waiting for the poll."""
    ctx: ServiceContext = request.state.ctx
    if ctx.worker is not None:
        ctx.worker.wake_relay()
