"""The read model (built from events only) and the harvest log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from portal_kit.db import timestamp_field, utc_now
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

NAIVE = sa.DateTime(timezone=False)


class HxOrganization(SQLModel, table=True):
    __tablename__ = "hx_organization"

    id: uuid.UUID = Field(primary_key=True)
    revision: int = 0
    name: str = Field(index=True)
    title: str = ""
    doc: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    deleted: bool = False
    # naive UTC, as CKAN shows it
    created: datetime = Field(sa_type=NAIVE)


class HxDataset(SQLModel, table=True):
    """One dataset as the catalog last described it, and the export built from it."""

    __tablename__ = "hx_dataset"

    id: uuid.UUID = Field(primary_key=True)
    revision: int = 0
    name: str = Field(index=True)
    status: str = "draft"
    organization_id: uuid.UUID = Field(index=True)
    doc: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    # a published dataset whose export validated at least once is served
    served: bool = Field(default=False, index=True)
    # hash of everything exported except metadata_modified: a change moves metadata_modified
    content_hash: str = ""
    metadata_created: datetime | None = Field(default=None, sa_type=NAIVE)
    # our own monotonic export clock (naive UTC); never goes backwards
    metadata_modified: datetime | None = Field(default=None, sa_type=NAIVE, index=True)
    first_served_at: datetime | None = timestamp_field(default=None)
    # the CKAN package dict as last validated (what is served)
    package: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    # SHACL result of the latest build
    valid: bool = True
    invalid_reason: str | None = None
    # hash of the SHACL result last announced as harvest.dataset.validated (None: never)
    shacl_digest: str | None = None
    # denormalised for search and facets (of the served package)
    title: str = ""
    org_name: str = ""
    license_id: str = ""
    tags: list[str] = Field(default_factory=list, sa_type=ARRAY(sa.Text))
    groups: list[str] = Field(default_factory=list, sa_type=ARRAY(sa.Text))
    res_formats: list[str] = Field(default_factory=list, sa_type=ARRAY(sa.Text))
    search_text: str = ""


class HxQuality(SQLModel, table=True):
    """The latest quality.dataset.assessed per dataset (may arrive before the dataset)."""

    __tablename__ = "hx_quality"

    dataset_id: uuid.UUID = Field(primary_key=True)
    dataset_revision: int = 0
    assessed_at: datetime = timestamp_field()
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)


class HxPull(SQLModel, table=True):
    """One request a harvester made: who, what, when, how many, which ids."""

    __tablename__ = "hx_pull"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = timestamp_field(default_factory=utc_now, index=True)
    client: str = ""
    user_agent: str = Field(default="", index=True)
    kind: str = "ckan"  # ckan | dcat | sitemap
    action: str = ""  # package_search, catalog.ttl, dataset.rdf ...
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    count: int = 0
    ids: list[uuid.UUID] = Field(default_factory=list, sa_type=ARRAY(sa.Uuid))


class HxFetch(SQLModel, table=True):
    """When the national harvester (settings ``national_harvester_*``) last received a dataset
    in a CKAN or DCAT pull; kept beside the log so the statistics need not unnest every pull."""

    __tablename__ = "hx_fetch"

    dataset_id: uuid.UUID = Field(primary_key=True)
    fetched_at: datetime = timestamp_field()
