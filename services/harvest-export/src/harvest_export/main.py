import logging
from pathlib import Path

from fastapi import FastAPI
from portal_kit.app import ServiceContext, ServiceSpec, create_service_app
from portal_kit.events.worker import StreamSpec
from starlette.types import ASGIApp, Receive, Scope, Send

from harvest_export import ckan_routes, dcat_routes, handlers, log_routes, readmodel, stats_routes
from harvest_export.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
log = logging.getLogger("harvest_export")


async def announce_backlog(ctx: ServiceContext) -> None:
    """Once per start: datasets exported before their SHACL result was announced get it now
    (quality's MQA then uses the real validation for them too); retried while the database is
    not reachable."""
    while True:
        try:
            n = await readmodel.announce_unvalidated(ctx.sessionmaker, ctx.settings)  # type: ignore[arg-type]
            if n:
                log.info("announced the SHACL result of %d earlier exports", n)
                if ctx.worker is not None:
                    ctx.worker.wake_relay()
            return
        except Exception:
            log.exception("announcing earlier SHACL results failed; retrying")
            if not await ctx.sleep(10):
                return


async def on_startup(ctx: ServiceContext) -> None:
    if ctx.settings.run_worker:
        ctx.spawn(announce_backlog(ctx), "harvest-announce-backlog")


class CollapseSlashes:
    """``//api/3/action/...`` (a harvest source URL entered with a trailing slash) works too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "//" in scope.get("path", ""):
            path = scope["path"]
            while "//" in path:
                path = path.replace("//", "/")
            scope = {**scope, "path": path, "raw_path": path.encode()}
        await self.app(scope, receive, send)


def configure(app: FastAPI) -> None:
    app.router.redirect_slashes = False
    app.add_middleware(CollapseSlashes)


SPEC = ServiceSpec(
    name="harvest_export",
    title="Harvest-export",
    description="CKAN-compatible Action API and DCAT-AP for data.gov.ua",
    routers=[ckan_routes.router, dcat_routes.router, log_routes.router, stats_routes.router],
    stream=StreamSpec(name="HARVEST", subjects=["harvest.>"]),
    subscriptions=handlers.subscriptions,
    configure_app=configure,
    on_startup=[on_startup],
)


def create_app(settings: Settings | None = None, *, with_routes: bool = True) -> FastAPI:
    return create_service_app(SPEC, settings or Settings(), with_routes=with_routes)
