"""Consumed events: stored files (STORAGE) and accepted dataset requests (FEEDBACK)."""

from __future__ import annotations

import sqlalchemy as sa
from portal_kit.app import ServiceContext
from portal_kit.contracts.feedback import RequestAccepted
from portal_kit.contracts.storage import FileDeleted, FileStored
from portal_kit.events.consumer import Subscription
from portal_kit.events.envelope import CloudEvent
from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from catalog.models import RegisterEntry, StoredFile
from catalog.register import emit as emit_register


async def on_file_stored(session: AsyncSession, event: CloudEvent) -> None:
    f = FileStored.model_validate(event.data)
    await session.exec(  # type: ignore[call-overload]
        insert(StoredFile)
        .values(
            id=f.id,
            organization_id=f.organization_id,
            size=f.size,
            sha256=f.sha256,
            media_type=f.media_type,
            original_name=f.original_name,
            created_at=f.created_at,
            deleted=False,
        )
        .on_conflict_do_nothing(index_elements=["id"])  # a deletion seen first wins
    )


async def on_file_deleted(session: AsyncSession, event: CloudEvent) -> None:
    f = FileDeleted.model_validate(event.data)
    await session.exec(  # type: ignore[call-overload]
        insert(StoredFile)
        .values(
            id=f.id,
            organization_id=f.organization_id,
            size=0,
            sha256="",
            media_type="",
            original_name="",
            deleted=True,
        )
        .on_conflict_do_update(index_elements=["id"], set_={"deleted": True})
    )


async def on_request_accepted(session: AsyncSession, event: CloudEvent) -> None:
    r = RequestAccepted.model_validate(event.data)
    existing = (
        await session.exec(
            sa.select(RegisterEntry.id).where(RegisterEntry.request_id == r.request_id)
        )  # type: ignore[call-overload]
    ).first()
    if existing is not None:
        return
    e = RegisterEntry(
        title=r.title[:254],
        organization_id=r.organization_id,
        status="planned",
        request_id=r.request_id,
        notes=(r.description or None),
    )
    session.add(e)
    await session.flush()
    await emit_register(session, e, "created")


def subscriptions(ctx: ServiceContext) -> list[Subscription]:
    return [
        Subscription(
            stream="STORAGE",
            durable="catalog__files",
            handlers={
                "storage.file.stored": on_file_stored,
                "storage.file.deleted": on_file_deleted,
            },
        ),
        Subscription(
            stream="FEEDBACK",
            durable="catalog__requests",
            handlers={"feedback.request.accepted": on_request_accepted},
        ),
    ]
