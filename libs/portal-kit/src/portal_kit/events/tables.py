"""Tables every service that publishes or consumes events has in its own database."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from portal_kit.db import utc_now


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_message"
    __table_args__ = (
        sa.Index(
            "ix_outbox_message_unpublished",
            "created_at",
            postgresql_where=sa.text("published_at IS NULL"),
        ),
    )

    id: uuid.UUID = Field(primary_key=True)
    type: str = Field(max_length=200)
    payload: dict[str, Any] = Field(sa_type=JSONB)
    created_at: datetime = Field(default_factory=utc_now, sa_type=sa.DateTime(timezone=True))
    published_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    attempts: int = 0


class InboxMessage(SQLModel, table=True):
    __tablename__ = "inbox_message"

    consumer: str = Field(primary_key=True, max_length=200)
    event_id: str = Field(primary_key=True, max_length=200)
    type: str = Field(max_length=200)
    handled_at: datetime = Field(default_factory=utc_now, sa_type=sa.DateTime(timezone=True))


class DeadLetter(SQLModel, table=True):
    """Events a consumer gave up on after its retries; kept for an admin to inspect and replay."""

    __tablename__ = "dead_letter"

    id: int | None = Field(default=None, primary_key=True)
    consumer: str = Field(max_length=200)
    event_id: str = Field(max_length=200)
    type: str = Field(max_length=200)
    payload: dict[str, Any] = Field(sa_type=JSONB)
    error: str
    created_at: datetime = Field(default_factory=utc_now, sa_type=sa.DateTime(timezone=True))


EVENT_TABLES = [OutboxMessage.__table__, InboxMessage.__table__, DeadLetter.__table__]  # type: ignore[attr-defined]


def create_event_tables(op: Any) -> None:
    """Call from a service's first Alembic migration: ``create_event_tables(op)``."""
    bind = op.get_bind()
    for table in EVENT_TABLES:
        table.create(bind, checkfirst=True)


def drop_event_tables(op: Any) -> None:
    bind = op.get_bind()
    for table in reversed(EVENT_TABLES):
        table.drop(bind, checkfirst=True)
