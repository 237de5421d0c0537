"""Tables of the feedback service (its own database). Read models of the catalog come first."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from portal_kit.db import utc_now
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

TS = sa.DateTime(timezone=True)


def ts(**kw: Any) -> Any:
    return Field(sa_type=TS, **kw)  # type: ignore[call-overload]


def now_ts(**kw: Any) -> Any:
    return Field(default_factory=utc_now, sa_type=TS, **kw)  # type: ignore[call-overload]


# ---------------------------------------------------------------- read models (catalog events)
class Organization(SQLModel, table=True):
    __tablename__ = "known_organization"

    id: uuid.UUID = Field(primary_key=True)
    name: str = Field(max_length=200)
    title: str = ""
    email: str | None = None
    # emails of the responsible persons, from the catalog document
    contacts: list[str] = Field(default_factory=list, sa_type=JSONB)
    deleted: bool = False
    revision: int = 0


class Dataset(SQLModel, table=True):
    __tablename__ = "known_dataset"

    id: uuid.UUID = Field(primary_key=True)
    name: str = Field(max_length=200)
    title: str = ""
    organization_id: uuid.UUID = Field(index=True)
    status: str = Field(max_length=20)
    register_entry_id: uuid.UUID | None = Field(default=None, index=True)
    maintainer_email: str | None = None
    resource_ids: list[str] = Field(default_factory=list, sa_type=JSONB)
    revision: int = 0


class RegisterLink(SQLModel, table=True):
    """Register entries that came from one of our requests (catalog.register.* with request_id)."""

    __tablename__ = "register_link"

    id: uuid.UUID = Field(primary_key=True)  # register entry id
    request_id: uuid.UUID = Field(index=True)
    dataset_id: uuid.UUID | None = Field(default=None, index=True)
    status: str = Field(max_length=20)
    revision: int = 0


# ---------------------------------------------------------------- reports
class Report(SQLModel, table=True):
    __tablename__ = "report"
    __table_args__ = (
        sa.Index("ix_report_org_status", "organization_id", "status"),
        sa.Index("ix_report_fingerprint", "fingerprint", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    dataset_id: uuid.UUID = Field(index=True)
    resource_id: uuid.UUID | None = None
    organization_id: uuid.UUID
    category: str = Field(max_length=40)
    message: str
    contact_email: str | None = None
    reporter_id: uuid.UUID | None = None
    reporter_email: str | None = None
    client_key: str = Field(max_length=64)
    fingerprint: str = Field(max_length=64)
    status: str = Field(default="new", max_length=20)
    hidden: bool = False
    created_at: datetime = now_ts()
    updated_at: datetime = now_ts()
    deadline_at: datetime = ts()
    first_response_at: datetime | None = ts(default=None)
    closed_at: datetime | None = ts(default=None)
    deadline_warned: bool = False
    revision: int = 1


class ReportMessage(SQLModel, table=True):
    __tablename__ = "report_message"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    report_id: uuid.UUID = Field(foreign_key="report.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=10)  # reply (public) | note (internal)
    body: str
    author_id: uuid.UUID | None = None
    author_name: str | None = None
    created_at: datetime = now_ts()


# ---------------------------------------------------------------- dataset requests
class DatasetRequest(SQLModel, table=True):
    __tablename__ = "dataset_request"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    title: str = Field(max_length=300)
    description: str = ""
    why: str = ""
    suggested_organization_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None
    requester_id: uuid.UUID
    requester_name: str | None = None
    requester_email: str | None = None
    status: str = Field(default="open", max_length=20, index=True)
    decline_reason: str | None = None
    merged_into: uuid.UUID | None = None
    register_entry_id: uuid.UUID | None = None
    dataset_id: uuid.UUID | None = None
    dataset_name: str | None = None
    votes: int = 0
    created_at: datetime = now_ts()
    updated_at: datetime = now_ts()
    accepted_at: datetime | None = ts(default=None)
    fulfilled_at: datetime | None = ts(default=None)
    revision: int = 1


class RequestVote(SQLModel, table=True):
    __tablename__ = "request_vote"

    request_id: uuid.UUID = Field(
        foreign_key="dataset_request.id", primary_key=True, ondelete="CASCADE"
    )
    user_id: uuid.UUID = Field(primary_key=True)
    email: str | None = None
    created_at: datetime = now_ts()


class RequestComment(SQLModel, table=True):
    __tablename__ = "request_comment"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    request_id: uuid.UUID = Field(foreign_key="dataset_request.id", index=True, ondelete="CASCADE")
    author_id: uuid.UUID
    author_name: str | None = None
    body: str
    created_at: datetime = now_ts()


# ---------------------------------------------------------------- surveys
class Survey(SQLModel, table=True):
    __tablename__ = "survey"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    title: str = Field(max_length=300)
    description: str = ""
    status: str = Field(default="draft", max_length=10)  # draft | open | closed
    starts_at: datetime | None = ts(default=None)
    ends_at: datetime | None = ts(default=None)
    questions: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONB)
    allow_anonymous: bool = True
    created_by: uuid.UUID
    created_at: datetime = now_ts()
    updated_at: datetime = now_ts()
    responses: int = 0
    revision: int = 1


class SurveyResponse(SQLModel, table=True):
    __tablename__ = "survey_response"
    __table_args__ = (sa.UniqueConstraint("survey_id", "respondent_key"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    survey_id: uuid.UUID = Field(foreign_key="survey.id", index=True, ondelete="CASCADE")
    respondent_key: str = Field(max_length=80)
    user_id: uuid.UUID | None = None
    answers: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    created_at: datetime = now_ts()


# ---------------------------------------------------------------- showcases
class Showcase(SQLModel, table=True):
    __tablename__ = "showcase"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    title: str = Field(max_length=300)
    description: str = ""
    type: str = Field(max_length=20)
    url: str = Field(max_length=2000)
    image_url: str | None = Field(default=None, max_length=2000)
    dataset_ids: list[str] = Field(default_factory=list, sa_type=JSONB)
    author: str = Field(max_length=300)
    submitted_by: uuid.UUID
    submitter_email: str | None = None
    status: str = Field(default="pending", max_length=10, index=True)
    reject_reason: str | None = None
    link_status: str = Field(default="unchecked", max_length=10)  # unchecked|ok|failing|dead
    link_failures: int = 0
    link_checked_at: datetime | None = ts(default=None)
    link_error: str | None = None
    created_at: datetime = now_ts()
    updated_at: datetime = now_ts()
    approved_at: datetime | None = ts(default=None)
    revision: int = 1


# ---------------------------------------------------------------- notifications and throttling
class Notification(SQLModel, table=True):
    """Outbox of messages to people: written with the change, sent by the sender loop."""

    __tablename__ = "notification"
    __table_args__ = (
        sa.Index(
            "ix_notification_pending", "created_at", postgresql_where=sa.text("sent_at IS NULL")
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: str = Field(max_length=40)
    recipient_email: str = Field(max_length=320)
    recipient_user_id: uuid.UUID | None = None
    subject: str = Field(max_length=300)
    body: str
    link: str | None = None
    created_at: datetime = now_ts()
    sent_at: datetime | None = ts(default=None)
    attempts: int = 0
    last_error: str | None = None


class RateCounter(SQLModel, table=True):
    __tablename__ = "rate_counter"

    key: str = Field(primary_key=True, max_length=120)
    window_start: datetime = ts(primary_key=True)
    count: int = 0
