"""Catalog events -> which files are public (a published dataset of the file's organization
references them). Ordered by the dataset ``revision``: older documents are ignored."""

from __future__ import annotations

import logging

from portal_kit.app import ServiceContext
from portal_kit.contracts.catalog import DatasetDocument, ResourceEvent
from portal_kit.events.consumer import Subscription
from portal_kit.events.envelope import CloudEvent
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.service import apply_dataset

log = logging.getLogger("storage.handlers")


async def on_dataset(session: AsyncSession, event: CloudEvent) -> None:
    try:
        doc = DatasetDocument.model_validate(event.data)
    except ValidationError:
        log.warning("ignoring malformed %s %s", event.type, event.id)
        return
    if event.type == "catalog.dataset.deleted":
        doc = doc.model_copy(update={"status": "deleted"})
    await apply_dataset(session, doc)


async def on_resource(session: AsyncSession, event: CloudEvent) -> None:
    try:
        ev = ResourceEvent.model_validate(event.data)
    except ValidationError:
        log.warning("ignoring malformed %s %s", event.type, event.id)
        return
    without = ev.resource.id if event.type == "catalog.resource.deleted" else None
    await apply_dataset(session, ev.dataset, without_resource=without)


def subscriptions(ctx: ServiceContext) -> list[Subscription]:
    return [
        Subscription(
            stream="CATALOG",
            durable="storage__visibility",
            handlers={"catalog.dataset.*": on_dataset, "catalog.resource.*": on_resource},
        )
    ]
