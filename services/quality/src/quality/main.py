from pathlib import Path

from fastapi import FastAPI
from portal_kit.app import ServiceSpec, create_service_app
from portal_kit.events.worker import StreamSpec

from quality.handlers import subscriptions
from quality.jobs import on_startup
from quality.routes import router, stats
from quality.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

SPEC = ServiceSpec(
    name="quality",
    title="Quality",
    description="Validation, scores, moderation gate, KPI and steward ratings",
    routers=[router, stats],
    stream=StreamSpec(name="QUALITY", subjects=["quality.>"]),
    subscriptions=subscriptions,
    uses_s3=True,
    on_startup=[on_startup],
)


def create_app(settings: Settings | None = None, *, with_routes: bool = True) -> FastAPI:
    return create_service_app(SPEC, settings or Settings(), with_routes=with_routes)
