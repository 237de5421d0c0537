"""Events the feedback service publishes (the feedback service may add more types here).

- ``feedback.request.accepted``: data = RequestAccepted. The catalog answers with a
  ``catalog.register.created`` entry whose ``request_id`` is this request.
- ``feedback.request.fulfilled``: data = RequestFulfilled (for notifications).
- ``feedback.report.created|answered|updated``: data = ReportEvent (no message text, no contact:
  enough for steward ratings; ``revision`` orders them).
- ``feedback.showcase.approved|flagged``: data = ShowcaseEvent (a reuse of datasets went public,
  or its link was found dead).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict


class RequestAccepted(BaseModel):
    model_config = ConfigDict(extra="ignore")

    request_id: uuid.UUID
    title: str
    description: str | None = None
    organization_id: uuid.UUID | None = None
    accepted_by: str | None = None
    accepted_at: datetime


class RequestFulfilled(BaseModel):
    model_config = ConfigDict(extra="ignore")

    request_id: uuid.UUID
    dataset_id: uuid.UUID
    dataset_name: str | None = None
    register_entry_id: uuid.UUID | None = None
    fulfilled_at: datetime


class ReportEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    report_id: uuid.UUID
    dataset_id: uuid.UUID
    resource_id: uuid.UUID | None = None
    organization_id: uuid.UUID
    category: str
    status: str  # new | in_progress | answered | resolved | rejected
    hidden: bool = False
    created_at: datetime
    deadline_at: datetime
    first_response_at: datetime | None = None
    answered_on_time: bool | None = None
    revision: int = 1


class ShowcaseEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    showcase_id: uuid.UUID
    title: str
    type: str
    url: str
    dataset_ids: list[uuid.UUID] = []
    status: str
    link_status: str
    revision: int = 1
