"""Events the feedback service publishes (the feedback service may add more types here).

- ``feedback.request.accepted``: data = RequestAccepted. The catalog answers with a
  ``catalog.register.created`` entry whose ``request_id`` is this request.
- ``feedback.request.fulfilled``: data = RequestFulfilled (for notifications).
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
