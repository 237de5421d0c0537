"""Events the storage service publishes.

- ``storage.file.stored``: data = FileStored (also for a derived copy: ``derived_from`` set)
- ``storage.file.deleted``: data = FileDeleted
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict


class FileStored(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID
    organization_id: uuid.UUID
    bucket: str
    key: str
    size: int
    sha256: str
    media_type: str
    original_name: str
    uploaded_by: str | None = None
    created_at: datetime
    # added: what the name/header claimed, and whether the bytes disagree (a .csv that is a ZIP)
    declared_media_type: str | None = None
    type_mismatch: bool = False
    # added: the file this one was derived from (the UTF-8 CSV of an XLSX/XLS/ODS), else None
    derived_from: uuid.UUID | None = None


class FileDeleted(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID
    organization_id: uuid.UUID
    bucket: str
    key: str
