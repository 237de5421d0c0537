"""Consumed events -> the read model (catalog organizations, datasets, resources; quality)."""

from __future__ import annotations

from portal_kit.app import ServiceContext
from portal_kit.events.consumer import Subscription
from portal_kit.events.envelope import CloudEvent
from sqlmodel.ext.asyncio.session import AsyncSession

from harvest_export import readmodel
from harvest_export.settings import Settings


def subscriptions(ctx: ServiceContext) -> list[Subscription]:
    settings: Settings = ctx.settings  # type: ignore[assignment]

    async def on_dataset(session: AsyncSession, event: CloudEvent) -> None:
        await readmodel.apply_dataset(session, event.data, settings)

    async def on_resource(session: AsyncSession, event: CloudEvent) -> None:
        # the event carries the whole dataset document (resources included)
        dataset = event.data.get("dataset")
        if dataset:
            await readmodel.apply_dataset(session, dataset, settings)

    async def on_organization(session: AsyncSession, event: CloudEvent) -> None:
        await readmodel.apply_organization(
            session, event.data, settings, deleted=event.type.endswith(".deleted")
        )

    async def on_quality(session: AsyncSession, event: CloudEvent) -> None:
        await readmodel.apply_quality(session, event.data, settings)

    return [
        Subscription(
            stream="CATALOG",
            durable="harvest_export__catalog",
            handlers={
                "catalog.dataset.*": on_dataset,
                "catalog.resource.*": on_resource,
                "catalog.organization.*": on_organization,
            },
        ),
        Subscription(
            stream="QUALITY",
            durable="harvest_export__quality",
            handlers={"quality.dataset.assessed": on_quality},
        ),
    ]
