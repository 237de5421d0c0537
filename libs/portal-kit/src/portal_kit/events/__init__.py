"""Events: CloudEvents 1.0 JSON on NATS JetStream, a transactional outbox and idempotent consumers."""

from portal_kit.events.envelope import CloudEvent, make_event
from portal_kit.events.outbox import record

__all__ = ["CloudEvent", "make_event", "record"]
