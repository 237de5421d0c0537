"""Catalog tables (SQLModel). Migrations are hand-written in migrations/versions."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from portal_kit.db import utc_now
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlmodel import Field, SQLModel


def _ts(**kw: Any) -> Any:
    return Field(default_factory=utc_now, sa_type=sa.DateTime(timezone=True), **kw)


def _tsn() -> Any:
    return Field(default=None, sa_type=sa.DateTime(timezone=True))


def _strs() -> Any:
    return Field(default_factory=list, sa_type=ARRAY(sa.Text))


class Organization(SQLModel, table=True):
    __tablename__ = "organization"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    title: str
    title_en: str | None = None
    edrpou: str | None = Field(default=None, max_length=8)
    description: str | None = None
    email: str | None = None
    website: str | None = None
    responsible_persons: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONB)
    requires_update_moderation: bool = True
    created_at: datetime = _ts()
    modified_at: datetime = _ts()
    revision: int = 1
    deleted: bool = False


class Dataset(SQLModel, table=True):
    __tablename__ = "dataset"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    title: str
    title_en: str | None = None
    description: str | None = None
    description_en: str | None = None
    status: str = Field(default="draft", max_length=20, index=True)
    organization_id: uuid.UUID = Field(foreign_key="organization.id", index=True)
    maintainer: str | None = None
    maintainer_email: str | None = None
    maintainer_phone: str | None = None
    keywords: list[str] = _strs()
    themes: list[str] = _strs()
    license_id: str = "CC-BY-4.0"
    language: list[str] = _strs()
    legal_basis: str | None = None
    purpose: str | None = None
    update_frequency: str | None = None
    temporal_start: date | None = None
    temporal_end: date | None = None
    spatial: str | None = None
    spatial_uri: str | None = None
    data_actuality_date: date | None = None
    version: str | None = None
    structure_url: str | None = None
    list_code: str | None = Field(default=None, index=True)
    register_entry_id: uuid.UUID | None = None
    access_rights: str = "PUBLIC"
    formats: list[str] = _strs()  # derived from resources, for the format facet
    created_at: datetime = _ts()
    modified_at: datetime = _ts()
    first_published_at: datetime | None = _tsn()
    published_at: datetime | None = _tsn()
    revision: int = 1
    created_by: str | None = None
    # moderation
    moderation: dict[str, Any] | None = Field(default=None, sa_type=JSONB)  # last decision
    pending: dict[str, Any] | None = Field(default=None, sa_type=JSONB)  # change to a published one
    pending_status: str | None = None  # draft | submitted | rejected
    # search
    search_title: str = ""
    search_vector: Any = Field(default=None, sa_type=TSVECTOR, nullable=True)


class Resource(SQLModel, table=True):
    __tablename__ = "resource"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    dataset_id: uuid.UUID = Field(foreign_key="dataset.id", index=True)
    name: str
    name_en: str | None = None
    description: str | None = None
    format: str | None = None
    media_type: str | None = None
    file_id: uuid.UUID | None = None
    url: str | None = None
    download_url: str | None = None
    size: int | None = Field(default=None, sa_type=sa.BigInteger)
    sha256: str | None = None
    position: int = 0
    version: int = 1
    structure_url: str | None = None
    created_at: datetime = _ts()
    modified_at: datetime = _ts()
    revision: int = 1
    deleted: bool = False


class ResourceVersion(SQLModel, table=True):
    """A replaced version of a resource, kept readable."""

    __tablename__ = "resource_version"

    id: int | None = Field(default=None, primary_key=True)
    resource_id: uuid.UUID = Field(foreign_key="resource.id", index=True)
    version: int
    data: dict[str, Any] = Field(sa_type=JSONB)
    replaced_at: datetime = _ts()
    replaced_by: str | None = None


class DatasetHistory(SQLModel, table=True):
    __tablename__ = "dataset_history"

    id: int | None = Field(default=None, primary_key=True)
    dataset_id: uuid.UUID = Field(index=True)
    at: datetime = _ts()
    actor_id: str | None = None
    actor_email: str | None = None
    action: str
    revision: int
    changes: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    note: dict[str, Any] | None = Field(default=None, sa_type=JSONB)


class StoredFile(SQLModel, table=True):
    """Files the storage service stored (from ``storage.file.stored``)."""

    __tablename__ = "stored_file"

    id: uuid.UUID = Field(primary_key=True)
    organization_id: uuid.UUID
    size: int = Field(sa_type=sa.BigInteger)
    sha256: str
    media_type: str
    original_name: str
    created_at: datetime = _ts()
    deleted: bool = False
    # a copy the platform made of another file (the UTF-8 CSV of an XLSX/XLS/ODS), and its
    # public download URL as the catalog builds it for resources
    derived_from: uuid.UUID | None = None
    download_url: str | None = None


class RegisterEntry(SQLModel, table=True):
    __tablename__ = "register_entry"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    title: str
    title_en: str | None = None
    organization_id: uuid.UUID | None = Field(default=None, index=True)
    responsible_person: str | None = None
    list_code: str | None = Field(default=None, unique=True)
    mandatory: bool = False
    update_frequency: str | None = None
    planned_publication_date: date | None = None
    status: str = "planned"
    dataset_id: uuid.UUID | None = None
    request_id: uuid.UUID | None = Field(default=None, unique=True)
    notes: str | None = None
    created_at: datetime = _ts()
    modified_at: datetime = _ts()
    revision: int = 1


class Post(SQLModel, table=True):
    __tablename__ = "post"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: str = Field(max_length=10, index=True)
    title: str
    body: str
    body_html: str
    tags: list[str] = _strs()
    dataset_ids: list[str] = _strs()
    published_at: datetime | None = _tsn()
    author_id: str | None = None
    author_name: str | None = None
    created_at: datetime = _ts()
    modified_at: datetime = _ts()
    revision: int = 1
