"""Events the quality service publishes (the quality service may add fields and types here).

- ``quality.resource.assessed``: data = ResourceAssessed
- ``quality.dataset.assessed``: data = DatasetAssessed
- ``quality.dataset.overdue``: data = DatasetOverdue
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Finding(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str
    severity: str  # "blocking" | "warning" | "info"
    message: str  # Ukrainian
    message_en: str | None = None
    field: str | None = None  # where to fix it (a dataset field or "resources[0]")


class ResourceAssessed(BaseModel):
    model_config = ConfigDict(extra="ignore")

    resource_id: uuid.UUID | None = None
    dataset_id: uuid.UUID | None = None
    file_id: uuid.UUID | None = None
    methodology_version: str
    stars: int | None = None
    valid: bool | None = None
    error_count: int = 0
    encoding: str | None = None
    media_type: str | None = None
    assessed_at: datetime


class DatasetAssessed(BaseModel):
    model_config = ConfigDict(extra="ignore")

    dataset_id: uuid.UUID
    organization_id: uuid.UUID
    dataset_revision: int
    methodology_version: str
    score: float  # combined index, 0..100
    band: str
    mqa_points: int | None = None
    mqa_band: str | None = None
    compliant: bool  # passes every compliance gate
    findings: list[Finding] = Field(default_factory=list)
    assessed_at: datetime


class DatasetOverdue(BaseModel):
    model_config = ConfigDict(extra="ignore")

    dataset_id: uuid.UUID
    organization_id: uuid.UUID
    update_frequency: str | None = None
    due_at: datetime
    days_overdue: int
