from pathlib import Path

from fastapi import FastAPI

from portal_kit.app import ServiceSpec, create_service_app
from portal_kit.events.worker import StreamSpec
from storage.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

SPEC = ServiceSpec(
    name="storage",
    title="Storage",
    description="Files in S3",
    routers=[],
    stream=StreamSpec(name="STORAGE", subjects=["storage.>"]),
)


def create_app(settings: Settings | None = None, *, with_routes: bool = True) -> FastAPI:
    return create_service_app(SPEC, settings or Settings(), with_routes=with_routes)
