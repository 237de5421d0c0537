"""Events the quality service publishes (the quality service may add fields and types here).

- ``quality.resource.assessed``: data = ResourceAssessed
- ``quality.dataset.assessed``: data = DatasetAssessed
- ``quality.dataset.overdue``: data = DatasetOverdue
- ``quality.file.derived``: data = FileDerived (storage records it as a file; subject = source id)
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


class FileDerived(BaseModel):
    """Quality wrote a UTF-8 CSV converted from a spreadsheet into the storage bucket.

    The storage service records it as a file ``derived_from`` the source (same organization and
    visibility) and announces it with ``storage.file.stored``.
    """

    model_config = ConfigDict(extra="ignore")

    source_file_id: uuid.UUID
    source_sha256: str | None = None  # the source version the CSV was made from
    organization_id: uuid.UUID | None = None  # the source's, as quality saw it
    bucket: str
    key: str
    size: int
    sha256: str  # of the CSV, computed by quality before it wrote the object
    media_type: str = "text/csv; charset=utf-8"
    name: str  # the source's name with .csv, Unicode kept
    sheet: str | None = None  # the sheet that was converted
    derived_at: datetime
