from pathlib import Path

from fastapi import FastAPI
from portal_kit.app import ServiceSpec, create_service_app
from portal_kit.events.worker import StreamSpec

from catalog import dataset_routes, handlers, organizations, posts, register, search, stats
from catalog.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

SPEC = ServiceSpec(
    name="catalog",
    title="Catalog",
    description="Organizations, datasets and their passports, the dataset register, moderation, search, news",
    routers=[
        organizations.router,
        search.router,
        dataset_routes.router,
        register.router,
        posts.router,
        posts.vocab_router,
        stats.router,
    ],
    stream=StreamSpec(name="CATALOG", subjects=["catalog.>"]),
    subscriptions=handlers.subscriptions,
    on_startup=[register.preload],
)


def create_app(settings: Settings | None = None, *, with_routes: bool = True) -> FastAPI:
    return create_service_app(SPEC, settings or Settings(), with_routes=with_routes)
