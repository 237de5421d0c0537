"""Consumer side: durable pull consumers, explicit ack after commit, an inbox for idempotency."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa
from nats.aio.msg import Msg
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from portal_kit.events.envelope import CloudEvent
from portal_kit.events.tables import DeadLetter, InboxMessage
from portal_kit.logging import event_id_var, request_id_var
from portal_kit.metrics import EVENTS_CONSUMED
from portal_kit.tracing import consume_span

log = logging.getLogger("portal.consumer")

Handler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS wildcard semantics: ``*`` matches one token, ``>`` the rest."""
    p_tokens = pattern.split(".")
    s_tokens = subject.split(".")
    for i, tok in enumerate(p_tokens):
        if tok == ">":
            return len(s_tokens) > i
        if i >= len(s_tokens):
            return False
        if tok != "*" and tok != s_tokens[i]:
            return False
    return len(p_tokens) == len(s_tokens)


@dataclass
class Subscription:
    """One durable pull consumer on one stream, with handlers keyed by subject pattern."""

    stream: str
    durable: str
    handlers: dict[str, Handler]
    max_deliver: int = 8
    ack_wait: float = 60.0
    batch: int = 20
    filter_subjects: list[str] = field(default_factory=list)

    def subjects(self) -> list[str]:
        return self.filter_subjects or list(self.handlers)

    def handler_for(self, type_: str) -> Handler | None:
        handler = self.handlers.get(type_)
        if handler is not None:
            return handler
        for pattern, candidate in self.handlers.items():
            if subject_matches(pattern, type_):
                return candidate
        return None


async def first_delivery(session: AsyncSession, *, consumer: str, event: CloudEvent) -> bool:
    """Record the event as handled; False when it already was (same transaction as the effect)."""
    result = await session.exec(  # type: ignore[call-overload]
        insert(InboxMessage)
        .values(consumer=consumer, event_id=event.id, type=event.type)
        .on_conflict_do_nothing()
        .returning(InboxMessage.event_id)  # type: ignore[arg-type]
    )
    return result.first() is not None


async def already_handled(session: AsyncSession, *, consumer: str, event_id: str) -> bool:
    result = await session.exec(  # type: ignore[call-overload]
        sa.select(InboxMessage.event_id).where(  # type: ignore[call-overload]
            InboxMessage.consumer == consumer, InboxMessage.event_id == event_id
        )
    )
    return result.first() is not None


def backoff(num_delivered: int) -> float:
    return float(min(60, 2 ** max(0, num_delivered - 1)))


async def handle_message(
    msg: Msg,
    *,
    sub: Subscription,
    sessionmaker: async_sessionmaker[AsyncSession],
    service: str,
) -> str:
    """Handle one message; returns the outcome (handled, duplicate, ignored, poison, retry, dead)."""
    try:
        event = CloudEvent.model_validate_json(msg.data)
    except ValidationError:
        log.error("undecodable event", extra={"subject": msg.subject})
        await msg.term()
        EVENTS_CONSUMED.labels(service, sub.durable, msg.subject, "poison").inc()
        return "poison"
    handler = sub.handler_for(event.type)
    if handler is None:
        await msg.ack()
        return "ignored"
    rid_token = request_id_var.set(event.requestid)
    eid_token = event_id_var.set(event.id)
    try:
        with consume_span(event, sub.durable):
            async with sessionmaker() as session:
                async with session.begin():
                    fresh = await first_delivery(session, consumer=sub.durable, event=event)
                    if fresh:
                        await handler(session, event)
        outcome = "handled" if fresh else "duplicate"
    except Exception as exc:
        delivered = msg.metadata.num_delivered if msg.metadata else 1
        if delivered >= sub.max_deliver:
            log.exception("giving up on event after %s deliveries", delivered)
            try:
                async with sessionmaker() as session:
                    async with session.begin():
                        session.add(
                            DeadLetter(
                                consumer=sub.durable,
                                event_id=event.id,
                                type=event.type,
                                payload=event.model_dump(mode="json", exclude_none=True),
                                error=repr(exc)[:2000],
                            )
                        )
            except Exception:
                log.exception("could not record dead letter")
            await msg.term()
            EVENTS_CONSUMED.labels(service, sub.durable, event.type, "dead").inc()
            return "dead"
        log.warning("event handler failed (delivery %s), will retry: %r", delivered, exc)
        await msg.nak(delay=backoff(delivered))
        EVENTS_CONSUMED.labels(service, sub.durable, event.type, "retry").inc()
        return "retry"
    finally:
        request_id_var.reset(rid_token)
        event_id_var.reset(eid_token)
    # ack only after the commit: a crash before this line means redelivery, and the inbox
    # turns the second delivery into a no-op
    await msg.ack()
    EVENTS_CONSUMED.labels(service, sub.durable, event.type, outcome).inc()
    return outcome


def registry(subscriptions: Iterable[Subscription]) -> dict[str, Subscription]:
    return {s.durable: s for s in subscriptions}
