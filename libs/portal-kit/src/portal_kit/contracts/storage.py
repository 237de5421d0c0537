"""Events the storage service publishes.

- ``storage.file.stored``: data = FileStored
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


class FileDeleted(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID
    organization_id: uuid.UUID
    bucket: str
    key: str
