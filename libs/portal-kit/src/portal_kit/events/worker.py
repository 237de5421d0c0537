"""The event worker of a service: NATS connection, its stream, the outbox relay, its consumers.

It runs inside the service process (``serve``) or alone (``worker``), and stops gracefully:
consumers stop pulling, the message in hand finishes, the relay flushes once more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from portal_kit.events.consumer import Subscription, handle_message
from portal_kit.events.outbox import relay_forever
from portal_kit.metrics import CONSUMER_LAG

log = logging.getLogger("portal.worker")

DAY = 24 * 3600


@dataclass
class StreamSpec:
    name: str
    subjects: list[str]
    max_age_days: int = 365
    max_bytes: int = 5 * 1024**3
    duplicate_window: float = 600.0


async def ensure_stream(js: JetStreamContext, spec: StreamSpec) -> None:
    config = StreamConfig(
        name=spec.name,
        subjects=spec.subjects,
        storage=StorageType.FILE,
        max_age=spec.max_age_days * DAY,
        max_bytes=spec.max_bytes,
        duplicate_window=spec.duplicate_window,
    )
    try:
        await js.stream_info(spec.name)
        await js.update_stream(config)
    except nats.js.errors.NotFoundError:
        await js.add_stream(config)


async def ensure_consumer(js: JetStreamContext, sub: Subscription) -> None:
    config = ConsumerConfig(
        durable_name=sub.durable,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=sub.ack_wait,
        max_deliver=sub.max_deliver + 1,
        max_ack_pending=1000,
        filter_subjects=sub.subjects(),
    )
    # on NATS >= 2.10 creating a durable that exists with a compatible config updates it
    await js.add_consumer(sub.stream, config)


@dataclass
class EventWorker:
    service: str
    nats_url: str
    sessionmaker: async_sessionmaker[AsyncSession]
    stream: StreamSpec | None = None
    subscriptions: list[Subscription] = field(default_factory=list)
    poll_interval: float = 0.2
    run_relay: bool = True

    nc: NATS | None = None
    js: JetStreamContext | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _ready: dict[str, bool] = field(default_factory=dict)

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    def wake_relay(self) -> None:
        """Hint that an outbox row was just committed (lower latency than the poll)."""
        self._wake.set()

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._connect_loop(), name=f"{self.service}-nats"))
        if self.run_relay and self.stream is not None:
            self._tasks.append(
                asyncio.create_task(
                    relay_forever(
                        self.sessionmaker,
                        lambda: self.js if self.connected and self._ready.get("stream") else None,
                        service=self.service,
                        stop=self._stop,
                        wake=self._wake,
                        poll_interval=self.poll_interval,
                    ),
                    name=f"{self.service}-relay",
                )
            )
        for sub in self.subscriptions:
            self._tasks.append(
                asyncio.create_task(self._consume_loop(sub), name=f"{self.service}-{sub.durable}")
            )

    async def stop(self, grace: float = 20.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._tasks:
            done, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self.nc is not None and not self.nc.is_closed:
            # every task has finished its message; pull consumers keep nothing buffered,
            # so closing (not draining) loses nothing and does not wait on drain timeouts
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.flush(), timeout=2)
            with contextlib.suppress(Exception):
                await self.nc.close()

    async def _connect_loop(self) -> None:
        while not self._stop.is_set() and self.nc is None:
            try:
                self.nc = await nats.connect(
                    self.nats_url,
                    name=self.service,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    connect_timeout=2,
                )
                self.js = self.nc.jetstream()
            except Exception as exc:
                log.warning("NATS not reachable yet (%s); retrying", exc.__class__.__name__)
                await self._sleep(1.0)
        while not self._stop.is_set() and self.stream is not None and not self._ready.get("stream"):
            try:
                assert self.js is not None
                await ensure_stream(self.js, self.stream)
                self._ready["stream"] = True
            except Exception as exc:
                log.warning("could not ensure stream %s: %r", self.stream.name, exc)
                await self._sleep(1.0)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    async def _consume_loop(self, sub: Subscription) -> None:
        psub = None
        while not self._stop.is_set():
            if not self.connected or self.js is None:
                await self._sleep(0.5)
                continue
            if psub is None:
                try:
                    await ensure_consumer(self.js, sub)
                    psub = await self.js.pull_subscribe_bind(durable=sub.durable, stream=sub.stream)
                    self._ready[sub.durable] = True
                except Exception as exc:
                    # the producer's stream may not exist yet: wait for it
                    log.info("consumer %s not bound yet: %r", sub.durable, exc)
                    await self._sleep(1.0)
                    continue
            try:
                msgs = await psub.fetch(sub.batch, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except Exception as exc:
                log.warning("fetch failed on %s: %r; rebinding", sub.durable, exc)
                with contextlib.suppress(Exception):
                    await psub.unsubscribe()
                psub = None
                await self._sleep(0.5)
                continue
            for msg in msgs:
                if self._stop.is_set():
                    # not acked: JetStream redelivers it to the next worker
                    with contextlib.suppress(Exception):
                        await msg.nak()
                    continue
                try:
                    await handle_message(
                        msg, sub=sub, sessionmaker=self.sessionmaker, service=self.service
                    )
                except Exception:
                    log.exception("message handling crashed; it will be redelivered")
            with contextlib.suppress(Exception):
                info = await psub.consumer_info()
                CONSUMER_LAG.labels(self.service, sub.durable).set(info.num_pending)

    def status(self) -> dict[str, bool]:
        status = {"nats": self.connected}
        if self.stream is not None:
            status["stream"] = bool(self._ready.get("stream"))
        return status
