"""API models (separate from the tables)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field, field_serializer

from storage.models import StoredFile

Visibility = Literal["public", "private"]


def _z(dt: datetime | None) -> str | None:
    return dt.isoformat().replace("+00:00", "Z") if dt else None


def _urls(f: StoredFile, base_url: str) -> tuple[str, str]:
    from urllib.parse import quote

    return (
        f"{base_url.rstrip('/')}/files/{f.id}/{quote(f.name, safe='')}",
        f"/api/v1/files/{f.id}",
    )


class DerivedFile(BaseModel):
    """A copy made from this file (the UTF-8 CSV of a spreadsheet)."""

    id: uuid.UUID
    name: str
    media_type: str
    size: int
    sha256: str
    created_at: datetime
    download_url: str
    url: str

    @field_serializer("created_at")
    def _ser_dt(self, v: datetime) -> str | None:
        return _z(v)

    @classmethod
    def of(cls, f: StoredFile, *, base_url: str) -> DerivedFile:
        download_url, url = _urls(f, base_url)
        return cls(
            id=f.id,
            name=f.name,
            media_type=f.media_type,
            size=f.size,
            sha256=f.sha256,
            created_at=f.created_at,
            download_url=download_url,
            url=url,
        )


class FileInfo(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    size: int
    sha256: str
    media_type: str
    declared_media_type: str | None = None
    type_mismatch: bool = False
    created_at: datetime
    visibility: Visibility
    uploaded_by: str | None = None
    download_url: str
    url: str  # API path of the bytes
    derived_from: uuid.UUID | None = None  # the source of a derived copy
    derived: list[DerivedFile] = Field(default_factory=list)  # copies made from this file

    @field_serializer("created_at")
    def _ser_dt(self, v: datetime) -> str | None:
        return _z(v)

    @classmethod
    def of(
        cls,
        f: StoredFile,
        *,
        public: bool,
        base_url: str,
        derived: list[StoredFile] | None = None,
    ) -> FileInfo:
        download_url, url = _urls(f, base_url)
        return cls(
            id=f.id,
            organization_id=f.organization_id,
            name=f.name,
            size=f.size,
            sha256=f.sha256,
            media_type=f.media_type,
            declared_media_type=f.declared_media_type,
            type_mismatch=f.type_mismatch,
            created_at=f.created_at,
            visibility="public" if public else "private",
            uploaded_by=f.uploaded_by,
            download_url=download_url,
            url=url,
            derived_from=f.derived_from,
            derived=[DerivedFile.of(d, base_url=base_url) for d in derived or []],
        )


class FileList(BaseModel):
    items: list[FileInfo]
    total: int
    limit: int
    offset: int


class UploadCreate(BaseModel):
    name: str = Field(min_length=1, max_length=1000)
    size: int | None = Field(default=None, ge=0)
    media_type: str | None = Field(default=None, max_length=255)


class PartInfo(BaseModel):
    part_number: int
    etag: str
    size: int | None = None


class UploadInfo(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    size: int | None
    status: str
    created_at: datetime
    expires_at: datetime
    part_size: int
    min_part_size: int
    max_part_size: int
    max_parts: int = 10000
    parts: list[PartInfo] = Field(default_factory=list)
    file_id: uuid.UUID | None = None

    @field_serializer("created_at", "expires_at")
    def _ser_dt(self, v: datetime) -> str | None:
        return _z(v)


class CompletePart(BaseModel):
    part_number: int = Field(ge=1, le=10000)
    etag: str = Field(min_length=1, max_length=200)


class UploadComplete(BaseModel):
    parts: list[CompletePart] | None = Field(default=None, max_length=10000)


class PresignedPart(BaseModel):
    url: str
    method: str = "PUT"
    part_number: int
    expires_at: datetime

    @field_serializer("expires_at")
    def _ser_dt(self, v: datetime) -> str | None:
        return _z(v)


class DayCount(BaseModel):
    day: date
    count: int


class FileStats(BaseModel):
    file_id: uuid.UUID
    total: int
    days: list[DayCount]


class DownloadRow(BaseModel):
    day: date
    file_id: uuid.UUID
    dataset_id: uuid.UUID | None
    organization_id: uuid.UUID
    count: int


class DownloadStats(BaseModel):
    from_: date = Field(serialization_alias="from")
    to: date
    total: int
    items: list[DownloadRow]


class Quota(BaseModel):
    organization_id: uuid.UUID
    quota_bytes: int  # 0 = unlimited
    used_bytes: int


class QuotaUpdate(BaseModel):
    quota_bytes: int = Field(ge=0, le=2**62)
