"""Producer side: write the event in the caller's transaction; a relay publishes it later."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import sqlalchemy as sa
from nats.js import JetStreamContext
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from portal_kit.db import utc_now
from portal_kit.events.envelope import CloudEvent, make_event
from portal_kit.events.tables import OutboxMessage
from portal_kit.metrics import EVENTS_PUBLISHED, OUTBOX_BACKLOG
from portal_kit.tracing import current_trace_headers

log = logging.getLogger("portal.outbox")


async def record(
    session: AsyncSession,
    *,
    source: str,
    type: str,
    data: BaseModel | dict[str, Any],
    subject: str | None = None,
) -> CloudEvent:
    """Add the event to the outbox of the current transaction. Nothing touches NATS here."""
    event = make_event(source=source, type=type, data=data, subject=subject)
    # CloudEvents distributed-tracing extension: the consumer continues this trace
    for key, value in current_trace_headers().items():
        setattr(event, key, value)
    session.add(
        OutboxMessage(
            id=uuid.UUID(event.id),
            type=event.type,
            payload=event.model_dump(mode="json", exclude_none=True),
        )
    )
    return event


async def relay_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    js: JetStreamContext,
    *,
    service: str,
    batch: int = 100,
    publish_timeout: float = 5.0,
) -> int:
    """Publish up to ``batch`` pending rows in order. Returns how many were published.

    A row is marked only after JetStream acknowledged it; if NATS fails midway, the rows
    already acknowledged are committed as sent and the rest stay pending. A crash after
    the publish but before the commit re-sends rows with the same ``Nats-Msg-Id``; the
    server drops them inside its duplicate window and consumers' inboxes catch the rest.
    """
    published = 0
    async with sessionmaker() as session:
        result = await session.exec(  # type: ignore[call-overload]
            sa.select(OutboxMessage)
            .where(OutboxMessage.published_at.is_(None))  # type: ignore[union-attr]
            .order_by(OutboxMessage.created_at)  # type: ignore[arg-type]
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        rows = list(result.scalars().all())
        try:
            for row in rows:
                await js.publish(
                    row.type,
                    CloudEvent.model_validate(row.payload).to_json(),
                    timeout=publish_timeout,
                    headers={"Nats-Msg-Id": str(row.id)},
                )
                row.published_at = utc_now()
                row.attempts += 1
                published += 1
                EVENTS_PUBLISHED.labels(service, row.type).inc()
        except Exception as exc:  # NATS down or timing out: keep what was acknowledged
            log.warning("outbox relay interrupted: %s", exc.__class__.__name__)
        await session.commit()
    return published


async def backlog(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        result = await session.exec(  # type: ignore[call-overload]
            sa.select(sa.func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.published_at.is_(None))  # type: ignore[union-attr]
        )
        return int(result.scalar_one())


async def purge_published(
    sessionmaker: async_sessionmaker[AsyncSession], *, older_than_days: int = 7
) -> int:
    async with sessionmaker() as session:
        result = await session.exec(  # type: ignore[call-overload]
            sa.delete(OutboxMessage).where(
                OutboxMessage.published_at.is_not(None),  # type: ignore[union-attr]
                OutboxMessage.published_at  # type: ignore[operator]
                < sa.func.now() - sa.text(f"interval '{int(older_than_days)} days'"),
            )
        )
        await session.commit()
        return int(result.rowcount or 0)


async def relay_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    get_js: Any,
    *,
    service: str,
    stop: asyncio.Event,
    wake: asyncio.Event,
    poll_interval: float = 0.2,
) -> None:
    """Run until ``stop`` is set; then flush once more so nothing accepted stays behind."""
    last_purge = 0.0
    loop = asyncio.get_running_loop()
    while True:
        js = get_js()
        sent = 0
        if js is not None:
            try:
                sent = await relay_once(sessionmaker, js, service=service)
                if loop.time() - last_purge > 3600:
                    await purge_published(sessionmaker)
                    last_purge = loop.time()
                OUTBOX_BACKLOG.labels(service).set(await backlog(sessionmaker))
            except Exception:
                log.exception("outbox relay failed")
        if stop.is_set():
            break
        if sent == 0:
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), timeout=poll_interval)
            except TimeoutError:
                pass
