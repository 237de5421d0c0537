"""Catalog events -> which files are public (a published dataset of the file's organization
references them). Ordered by the dataset ``revision``: older documents are ignored.

Quality events -> derived files: ``quality.file.derived`` (a UTF-8 CSV quality wrote next to a
spreadsheet) becomes a file ``derived_from`` its source, announced with ``storage.file.stored``."""

from __future__ import annotations

import logging

from portal_kit.app import ServiceContext
from portal_kit.contracts.catalog import DatasetDocument, ResourceEvent
from portal_kit.contracts.quality import FileDerived
from portal_kit.events.consumer import Handler, Subscription
from portal_kit.events.envelope import CloudEvent
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.service import apply_dataset, record_derived
from storage.settings import Settings

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


def derived_handler(ctx: ServiceContext) -> Handler:
    async def on_derived(session: AsyncSession, event: CloudEvent) -> None:
        try:
            ev = FileDerived.model_validate(event.data)
        except ValidationError:
            log.warning("ignoring malformed %s %s", event.type, event.id)
            return
        s3 = ctx.extras.get("s3")
        if s3 is None:
            raise RuntimeError("S3 client not started yet")  # retried
        settings: Settings = ctx.settings  # type: ignore[assignment]
        f = await record_derived(session, s3, settings, ev)
        if f is not None and ctx.worker is not None:
            ctx.worker.wake_relay()  # after this transaction commits the relay finds the row

    return on_derived


def subscriptions(ctx: ServiceContext) -> list[Subscription]:
    return [
        Subscription(
            stream="QUALITY",
            durable="storage__derived",
            handlers={"quality.file.derived": derived_handler(ctx)},
        ),
        Subscription(
            stream="CATALOG",
            durable="storage__visibility",
            handlers={"catalog.dataset.*": on_dataset, "catalog.resource.*": on_resource},
        ),
    ]
