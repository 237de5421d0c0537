"""API request models (separate from tables). Unknown fields are refused so typos get a 422."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

from portal_kit.contracts.catalog import RegisterStatus, UpdateFrequency
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from catalog.common import EMAIL_RE, PHONE_RE, SLUG_RE, URL_RE, edrpou_valid
from catalog.vocab import LANGUAGES, LICENSE_IDS, THEME_CODES

Slug = Annotated[str, StringConstraints(pattern=SLUG_RE)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=254, pattern=r"\S")]
ShortText = Annotated[str, StringConstraints(max_length=500)]
LongText = Annotated[str, StringConstraints(max_length=4000)]
Email = Annotated[str, StringConstraints(pattern=EMAIL_RE, max_length=254)]
Url = Annotated[str, StringConstraints(pattern=URL_RE, max_length=2000)]
Phone = Annotated[str, StringConstraints(pattern=PHONE_RE)]
Keyword = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"\S")]
ListCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,5}-[A-Z0-9]{1,5}$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# -- organizations


class ResponsiblePersonIn(_In):
    name: Title
    position: ShortText | None = None
    email: Email | None = None
    phone: Phone | None = None


def _check_edrpou(v: str | None) -> str | None:
    if v is not None and not edrpou_valid(v):
        raise ValueError("EDRPOU must be 8 digits with a valid check digit")
    return v


class OrganizationCreate(_In):
    name: Slug
    title: Title
    title_en: Title | None = None
    edrpou: str | None = None
    description: LongText | None = None
    email: Email | None = None
    website: Url | None = None
    responsible_persons: list[ResponsiblePersonIn] = Field(default_factory=list, max_length=20)
    requires_update_moderation: bool = True

    _edrpou = field_validator("edrpou")(_check_edrpou)


class OrganizationUpdate(_In):
    name: Slug | None = None
    title: Title | None = None
    title_en: Title | None = None
    edrpou: str | None = None
    description: LongText | None = None
    email: Email | None = None
    website: Url | None = None
    responsible_persons: list[ResponsiblePersonIn] | None = Field(default=None, max_length=20)
    requires_update_moderation: bool | None = None

    _edrpou = field_validator("edrpou")(_check_edrpou)


# -- datasets


def _check_themes(v: list[str] | None) -> list[str] | None:
    if v is None:
        return v
    bad = [t for t in v if t not in THEME_CODES]
    if bad:
        raise ValueError(f"unknown theme(s) {bad}; see /api/v1/vocabularies/themes")
    return list(dict.fromkeys(v))


def _check_license(v: str | None) -> str | None:
    if v is not None and v not in LICENSE_IDS:
        raise ValueError("unknown licence; see /api/v1/vocabularies/licenses")
    return v


def _check_language(v: list[str] | None) -> list[str] | None:
    if v is None:
        return v
    bad = [x for x in v if x not in LANGUAGES]
    if bad:
        raise ValueError(f"unknown language code(s) {bad}; use ISO 639-1 such as 'uk'")
    return list(dict.fromkeys(v))


def _dedupe(v: list[str] | None) -> list[str] | None:
    return None if v is None else list(dict.fromkeys(v))


class _DatasetFields(_In):
    title_en: Title | None = None
    description: LongText | None = None
    description_en: LongText | None = None
    maintainer: Title | None = None
    maintainer_email: Email | None = None
    maintainer_phone: Phone | None = None
    keywords: list[Keyword] | None = Field(default=None, max_length=50)
    themes: list[str] | None = Field(default=None, max_length=13)
    license_id: str | None = None
    language: list[str] | None = Field(default=None, max_length=10)
    legal_basis: LongText | None = None
    purpose: Annotated[str, StringConstraints(max_length=512)] | None = None
    update_frequency: UpdateFrequency | None = None
    temporal_start: date | None = None
    temporal_end: date | None = None
    spatial: ShortText | None = None
    spatial_uri: Url | None = None
    data_actuality_date: date | None = None
    version: Annotated[str, StringConstraints(max_length=50)] | None = None
    structure_url: Url | None = None
    list_code: ListCode | None = None
    register_entry_id: uuid.UUID | None = None
    access_rights: Literal["PUBLIC", "RESTRICTED", "NON_PUBLIC"] | None = None

    _themes = field_validator("themes")(_check_themes)
    _license = field_validator("license_id")(_check_license)
    _language = field_validator("language")(_check_language)
    _keywords = field_validator("keywords")(_dedupe)


class DatasetCreate(_DatasetFields):
    name: Slug
    title: Title
    organization_id: uuid.UUID


class DatasetUpdate(_DatasetFields):
    name: Slug | None = None
    title: Title | None = None


class RejectIn(_In):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=4000, pattern=r"\S")]
    field_reasons: dict[str, Annotated[str, StringConstraints(min_length=1, max_length=2000)]] = (
        Field(default_factory=dict, max_length=50)
    )


class PublishIn(_In):
    override_reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None


class NoteIn(_In):
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None


# -- resources

Format = Annotated[
    str, StringConstraints(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9.+\-]+$")
]
MediaType = Annotated[str, StringConstraints(max_length=200, pattern=r"^[\w.+-]+/[\w.+-]+$")]


class ResourceCreate(_In):
    name: Title
    name_en: Title | None = None
    description: LongText | None = None
    format: Format | None = None
    media_type: MediaType | None = None
    file_id: uuid.UUID | None = None
    url: Url | None = None
    position: int | None = Field(default=None, ge=0, le=10000)
    structure_url: Url | None = None


class ResourceUpdate(_In):
    name: Title | None = None
    name_en: Title | None = None
    description: LongText | None = None
    format: Format | None = None
    media_type: MediaType | None = None
    position: int | None = Field(default=None, ge=0, le=10000)
    structure_url: Url | None = None


class ResourceNewVersion(_In):
    file_id: uuid.UUID | None = None
    url: Url | None = None
    format: Format | None = None
    media_type: MediaType | None = None


# -- register


class RegisterCreate(_In):
    title: Title
    title_en: Title | None = None
    organization_id: uuid.UUID | None = None
    responsible_person: Title | None = None
    update_frequency: UpdateFrequency | None = None
    planned_publication_date: date | None = None
    status: RegisterStatus = "planned"
    notes: LongText | None = None


class RegisterUpdate(_In):
    title: Title | None = None
    title_en: Title | None = None
    organization_id: uuid.UUID | None = None
    responsible_person: Title | None = None
    update_frequency: UpdateFrequency | None = None
    planned_publication_date: date | None = None
    status: RegisterStatus | None = None
    dataset_id: uuid.UUID | None = None
    notes: LongText | None = None


# -- posts


class PostCreate(_In):
    kind: Literal["news", "guide"]
    title: Title
    body: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
    tags: list[Keyword] = Field(default_factory=list, max_length=30)
    dataset_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    published: bool = True


class PostUpdate(_In):
    kind: Literal["news", "guide"] | None = None
    title: Title | None = None
    body: Annotated[str, StringConstraints(min_length=1, max_length=100_000)] | None = None
    tags: list[Keyword] | None = Field(default=None, max_length=30)
    dataset_ids: list[uuid.UUID] | None = Field(default=None, max_length=50)
    published: bool | None = None


def present(model: BaseModel) -> dict[str, Any]:
    """The fields the client actually sent (explicit nulls included)."""
    return {k: getattr(model, k) for k in model.model_fields_set}
