from pathlib import Path

from fastapi import FastAPI
from portal_kit.app import ServiceContext, ServiceSpec, create_service_app
from portal_kit.events.worker import StreamSpec

from feedback import dataset_requests, reports, showcases, surveys
from feedback.handlers import subscriptions
from feedback.housekeeping import housekeeping_loop
from feedback.notifications import sender_loop
from feedback.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


async def start_loops(ctx: ServiceContext) -> None:
    if not ctx.settings.run_worker:  # the "api" process leaves background work to the worker
        return
    ctx.spawn(sender_loop(ctx), "notification-sender")
    ctx.spawn(showcases.link_loop(ctx), "link-checker")
    ctx.spawn(housekeeping_loop(ctx), "housekeeping")


SPEC = ServiceSpec(
    name="feedback",
    title="Feedback",
    description="Reports on datasets with response deadlines, dataset requests and votes, "
    "surveys, showcases of reuse",
    routers=[
        reports.router,
        reports.stats_router,
        dataset_requests.router,
        surveys.router,
        showcases.router,
    ],
    stream=StreamSpec(name="FEEDBACK", subjects=["feedback.>"]),
    subscriptions=subscriptions,
    on_startup=[start_loops],
)


def create_app(settings: Settings | None = None, *, with_routes: bool = True) -> FastAPI:
    return create_service_app(SPEC, settings or Settings(), with_routes=with_routes)
