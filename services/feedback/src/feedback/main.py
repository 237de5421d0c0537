from pathlib import Path

from fastapi import FastAPI

from portal_kit.app import ServiceSpec, create_service_app
from portal_kit.events.worker import StreamSpec
from feedback.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

SPEC = ServiceSpec(
    name="feedback",
    title="Feedback",
    description="Reports, dataset requests, surveys, showcases",
    routers=[],
    stream=StreamSpec(name="FEEDBACK", subjects=["feedback.>"]),
)


def create_app(settings: Settings | None = None, *, with_routes: bool = True) -> FastAPI:
    return create_service_app(SPEC, settings or Settings(), with_routes=with_routes)
