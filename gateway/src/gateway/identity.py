"""Identity use cases: passwords, users, memberships, API tokens, resolving a bearer token.

Nothing here commits: the request's session does (portal_kit.db.SessionDep).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from portal_kit.contracts.identity import MembershipChanged, UserChanged
from portal_kit.db import utc_now
from portal_kit.errors import Unauthorized
from portal_kit.events import outbox
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway import tokens
from gateway.keys import KeyRing
from gateway.models import ApiToken, Membership, User
from gateway.settings import Settings

SOURCE = "/gateway"
_hasher = PasswordHasher()
# argon2 takes ~64 MiB and tens of ms per hash: bound how many run at once
_hash_slots = asyncio.Semaphore(4)
_DUMMY_HASH = _hasher.hash("not-a-real-password-" + uuid.uuid4().hex)
LAST_USED_GRANULARITY = timedelta(seconds=60)


async def hash_password(password: str) -> str:
    async with _hash_slots:
        return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the user exists (a dummy hash is checked for unknown users)."""
    async with _hash_slots:
        try:
            return await asyncio.to_thread(_hasher.verify, password_hash or _DUMMY_HASH, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(password_hash)
    except Exception:
        return False


def normalize_email(email: str) -> str:
    return email.strip()


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.exec(
        select(User).where(sa.func.lower(User.email) == normalize_email(email).lower())
    )
    return result.first()


async def memberships_of(session: AsyncSession, user_id: uuid.UUID) -> list[Membership]:
    result = await session.exec(
        select(Membership)
        .where(Membership.user_id == user_id)
        .order_by(col(Membership.organization_id))
    )
    return list(result.all())


async def memberships_by_user(
    session: AsyncSession, user_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[Membership]]:
    out: dict[uuid.UUID, list[Membership]] = {u: [] for u in user_ids}
    if not user_ids:
        return out
    result = await session.exec(
        select(Membership)
        .where(col(Membership.user_id).in_(user_ids))
        .order_by(col(Membership.organization_id))
    )
    for m in result.all():
        out[m.user_id].append(m)
    return out


def orgs_claim(memberships: list[Membership]) -> dict[str, str]:
    return {str(m.organization_id): m.role for m in memberships}


async def record_user(session: AsyncSession, user: User, *, created: bool) -> None:
    await outbox.record(
        session,
        source=SOURCE,
        type="identity.user.created" if created else "identity.user.updated",
        subject=str(user.id),
        data=UserChanged(
            id=user.id,
            email=user.email,
            full_name=user.full_name,
            roles=list(user.roles),
            is_active=user.is_active,
            revision=user.revision,
            updated_at=user.updated_at,
        ),
    )


async def record_membership(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    organization_id: uuid.UUID,
    role: str | None,
    previous_role: str | None,
    changed_by: uuid.UUID | None,
) -> None:
    await outbox.record(
        session,
        source=SOURCE,
        type="identity.membership.changed",
        subject=str(user_id),
        data=MembershipChanged(
            user_id=user_id,
            organization_id=organization_id,
            role=role,
            previous_role=previous_role,
            changed_by=changed_by,
            changed_at=utc_now(),
        ),
    )


def touch(user: User) -> None:
    user.revision += 1
    user.updated_at = utc_now()


async def ensure_admin(session: AsyncSession, settings: Settings) -> User | None:
    """Create or update the first admin from PORTAL_ADMIN_EMAIL/PASSWORD (idempotent)."""
    email = settings.admin_email.strip()
    password = settings.admin_password.get_secret_value()
    if not email or not password:
        return None
    user = await user_by_email(session, email)
    if user is None:
        user = User(
            email=email,
            full_name=settings.admin_full_name,
            password_hash=await hash_password(password),
            roles=["admin"],
        )
        session.add(user)
        await session.flush()
        await record_user(session, user, created=True)
        return user
    changed = False
    if not await verify_password(user.password_hash, password):
        user.password_hash = await hash_password(password)
        changed = True
    if "admin" not in user.roles:
        user.roles = sorted({*user.roles, "admin"})
        changed = True
    if not user.is_active:
        user.is_active = True
        changed = True
    if changed:
        touch(user)
        session.add(user)
        await session.flush()
        await record_user(session, user, created=False)
    return user


# --- resolving a bearer token -------------------------------------------------------------


@dataclass
class ActiveCache:
    """user id -> active flag for a few seconds, so a JWT at the edge costs no query each time."""

    ttl: float = 5.0
    _data: dict[uuid.UUID, tuple[bool, float]] = field(default_factory=dict)

    def get(self, user_id: uuid.UUID) -> bool | None:
        hit = self._data.get(user_id)
        if hit is None or hit[1] < time.monotonic():
            return None
        return hit[0]

    def put(self, user_id: uuid.UUID, active: bool) -> None:
        if len(self._data) > 50_000:
            now = time.monotonic()
            self._data = {k: v for k, v in self._data.items() if v[1] >= now}
        self._data[user_id] = (active, time.monotonic() + self.ttl)

    def forget(self, user_id: uuid.UUID) -> None:
        self._data.pop(user_id, None)


@dataclass
class Caller:
    user: User
    token_id: uuid.UUID | None = None  # set when authenticated with an API token


async def api_token_caller(session: AsyncSession, raw: str) -> Caller:
    """Look up an API token: unknown, revoked, expired or of a deactivated user -> 401."""
    result = await session.exec(
        select(ApiToken, User)
        .join(User, col(User.id) == col(ApiToken.user_id))
        .where(ApiToken.token_hash == tokens.hash_api_token(raw))
    )
    row = result.first()
    now = datetime.now(UTC)
    if row is None:
        raise Unauthorized("Unknown API token")
    api_token, user = row
    if api_token.revoked_at is not None:
        raise Unauthorized("API token revoked")
    if api_token.expires_at is not None and api_token.expires_at <= now:
        raise Unauthorized("API token expired")
    if not user.is_active:
        raise Unauthorized("Account deactivated")
    if api_token.last_used_at is None or api_token.last_used_at < now - LAST_USED_GRANULARITY:
        # at most one write a minute per token, and never a lost update fight
        await session.exec(  # type: ignore[call-overload]
            sa.update(ApiToken)
            .where(
                col(ApiToken.id) == api_token.id,
                sa.or_(
                    col(ApiToken.last_used_at).is_(None),
                    col(ApiToken.last_used_at) < now - LAST_USED_GRANULARITY,
                ),
            )
            .values(last_used_at=now)
        )
    return Caller(user=user, token_id=api_token.id)


async def jwt_caller(session: AsyncSession, keys: KeyRing, settings: Settings, raw: str) -> Caller:
    principal = tokens.verify(keys, raw, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    user = await session.get(User, principal.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("Account deactivated")
    tid = uuid.UUID(principal.token_id) if principal.token_id else None
    return Caller(user=user, token_id=tid)


async def mint_for(
    session: AsyncSession,
    keys: KeyRing,
    settings: Settings,
    user: User,
    *,
    token_id: uuid.UUID | None = None,
    lifetime: int | None = None,
) -> str:
    memberships = await memberships_of(session, user.id)
    return tokens.mint(
        keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        lifetime=lifetime or settings.token_lifetime_seconds,
        user_id=user.id,
        email=user.email,
        name=user.full_name,
        roles=list(user.roles),
        orgs=orgs_claim(memberships),
        token_id=token_id,
    )
