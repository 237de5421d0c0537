"""Consumed events: stored files (STORAGE) and accepted dataset requests (FEEDBACK)."""

from __future__ import annotations

import functools
import itertools
import uuid

import sqlalchemy as sa
from portal_kit.app import ServiceContext
from portal_kit.contracts.feedback import RequestAccepted
from portal_kit.contracts.storage import FileDeleted, FileStored
from portal_kit.events.consumer import Subscription
from portal_kit.events.envelope import CloudEvent
from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from catalog.datasets import add_history, emit_resource, file_url
from catalog.models import Dataset, RegisterEntry, Resource, StoredFile
from catalog.register import emit as emit_register


async def on_file_stored(ctx: ServiceContext, session: AsyncSession, event: CloudEvent) -> None:
    f = FileStored.model_validate(event.data)
    inserted = (
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
                derived_from=f.derived_from,
                download_url=file_url(ctx, f.id, f.original_name) if f.derived_from else None,
            )
            .on_conflict_do_nothing(index_elements=["id"])  # a deletion seen first wins
            .returning(StoredFile.id)
        )
    ).first()
    if inserted is not None and f.derived_from is not None:
        await announce_derived(session, f.derived_from, f.id, "derived_file_added")


async def on_file_deleted(session: AsyncSession, event: CloudEvent) -> None:
    f = FileDeleted.model_validate(event.data)
    known = await session.get(StoredFile, f.id, with_for_update=True)
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
    if known is not None and not known.deleted and known.derived_from is not None:
        await announce_derived(session, known.derived_from, f.id, "derived_file_removed")


async def announce_derived(
    session: AsyncSession, source_id: uuid.UUID, file_id: uuid.UUID, action: str
) -> None:
    """A copy of ``source_id`` appeared or went: published datasets whose resources use the source
    as their current file get a new revision (not a new ``modified_at``: the data did not change)
    and ``catalog.resource.updated`` + ``catalog.dataset.updated``, so read models (harvest-export,
    the search cache) follow. Other datasets change nothing: their documents resolve the copy
    when built, and their next lifecycle event (publish) carries it."""
    rows = (
        await session.exec(  # type: ignore[call-overload]
            sa.select(Resource.id, Resource.dataset_id)
            .join(Dataset, Dataset.id == Resource.dataset_id)
            .where(
                Resource.file_id == source_id,
                Resource.deleted.is_(False),  # type: ignore[attr-defined]
                Dataset.status == "published",
            )
            .order_by(Resource.dataset_id, Resource.id)
        )
    ).all()
    for dataset_id, rids in itertools.groupby(rows, key=lambda row: row[1]):
        ds = await session.get(Dataset, dataset_id, with_for_update=True)
        if ds is None or ds.status != "published":
            continue
        ds.revision += 1
        session.add(ds)
        await session.flush()
        ids = [row[0] for row in rids]
        await add_history(session, ds, None, action, note={"file_id": file_id, "resources": ids})
        for rid in ids:
            r = await session.get(Resource, rid)
            if r is not None:
                await emit_resource(session, ds, r, "updated")


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
                "storage.file.stored": functools.partial(on_file_stored, ctx),
                "storage.file.deleted": on_file_deleted,
            },
        ),
        Subscription(
            stream="FEEDBACK",
            durable="catalog__requests",
            handlers={"feedback.request.accepted": on_request_accepted},
        ),
    ]
