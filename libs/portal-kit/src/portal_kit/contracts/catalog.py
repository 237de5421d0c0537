"""Events the catalog publishes. Every event carries the full current document.

Types (the NATS subject is the type):
- ``catalog.organization.created|updated|deleted``: data = OrganizationDocument
- ``catalog.dataset.created|updated|submitted|published|rejected|archived|deleted``:
  data = DatasetDocument (resources included)
- ``catalog.resource.created|updated|deleted``: data = ResourceEvent (resource + its dataset)
- ``catalog.register.created|updated|deleted``: data = RegisterEntryDocument
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DatasetStatus = Literal["draft", "submitted", "published", "rejected", "archived", "deleted"]

# data.gov.ua's update_frequency values, as our snake_case codes
UpdateFrequency = Literal[
    "more_than_daily",
    "daily",
    "weekly",
    "monthly",
    "quarterly",
    "half_yearly",
    "yearly",
    "on_change",
    "no_longer_updated",
]

RegisterStatus = Literal["planned", "in_preparation", "published", "withdrawn"]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ResponsiblePerson(_Doc):
    name: str
    position: str | None = None
    email: str | None = None
    phone: str | None = None


class OrganizationDocument(_Doc):
    id: uuid.UUID
    name: str  # slug
    title: str  # Ukrainian
    title_en: str | None = None
    edrpou: str | None = None
    description: str | None = None
    email: str | None = None
    website: str | None = None
    responsible_persons: list[ResponsiblePerson] = Field(default_factory=list)
    requires_update_moderation: bool = True
    created_at: datetime
    modified_at: datetime
    revision: int = 1


class DerivedFile(_Doc):
    """A copy the platform made of a resource's current file (the UTF-8 CSV of an XLSX/XLS/ODS,
    converted by quality and stored by the storage service); never edited by people."""

    file_id: uuid.UUID  # the storage service's file (derived_from = the resource's file_id)
    format: str = "CSV"
    media_type: str
    name: str | None = None  # the source's name with .csv
    size: int | None = None
    sha256: str | None = None
    url: str  # the public download URL, like ResourceDocument.download_url
    created_at: datetime | None = None


class ResourceDocument(_Doc):
    id: uuid.UUID
    dataset_id: uuid.UUID
    name: str
    name_en: str | None = None
    description: str | None = None
    format: str | None = None  # e.g. CSV, XLSX, JSON (upper case)
    media_type: str | None = None
    file_id: uuid.UUID | None = None  # the storage service's file, when uploaded
    url: str | None = None  # external URL, or the public download URL of the file
    download_url: str | None = None  # absolute public URL to get the bytes
    size: int | None = None
    sha256: str | None = None
    position: int = 0
    version: int = 1  # resource version; replacing the file bumps it, old versions kept
    structure_url: str | None = None
    created_at: datetime
    modified_at: datetime  # last time the resource (metadata or file) changed
    # added: copies made of the current file (newest per format); a new file version drops them
    derived: list[DerivedFile] = Field(default_factory=list)


class DatasetDocument(_Doc):
    id: uuid.UUID
    name: str  # slug
    title: str  # Ukrainian
    title_en: str | None = None
    description: str | None = None
    description_en: str | None = None
    status: DatasetStatus
    organization_id: uuid.UUID
    organization_name: str | None = None
    organization_title: str | None = None
    maintainer: str | None = None  # responsible person
    maintainer_email: str | None = None
    maintainer_phone: str | None = None
    keywords: list[str] = Field(default_factory=list)
    themes: list[str] = Field(default_factory=list)  # EU data-theme codes: GOVE, ECON, ...
    license_id: str = "CC-BY-4.0"
    language: list[str] = Field(default_factory=lambda: ["uk"])  # ISO 639-1
    legal_basis: str | None = None
    purpose: str | None = None
    update_frequency: UpdateFrequency | None = None
    temporal_start: date | None = None
    temporal_end: date | None = None
    spatial: str | None = None  # e.g. "м. Запоріжжя"
    spatial_uri: str | None = None
    data_actuality_date: date | None = None
    version: str | None = None  # the dataset's own version label
    structure_url: str | None = None
    list_code: str | None = None  # mandatory-list code (ALL-nn / LSG-nn)
    register_entry_id: uuid.UUID | None = None
    access_rights: str = "PUBLIC"
    created_at: datetime
    modified_at: datetime  # metadata or any resource changed
    first_published_at: datetime | None = None
    published_at: datetime | None = None
    revision: int = 1  # increments on every change; consumers drop older revisions
    resources: list[ResourceDocument] = Field(default_factory=list)


class ResourceEvent(_Doc):
    resource: ResourceDocument
    dataset: DatasetDocument


class RegisterEntryDocument(_Doc):
    id: uuid.UUID
    title: str
    title_en: str | None = None
    organization_id: uuid.UUID | None = None
    responsible_person: str | None = None
    list_code: str | None = None
    update_frequency: UpdateFrequency | None = None
    planned_publication_date: date | None = None
    status: RegisterStatus
    dataset_id: uuid.UUID | None = None
    request_id: uuid.UUID | None = None  # the feedback service's dataset request it came from
    created_at: datetime
    modified_at: datetime
    revision: int = 1
