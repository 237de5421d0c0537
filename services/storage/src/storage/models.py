"""Tables of the storage service."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from portal_kit.db import timestamp_field, utc_now
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


class StoredFile(SQLModel, table=True):
    __tablename__ = "files"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    organization_id: uuid.UUID = Field(index=True)
    bucket: str = Field(max_length=255)
    key: str = Field(max_length=1024)
    name: str = Field(max_length=255)  # original file name, cleaned, Unicode kept
    size: int = Field(sa_type=sa.BigInteger)
    sha256: str = Field(max_length=64)
    media_type: str = Field(max_length=255)  # sniffed from the bytes
    declared_media_type: str | None = Field(default=None, max_length=255)  # from name/header
    type_mismatch: bool = False
    uploaded_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = timestamp_field(default_factory=utc_now)
    deleted_at: datetime | None = timestamp_field(default=None)
    purged: bool = False  # object removed from S3 after deletion
    # a copy made from another file (the UTF-8 CSV quality derives from an XLSX/XLS/ODS)
    derived_from: uuid.UUID | None = Field(default=None, index=True)


class FileReference(SQLModel, table=True):
    """A dataset's resource points at a file; public when the dataset is published."""

    __tablename__ = "file_references"

    file_id: uuid.UUID = Field(primary_key=True)
    dataset_id: uuid.UUID = Field(primary_key=True, index=True)
    public: bool = False


class DatasetSeen(SQLModel, table=True):
    """The last dataset revision applied (catalog events may arrive out of order)."""

    __tablename__ = "datasets_seen"

    dataset_id: uuid.UUID = Field(primary_key=True)
    organization_id: uuid.UUID | None = None
    revision: int = 0
    status: str = Field(default="draft", max_length=32)


class UploadSession(SQLModel, table=True):
    __tablename__ = "upload_sessions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    organization_id: uuid.UUID = Field(index=True)
    bucket: str = Field(max_length=255)
    key: str = Field(max_length=1024)
    s3_upload_id: str = Field(max_length=1024)
    name: str = Field(max_length=255)
    declared_media_type: str | None = Field(default=None, max_length=255)
    size: int | None = Field(default=None, sa_type=sa.BigInteger)  # announced total, optional
    status: str = Field(default="open", max_length=16)  # open|completed|aborted|expired
    created_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = timestamp_field(default_factory=utc_now)
    expires_at: datetime = timestamp_field()
    file_id: uuid.UUID | None = None
    # part number -> ETag of the last copy sent through this service (a server may list a part
    # sent twice twice; this says which copy is meant)
    parts: dict[str, str] = Field(
        default_factory=dict,
        sa_column=sa.Column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )


class DownloadCount(SQLModel, table=True):
    __tablename__ = "download_counts"

    file_id: uuid.UUID = Field(primary_key=True)
    day: date = Field(primary_key=True, index=True)
    count: int = Field(default=0, sa_type=sa.BigInteger)


class OrganizationQuota(SQLModel, table=True):
    __tablename__ = "organization_quotas"

    organization_id: uuid.UUID = Field(primary_key=True)
    quota_bytes: int = Field(sa_type=sa.BigInteger)
    modified_at: datetime = timestamp_field(default_factory=utc_now)
