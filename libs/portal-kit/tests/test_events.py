"""The outbox relay and the idempotent consumer against real PostgreSQL and NATS, under faults."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
import sqlalchemy as sa
from portal_kit.db import make_engine, make_sessionmaker
from portal_kit.events import CloudEvent, record
from portal_kit.events.consumer import Subscription, handle_message
from portal_kit.events.tables import DeadLetter, InboxMessage, OutboxMessage
from portal_kit.events.worker import EventWorker, StreamSpec
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

SOURCE = "/kit-tests"


class Effect(SQLModel, table=True):
    """A domain row the test handler writes: one per applied event."""

    __tablename__ = "kit_test_effect"
    id: int | None = Field(default=None, primary_key=True)
    event_id: str
    value: int


@pytest.fixture
async def db(servers: Any) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    name = "kit_" + secrets.token_hex(4)
    servers.postgres.create_databases([name])
    engine = make_engine(servers.postgres.sqlalchemy_url(name), pool_size=5)
    async with engine.begin() as conn:
        for table in (OutboxMessage, InboxMessage, DeadLetter, Effect):
            await conn.run_sync(table.__table__.create)  # type: ignore[attr-defined]
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def change_and_record(sm: async_sessionmaker[AsyncSession], subject: str, value: int) -> str:
    """A domain change and its event in one transaction, as a request would do it."""
    async with sm() as session, session.begin():
        event = await record(
            session, source=SOURCE, type=subject, data={"value": value}, subject=str(value)
        )
        session.add(Effect(event_id="producer:" + event.id, value=value))
    return event.id


async def stream_count(url: str, stream: str) -> int:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(stream)
        return info.state.messages
    finally:
        await nc.close()


async def count(sm: async_sessionmaker[AsyncSession], stmt: Any) -> int:
    async with sm() as session:
        return int((await session.exec(stmt)).one()[0])  # type: ignore[call-overload]


def unpublished() -> Any:
    return (
        sa.select(sa.func.count())
        .select_from(OutboxMessage)
        .where(
            OutboxMessage.published_at.is_(None)  # type: ignore[union-attr]
        )
    )


def applied(prefix: str = "consumer:") -> Any:
    return (
        sa.select(sa.func.count())
        .select_from(Effect)
        .where(
            Effect.event_id.startswith(prefix)  # type: ignore[attr-defined]
        )
    )


def stream_spec(name: str) -> StreamSpec:
    return StreamSpec(name=name, subjects=[f"{name.lower()}.>"], max_age_days=1)


async def test_events_recorded_while_nats_is_down_all_arrive_after_it_returns(
    db: async_sessionmaker[AsyncSession], fresh_nats: Any, eventually: Any
) -> None:
    stream = "KITA"
    worker = EventWorker(
        service="kit", nats_url=fresh_nats.url, sessionmaker=db, stream=stream_spec(stream)
    )
    await worker.start()
    try:
        for i in range(5):
            await change_and_record(db, "kita.thing.changed", i)
        await eventually(lambda: _eq(stream_count(fresh_nats.url, stream), 5), timeout=15)

        fresh_nats.stop()
        for i in range(5, 25):
            await change_and_record(db, "kita.thing.changed", i)
        await asyncio.sleep(0.5)
        assert await count(db, unpublished()) == 20  # nothing lost, nothing marked sent

        fresh_nats.start()
        await eventually(lambda: _eq(stream_count(fresh_nats.url, stream), 25), timeout=30)
        await eventually(lambda: _eq(count(db, unpublished()), 0), timeout=10)
    finally:
        await worker.stop()


async def test_worker_started_before_nats_publishes_once_nats_is_up(
    db: async_sessionmaker[AsyncSession], fresh_nats: Any, eventually: Any
) -> None:
    fresh_nats.stop()
    for i in range(3):
        await change_and_record(db, "kitb.thing.changed", i)
    worker = EventWorker(
        service="kit", nats_url=fresh_nats.url, sessionmaker=db, stream=stream_spec("KITB")
    )
    await worker.start()
    try:
        await asyncio.sleep(1.0)
        assert not worker.connected
        fresh_nats.start()
        await eventually(lambda: _eq(stream_count(fresh_nats.url, "KITB"), 3), timeout=30)
    finally:
        await worker.stop()


async def _eq(awaitable: Any, expected: Any) -> bool:
    return (await awaitable) == expected


async def consuming_handler(session: AsyncSession, event: CloudEvent) -> None:
    session.add(Effect(event_id="consumer:" + event.id, value=int(event.data["value"])))


async def publish_raw(url: str, event: CloudEvent, msg_id: str) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().publish(event.type, event.to_json(), headers={"Nats-Msg-Id": msg_id})
    finally:
        await nc.close()


async def test_the_same_event_delivered_twice_is_applied_once(
    db: async_sessionmaker[AsyncSession], fresh_nats: Any, eventually: Any
) -> None:
    producer = EventWorker(
        service="kit", nats_url=fresh_nats.url, sessionmaker=db, stream=stream_spec("KITC")
    )
    await producer.start()
    await eventually(lambda: producer.status().get("stream"), timeout=15)
    await producer.stop()

    event = CloudEvent(source=SOURCE, type="kitc.thing.changed", data={"value": 7})
    # two publishes with different message ids get past the server's dedup window:
    # only the consumer's inbox stands between them and a double effect
    await publish_raw(fresh_nats.url, event, "a-" + event.id)
    await publish_raw(fresh_nats.url, event, "b-" + event.id)
    sub = Subscription(
        stream="KITC", durable="kit__dup", handlers={"kitc.thing.changed": consuming_handler}
    )
    consumer = EventWorker(
        service="kit", nats_url=fresh_nats.url, sessionmaker=db, subscriptions=[sub]
    )
    await consumer.start()
    try:
        await eventually(lambda: _eq(_pending(fresh_nats.url, "KITC", "kit__dup"), (0, 0)), 15)
        assert await count(db, applied()) == 1
    finally:
        await consumer.stop()


async def _pending(url: str, stream: str, durable: str) -> tuple[int, int]:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().consumer_info(stream, durable)
        return info.num_pending, info.num_ack_pending
    finally:
        await nc.close()


class _DiesBeforeAck:
    """Wraps a real JetStream message: the process 'dies' between its commit and the ack."""

    def __init__(self, msg: Any) -> None:
        self._msg = msg
        self.subject, self.data, self.metadata = msg.subject, msg.data, msg.metadata

    async def ack(self) -> None:  # the crash: the ack never reaches the server
        return None

    async def nak(self, delay: float | None = None) -> None:
        await self._msg.nak(delay=delay)

    async def term(self) -> None:
        await self._msg.term()


async def test_a_consumer_that_dies_before_ack_gets_the_event_again_and_applies_it_once(
    db: async_sessionmaker[AsyncSession], fresh_nats: Any, eventually: Any
) -> None:
    producer = EventWorker(
        service="kit", nats_url=fresh_nats.url, sessionmaker=db, stream=stream_spec("KITD")
    )
    await producer.start()
    await change_and_record(db, "kitd.thing.changed", 42)
    await eventually(lambda: _eq(stream_count(fresh_nats.url, "KITD"), 1), timeout=15)
    await producer.stop()

    sub = Subscription(
        stream="KITD",
        durable="kit__crash",
        handlers={"kitd.thing.changed": consuming_handler},
        ack_wait=1.0,
    )
    nc = await nats.connect(fresh_nats.url)
    try:
        from portal_kit.events.worker import ensure_consumer

        js = nc.jetstream()
        await ensure_consumer(js, sub)
        psub = await js.pull_subscribe_bind(durable=sub.durable, stream=sub.stream)
        [msg] = await psub.fetch(1, timeout=5)
        outcome = await handle_message(_DiesBeforeAck(msg), sub=sub, sessionmaker=db, service="kit")
        assert outcome == "handled"
        assert await count(db, applied()) == 1
        await psub.unsubscribe()
    finally:
        await nc.close()

    # a new worker (the restarted process) gets the unacked message after ack_wait
    consumer = EventWorker(
        service="kit", nats_url=fresh_nats.url, sessionmaker=db, subscriptions=[sub]
    )
    await consumer.start()
    try:
        await eventually(lambda: _eq(_pending(fresh_nats.url, "KITD", "kit__crash"), (0, 0)), 20)
        assert await count(db, applied()) == 1
        async with db() as session:
            rows = (await session.exec(sa.select(InboxMessage))).all()  # type: ignore[call-overload]
            assert len(rows) == 1
    finally:
        await consumer.stop()


async def test_a_failing_handler_is_retried_and_applied_once_it_succeeds(
    db: async_sessionmaker[AsyncSession], fresh_nats: Any, eventually: Any
) -> None:
    attempts: list[str] = []

    async def flaky(session: AsyncSession, event: CloudEvent) -> None:
        attempts.append(event.id)
        await consuming_handler(session, event)
        if len(attempts) < 3:
            raise RuntimeError("transient failure")  # rolls back the effect and the inbox row

    producer = EventWorker(
        service="kit", nats_url=fresh_nats.url, sessionmaker=db, stream=stream_spec("KITE")
    )
    await producer.start()
    await change_and_record(db, "kite.thing.changed", 1)
    sub = Subscription(stream="KITE", durable="kit__flaky", handlers={"kite.>": flaky})
    consumer = EventWorker(
        service="kit", nats_url=fresh_nats.url, sessionmaker=db, subscriptions=[sub]
    )
    await consumer.start()
    try:
        await eventually(lambda: _eq(count(db, applied()), 1), timeout=30)
        assert len(attempts) == 3
        await eventually(lambda: _eq(_pending(fresh_nats.url, "KITE", "kit__flaky"), (0, 0)), 10)
        assert await count(db, applied()) == 1
    finally:
        await consumer.stop()
        await producer.stop()


async def test_an_undecodable_message_is_terminated_not_retried_forever(
    db: async_sessionmaker[AsyncSession], fresh_nats: Any, eventually: Any
) -> None:
    producer = EventWorker(
        service="kit", nats_url=fresh_nats.url, sessionmaker=db, stream=stream_spec("KITF")
    )
    await producer.start()
    await eventually(lambda: producer.status().get("stream"), timeout=15)
    await producer.stop()
    nc = await nats.connect(fresh_nats.url)
    await nc.jetstream().publish("kitf.thing.changed", b"{not json")
    await nc.close()
    sub = Subscription(stream="KITF", durable="kit__poison", handlers={"kitf.>": consuming_handler})
    consumer = EventWorker(
        service="kit", nats_url=fresh_nats.url, sessionmaker=db, subscriptions=[sub]
    )
    await consumer.start()
    try:
        await eventually(lambda: _eq(_pending(fresh_nats.url, "KITF", "kit__poison"), (0, 0)), 15)
        assert await count(db, applied()) == 0
    finally:
        await consumer.stop()


def test_event_envelope_is_cloudevents_json() -> None:
    event = CloudEvent(
        source=SOURCE, type="kit.thing.changed", subject="x", data={"title": "Бюджет"}
    )
    doc = CloudEvent.model_validate_json(event.to_json())
    assert doc.specversion == "1.0"
    assert doc.data["title"] == "Бюджет"
    uuid.UUID(doc.id)
