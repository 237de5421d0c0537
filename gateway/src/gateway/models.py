"""Identity tables: users, organization memberships, API tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from portal_kit.db import utc_now
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

ROLES = ("admin", "moderator")
ORG_ROLES = ("editor", "org_admin")


class User(SQLModel, table=True):
    __tablename__ = "user_account"
    __table_args__ = (
        sa.Index("uq_user_account_email_lower", sa.text("lower(email)"), unique=True),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(max_length=320)
    full_name: str = Field(default="", max_length=200)
    password_hash: str = Field(max_length=500)
    is_active: bool = True
    roles: list[str] = Field(
        default_factory=list, sa_column=sa.Column(ARRAY(sa.String(40)), nullable=False)
    )
    revision: int = 1
    created_at: datetime = Field(default_factory=utc_now, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utc_now, sa_type=sa.DateTime(timezone=True))


class Membership(SQLModel, table=True):
    __tablename__ = "membership"

    user_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
        )
    )
    organization_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True, index=True))
    role: str = Field(max_length=20)
    created_at: datetime = Field(default_factory=utc_now, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utc_now, sa_type=sa.DateTime(timezone=True))


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid,
            sa.ForeignKey("user_account.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    name: str = Field(max_length=200)
    # sha256 hex of the whole token; the token itself is shown once and never stored
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    # the first characters, to recognise a token in a list
    prefix: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utc_now, sa_type=sa.DateTime(timezone=True))
    expires_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    last_used_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
