"""Quality tables (SQLModel). Every stored score carries the methodology version."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from portal_kit.db import utc_now
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


def _ts() -> Any:
    return Field(default_factory=utc_now, sa_type=sa.DateTime(timezone=True))


def _tsn() -> Any:
    return Field(default=None, sa_type=sa.DateTime(timezone=True))


class QOrganization(SQLModel, table=True):
    __tablename__ = "q_organization"
    id: uuid.UUID = Field(primary_key=True)
    revision: int = 0
    doc: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    deleted: bool = False
    updated_at: datetime = _ts()


class QDataset(SQLModel, table=True):
    """The latest DatasetDocument seen (by revision)."""

    __tablename__ = "q_dataset"
    id: uuid.UUID = Field(primary_key=True)
    organization_id: uuid.UUID = Field(index=True)
    revision: int = 0
    status: str = Field(default="draft", max_length=20)
    doc: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    deleted: bool = False
    updated_at: datetime = _ts()


class QResource(SQLModel, table=True):
    __tablename__ = "q_resource"
    id: uuid.UUID = Field(primary_key=True)
    dataset_id: uuid.UUID = Field(index=True)
    file_id: uuid.UUID | None = Field(default=None, index=True)
    sha256: str | None = None
    url: str | None = None
    content_changed_at: datetime | None = _tsn()
    active: bool = True


class QFile(SQLModel, table=True):
    __tablename__ = "q_file"
    id: uuid.UUID = Field(primary_key=True)
    organization_id: uuid.UUID | None = None
    bucket: str
    key: str
    size: int = Field(default=0, sa_type=sa.BigInteger)
    sha256: str | None = None
    media_type: str | None = None
    original_name: str | None = None
    created_at: datetime | None = _tsn()
    status: str = Field(default="pending", max_length=20, index=True)  # pending|done|failed
    attempts: int = 0
    detected_format: str | None = None
    encoding: str | None = None
    valid: bool | None = None
    error_count: int = 0
    d_score: float | None = None
    schema_source: str | None = None
    derived_key: str | None = None  # the UTF-8 CSV quality wrote for a spreadsheet
    derived_sha256: str | None = None
    derived_file_id: uuid.UUID | None = None  # the storage file recording it (once announced)
    derived_from: uuid.UUID | None = None  # set when this file is itself a derived CSV
    report: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    methodology_version: str | None = None
    checked_at: datetime | None = _tsn()


class QUrlCheck(SQLModel, table=True):
    __tablename__ = "q_url_check"
    url: str = Field(primary_key=True)
    host: str = ""
    status: str = "UNKNOWN"  # OK | BROKEN | UNKNOWN
    failures: int = 0
    http_code: int | None = None
    detail: str | None = None
    checked_at: datetime | None = _tsn()
    next_check_at: datetime = _ts()


class QDatasetScore(SQLModel, table=True):
    __tablename__ = "q_dataset_score"
    dataset_id: uuid.UUID = Field(primary_key=True)
    organization_id: uuid.UUID = Field(index=True)
    dataset_revision: int = 0
    status: str = "draft"
    methodology_version: str
    computed_at: datetime = _ts()
    dqi: float = 0
    band: str = ""
    mqa_points: float = 0
    mqa_band: str = ""
    compliant: bool = False
    is_timely: bool = False
    due_at: datetime | None = _tsn()
    in_scope: bool = False
    fingerprint: str = ""
    report: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)


class QSnapshot(SQLModel, table=True):
    """Weekly and quarter-end (frozen) monitoring snapshots."""

    __tablename__ = "q_snapshot"
    __table_args__ = (sa.UniqueConstraint("kind", "period", name="uq_q_snapshot_kind_period"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: str = Field(max_length=10)  # weekly | quarter
    period: str = Field(max_length=10)  # 2026-W48 | 2026Q4
    taken_at: datetime = _ts()
    methodology_version: str
    in_scope: int = 0
    compliant: int = 0
    kpi: float | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)


class QRegisterEntry(SQLModel, table=True):
    __tablename__ = "q_register_entry"
    id: uuid.UUID = Field(primary_key=True)
    organization_id: uuid.UUID | None = Field(default=None, index=True)
    dataset_id: uuid.UUID | None = None
    status: str = "planned"
    revision: int = 0
    doc: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)


class QOverdueNotice(SQLModel, table=True):
    __tablename__ = "q_overdue_notice"
    dataset_id: uuid.UUID = Field(primary_key=True)
    due_at: datetime = Field(primary_key=True, sa_type=sa.DateTime(timezone=True))
    sent_at: datetime = _ts()


class QDcatValidation(SQLModel, table=True):
    """harvest-export's SHACL result for a dataset's DCAT-AP export (harvest.dataset.validated).

    Created by quality_0004, not by quality_0002 (so it is not in QUALITY_TABLES)."""

    __tablename__ = "q_dcat_validation"
    dataset_id: uuid.UUID = Field(primary_key=True)
    revision: int = 0  # the catalog revision harvest-export validated
    conforms: bool = False
    violations: list[str] = Field(default_factory=list, sa_type=JSONB)
    profile: str = ""
    validated_at: datetime = _ts()


QUALITY_TABLES = [
    QOrganization,
    QDataset,
    QResource,
    QFile,
    QUrlCheck,
    QDatasetScore,
    QSnapshot,
    QRegisterEntry,
    QOverdueNotice,
]
