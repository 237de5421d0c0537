"""API models of the gateway's own routes (separate from the tables)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Role = Literal["admin", "moderator"]
OrgRole = Literal["editor", "org_admin"]

_EMAIL = re.compile(
    r"^[^@\s<>()\[\],;:\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$"
)


def check_email(value: str) -> str:
    value = value.strip()
    if len(value) > 320 or not _EMAIL.match(value):
        raise ValueError("not a valid email address")
    return value


def check_password(value: str) -> str:
    if len(value) < 8:
        raise ValueError("password must have at least 8 characters")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class MembershipIn(Strict):
    organization_id: uuid.UUID | None = Field(
        default=None, description="Required unless given in the path"
    )
    role: OrgRole


class MembershipOut(BaseModel):
    user_id: uuid.UUID
    organization_id: uuid.UUID
    role: OrgRole
    created_at: datetime
    updated_at: datetime


class UserCreate(Strict):
    email: str = Field(max_length=320)
    full_name: str = Field(default="", max_length=200)
    password: str = Field(max_length=256)
    roles: list[Role] = Field(default_factory=list, max_length=2)
    is_active: bool = True

    _email = field_validator("email")(check_email)
    _password = field_validator("password")(check_password)


class UserUpdate(Strict):
    full_name: str | None = Field(default=None, max_length=200)
    password: str | None = Field(default=None, max_length=256)
    roles: list[Role] | None = Field(default=None, max_length=2)
    is_active: bool | None = None

    @field_validator("password")
    @classmethod
    def _password(cls, value: str | None) -> str | None:
        return None if value is None else check_password(value)


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    full_name: str
    roles: list[Role]
    is_active: bool
    created_at: datetime
    updated_at: datetime
    memberships: list[MembershipOut] = Field(default_factory=list)


class UserPage(BaseModel):
    items: list[UserOut]
    total: int
    limit: int
    offset: int


class ApiTokenCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    expires_at: datetime | None = Field(
        default=None, description="When the token stops working (UTC); none = until revoked"
    )

    @field_validator("expires_at")
    @classmethod
    def _future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if value <= datetime.now(UTC):
            raise ValueError("expires_at must be in the future")
        return value


class ApiTokenOut(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiTokenCreated(ApiTokenOut):
    token: str = Field(
        description="Shown once; store it now. Send as 'Authorization: Bearer <token>'"
    )


class ApiTokenPage(BaseModel):
    items: list[ApiTokenOut]
    total: int
    limit: int
    offset: int
