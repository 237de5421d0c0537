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


async def on_file_deleted(session: AsyncSession, event: CloudEvent) -> None:
    """A file storage deleted: its report is ``gone`` (never validated again, no verdict counted,
    the datasets using it rescored); a deleted derived CSV also unlinks it from its source's
    report (and the 3-star CSV claim with it). A deletion seen before the file is recorded as
    gone, so a late ``storage.file.stored`` does not queue a validation of missing bytes."""
    from quality.models import QFile

    data: dict[str, Any] = event.data
    fid = service._uuid(data.get("id"))
    if fid is None:
        return
    row = await session.get(QFile, fid, with_for_update=True)
    if row is None:
        session.add(
            QFile(
                id=fid,
                organization_id=service._uuid(data.get("organization_id")),
                bucket=str(data.get("bucket") or ""),
                key=str(data.get("key") or ""),
                status="gone",
            )
        )
        return
    if row.status == "gone":
        return
    row.status = "gone"
    affected = {d.id for d in await service.datasets_for_file(session, fid)}
    if row.derived_from is not None:
        src = await session.get(QFile, row.derived_from, with_for_update=True)
        if src is not None and (
            src.derived_file_id == fid or (src.derived_sha256 and src.derived_sha256 == row.sha256)
        ):
            src.derived_file_id = src.derived_key = src.derived_sha256 = None
            affected |= {d.id for d in await service.datasets_for_file(session, src.id)}
    await session.flush()
    for did in sorted(affected):
        await service.recompute_dataset(session, did)


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


async def on_dataset_validated(session: AsyncSession, event: CloudEvent) -> None:
    await service.apply_dcat_validation(session, event.data)


def subscriptions(ctx: ServiceContext) -> list[Subscription]:
    return [
        Subscription(
            stream="STORAGE",
            durable="quality__files",
            handlers={
                "storage.file.stored": on_file_stored,
                "storage.file.deleted": on_file_deleted,
            },
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
        Subscription(
            stream="HARVEST",
            durable="quality__harvest",
            handlers={"harvest.dataset.validated": on_dataset_validated},
        ),
    ]
