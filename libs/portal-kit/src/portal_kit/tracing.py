"""OpenTelemetry tracing, off by default.

Enabled with ``PORTAL_OTEL_ENABLED=true``; spans go over OTLP/HTTP to
``OTEL_EXPORTER_OTLP_ENDPOINT`` (the standard OpenTelemetry variables apply:
``OTEL_SERVICE_NAME``, ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_TRACES_SAMPLER``...).

A trace follows a request through the gateway into a service (FastAPI server spans, httpx
client spans that inject ``traceparent``) and across an event: ``outbox.record`` stores the
W3C ``traceparent`` (and ``tracestate``) of the current span as CloudEvents extension
attributes (the Distributed Tracing extension), and the consumer continues that trace in a
``consume <type>`` span around the handler.

When tracing is off nothing is installed, and the API's no-op tracer makes every hook here
cost a few attribute look-ups.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject

log = logging.getLogger("portal.tracing")

_TRUE = {"1", "true", "yes", "on"}
_state: dict[str, Any] = {"configured": False, "httpx": False}
tracer = trace.get_tracer("portal_kit")


def enabled() -> bool:
    return os.environ.get("PORTAL_OTEL_ENABLED", "").strip().lower() in _TRUE


def configure(service: str, *, exporter: Any | None = None) -> bool:
    """Install the tracer provider once per process (when enabled, or given an exporter).

    ``exporter`` (a SpanExporter) replaces OTLP, e.g. an in-memory one in tests.
    Returns whether tracing is active."""
    if _state["configured"]:
        return True
    if exporter is None and not enabled():
        return False
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create(
        {SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or f"portal-{service}"}
    )
    provider = TracerProvider(resource=resource)
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _state["configured"] = True
    _state["provider"] = provider
    if exporter is None and not _state["httpx"]:  # tests pass an exporter: httpx stays as is
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor().instrument()
        _state["httpx"] = True
    log.info("OpenTelemetry tracing enabled for %s", service)
    return True


def instrument_app(app: Any, service: str) -> None:
    """Hook for ``create_service_app``: server spans for every route but health and metrics."""
    if not configure(service):
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")


def shutdown() -> None:
    provider = _state.get("provider")
    if provider is not None:
        provider.force_flush()


def current_trace_headers() -> dict[str, str]:
    """``traceparent``/``tracestate`` of the current span ({} when none is recording)."""
    carrier: dict[str, str] = {}
    if trace.get_current_span().get_span_context().is_valid:
        inject(carrier)
    return {k: v for k, v in carrier.items() if k in ("traceparent", "tracestate")}


@contextmanager
def consume_span(event: Any, consumer: str) -> Iterator[None]:
    """Continue the producer's trace (from the event's ``traceparent``) around a handler."""
    carrier = {}
    for key in ("traceparent", "tracestate"):
        value = getattr(event, key, None) or (event.model_extra or {}).get(key)
        if isinstance(value, str):
            carrier[key] = value
    parent = extract(carrier) if carrier else otel_context.get_current()
    with tracer.start_as_current_span(
        f"consume {event.type}",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes={
            "messaging.system": "nats",
            "messaging.destination.name": event.type,
            "messaging.message.id": event.id,
            "messaging.consumer.group.name": consumer,
        },
    ):
        yield
