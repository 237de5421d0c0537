from pathlib import Path

from fastapi import FastAPI

from portal_kit.app import ServiceSpec, create_service_app
from harvest_export.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

SPEC = ServiceSpec(
    name="harvest_export",
    title="Harvest-export",
    description="CKAN-compatible Action API and DCAT-AP for data.gov.ua",
    routers=[],
    stream=None,
)


def create_app(settings: Settings | None = None, *, with_routes: bool = True) -> FastAPI:
    return create_service_app(SPEC, settings or Settings(), with_routes=with_routes)
