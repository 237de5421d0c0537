"""Consumed catalog events: organizations and datasets (read models), register entries (requests).

Every document carries its full current state and a ``revision``; an older revision than the one
applied is ignored, so redelivery and reordering change nothing. The inbox (portal_kit) makes each
event id count once.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from portal_kit.app import ServiceContext
from portal_kit.contracts.catalog import (
    DatasetDocument,
    OrganizationDocument,
    RegisterEntryDocument,
    ResourceEvent,
)
from portal_kit.events.consumer import Subscription
from portal_kit.events.envelope import CloudEvent
from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from feedback.dataset_requests import fulfil
from feedback.models import Dataset, Organization, RegisterLink
from feedback.settings import Settings

log = logging.getLogger("feedback.handlers")


def _newer(table: type, revision: int):  # type: ignore[no-untyped-def]
    return table.revision < revision  # type: ignore[attr-defined]


async def on_organization(session: AsyncSession, event: CloudEvent) -> None:
    doc = OrganizationDocument.model_validate(event.data)
    values = {
        "id": doc.id,
        "name": doc.name,
        "title": doc.title,
        "email": doc.email,
        "contacts": [p.email for p in doc.responsible_persons if p.email],
        "deleted": event.type.endswith(".deleted"),
        "revision": doc.revision,
    }
    stmt = insert(Organization).values(**values)
    await session.exec(
        stmt.on_conflict_do_update(  # type: ignore[call-overload]
            index_elements=["id"],
            set_={k: stmt.excluded[k] for k in values if k != "id"},
            where=_newer(Organization, doc.revision),
        )
    )


async def apply_dataset(
    session: AsyncSession, settings: Settings, doc: DatasetDocument, deleted: bool = False
) -> None:
    values = {
        "id": doc.id,
        "name": doc.name,
        "title": doc.title,
        "organization_id": doc.organization_id,
        "status": "deleted" if deleted else doc.status,
        "register_entry_id": doc.register_entry_id,
        "maintainer_email": doc.maintainer_email,
        "resource_ids": [str(r.id) for r in doc.resources],
        "revision": doc.revision,
    }
    stmt = insert(Dataset).values(**values)
    res = await session.exec(
        stmt.on_conflict_do_update(  # type: ignore[call-overload]
            index_elements=["id"],
            set_={k: stmt.excluded[k] for k in values if k != "id"},
            where=_newer(Dataset, doc.revision),
        ).returning(Dataset.id)
    )
    if res.first() is None or values["status"] != "published":
        return
    # a published dataset fulfils the requests of its register entry (either side may come first)
    links = (
        (
            await session.exec(
                sa.select(RegisterLink).where(
                    sa.or_(  # type: ignore[call-overload]
                        RegisterLink.dataset_id == doc.id,  # type: ignore[arg-type]
                        RegisterLink.id == doc.register_entry_id,
                    )
                )
            )
        )
        .scalars()
        .all()
    )  # type: ignore[arg-type]
    for link in links:
        await fulfil(session, settings, link.request_id, doc.id, doc.name, link.id)


async def on_register(session: AsyncSession, event: CloudEvent, settings: Settings) -> None:
    doc = RegisterEntryDocument.model_validate(event.data)
    if doc.request_id is None:
        return
    values = {
        "id": doc.id,
        "request_id": doc.request_id,
        "dataset_id": doc.dataset_id,
        "status": "deleted" if event.type.endswith(".deleted") else doc.status,
        "revision": doc.revision,
    }
    stmt = insert(RegisterLink).values(**values)
    res = await session.exec(
        stmt.on_conflict_do_update(  # type: ignore[call-overload]
            index_elements=["id"],
            set_={k: stmt.excluded[k] for k in values if k != "id"},
            where=_newer(RegisterLink, doc.revision),
        ).returning(RegisterLink.id)
    )
    if res.first() is None:
        return
    from feedback.models import DatasetRequest

    await session.exec(
        sa.update(DatasetRequest)
        .where(  # type: ignore[call-overload]
            DatasetRequest.id == doc.request_id,  # type: ignore[arg-type]
            DatasetRequest.register_entry_id.is_(None),  # type: ignore[union-attr]
        )
        .values(register_entry_id=doc.id, revision=DatasetRequest.revision + 1)
    )
    ds = None
    if doc.dataset_id is not None:
        ds = await session.get(Dataset, doc.dataset_id)
    if ds is None:
        ds = (
            (
                await session.exec(
                    sa.select(Dataset).where(  # type: ignore[call-overload]
                        Dataset.register_entry_id == doc.id
                    )
                )
            )
            .scalars()
            .first()
        )  # type: ignore[arg-type]
    if ds is not None and ds.status == "published":
        await fulfil(session, settings, doc.request_id, ds.id, ds.name, doc.id)
    elif doc.status == "published" and doc.dataset_id is not None:
        await fulfil(session, settings, doc.request_id, doc.dataset_id, None, doc.id)


def subscriptions(ctx: ServiceContext) -> list[Subscription]:
    settings: Settings = ctx.settings  # type: ignore[assignment]

    async def dataset(session: AsyncSession, event: CloudEvent) -> None:
        await apply_dataset(
            session,
            settings,
            DatasetDocument.model_validate(event.data),
            deleted=event.type.endswith(".deleted"),
        )

    async def resource(session: AsyncSession, event: CloudEvent) -> None:
        await apply_dataset(session, settings, ResourceEvent.model_validate(event.data).dataset)

    async def register(session: AsyncSession, event: CloudEvent) -> None:
        await on_register(session, event, settings)

    return [
        Subscription(
            stream="CATALOG",
            durable="feedback__catalog",
            handlers={
                "catalog.organization.*": on_organization,
                "catalog.dataset.*": dataset,
                "catalog.resource.*": resource,
                "catalog.register.*": register,
            },
        )
    ]
