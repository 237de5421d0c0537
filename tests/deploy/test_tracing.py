"""Trace context crosses an event: recorded into the CloudEvent by the outbox, continued by
the consumer's span (in-process, with the SDK's in-memory exporter)."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from portal_kit import tracing
from portal_kit.events.envelope import CloudEvent
from portal_kit.events.outbox import record
from portal_kit.events.tables import OutboxMessage
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession


async def test_traceparent_goes_into_the_event_and_the_consumer_continues_the_trace():
    exporter = InMemorySpanExporter()
    assert tracing.configure("deploy-test", exporter=exporter)
    tracer = trace.get_tracer("test")
    engine = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")  # never used
    session = AsyncSession(engine)
    with tracer.start_as_current_span("POST /api/v1/datasets") as request_span:
        event = await record(
            session,
            source="/catalog",
            type="catalog.dataset.published",
            data={"назва": "Бюджет м. Запоріжжя"},
            subject="x",
        )
    row = next(o for o in session.new if isinstance(o, OutboxMessage))
    traceparent = row.payload["traceparent"]
    trace_id = format(request_span.get_span_context().trace_id, "032x")
    assert traceparent.startswith(f"00-{trace_id}-")

    received = CloudEvent.model_validate_json(CloudEvent.model_validate(row.payload).to_json())
    with tracing.consume_span(received, "harvest__datasets"):
        inner = trace.get_current_span().get_span_context()
    assert inner.trace_id == request_span.get_span_context().trace_id
    consume = next(s for s in exporter.get_finished_spans() if s.name.startswith("consume "))
    assert consume.parent.span_id == request_span.get_span_context().span_id
    assert consume.kind == trace.SpanKind.CONSUMER
    assert event.id == consume.attributes["messaging.message.id"]

    # without an active span nothing is added
    other = await record(session, source="/catalog", type="catalog.dataset.updated", data={})
    assert "traceparent" not in other.model_dump(exclude_none=True)
    await engine.dispose()
