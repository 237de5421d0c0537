"""Consumed events -> effects. Idempotent (inbox) and tolerant of reordering (revision)."""

from __future__ import annotations

from typing import Any

from portal_kit.app import ServiceContext
from portal_kit.events.consumer import Subscription
from portal_kit.events.envelope import CloudEvent
from sqlmodel.ext.asyncio.session import AsyncSession

from quality import service


async def on_file_stored(session: AsyncSession, event: CloudEvent) -> None:
    await service.record_file(session, event.data)


async def on_dataset(session: AsyncSession, event: CloudEvent) -> None:
    deleted = event.type.endswith(".deleted")
    await service.apply_dataset(session, event.data, deleted=deleted, event_time=event.time)


async def on_resource(session: AsyncSession, event: CloudEvent) -> None:
    data: dict[str, Any] = event.data
    if isinstance(data.get("dataset"), dict):
        await service.apply_dataset(session, data["dataset"], event_time=event.time)


async def on_organization(session: AsyncSession, event: CloudEvent) -> None:
    await service.apply_organization(session, event.data, deleted=event.type.endswith(".deleted"))
    # the publisher's ЄДРПОУ is part of the passport: rescore its datasets
    import sqlalchemy as sa

    from quality.models import QDataset

    ids = (
        (
            await session.exec(
                sa.select(QDataset.id).where(  # type: ignore[call-overload]
                    QDataset.organization_id == event.data.get("id")
                )
            )
        )
        .scalars()
        .all()
    )
    for did in ids:
        await service.recompute_dataset(session, did)


async def on_register(session: AsyncSession, event: CloudEvent) -> None:
    await service.apply_register(session, event.data, deleted=event.type.endswith(".deleted"))


def subscriptions(ctx: ServiceContext) -> list[Subscription]:
    return [
        Subscription(
            stream="STORAGE",
            durable="quality__files",
            handlers={"storage.file.stored": on_file_stored},
        ),
        Subscription(
            stream="CATALOG",
            durable="quality__catalog",
            handlers={
                "catalog.dataset.*": on_dataset,
                "catalog.resource.*": on_resource,
                "catalog.organization.*": on_organization,
                "catalog.register.*": on_register,
            },
        ),
    ]
