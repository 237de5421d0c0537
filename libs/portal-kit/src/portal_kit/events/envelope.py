"""The CloudEvents 1.0 envelope every message uses. The NATS subject is the event ``type``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from portal_kit.logging import request_id_var


class CloudEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    specversion: str = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str
    type: str
    subject: str | None = None
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: str = "application/json"
    data: dict[str, Any] = Field(default_factory=dict)
    # extension attribute (CloudEvents names are lowercase alphanumerics)
    requestid: str | None = None

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


def make_event(
    *, source: str, type: str, data: BaseModel | dict[str, Any], subject: str | None = None
) -> CloudEvent:
    payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
    return CloudEvent(
        source=source, type=type, subject=subject, data=payload, requestid=request_id_var.get()
    )
