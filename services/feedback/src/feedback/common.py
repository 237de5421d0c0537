"""Shared pieces of the feedback routes: ETags, clock, client keys, throttling, paging."""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Query, Request
from fastapi.responses import JSONResponse
from portal_kit.app import ServiceContext
from portal_kit.auth import Principal
from portal_kit.errors import PreconditionFailed, PreconditionRequired, TooManyRequests
from pydantic import AfterValidator
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from feedback.models import RateCounter
from feedback.settings import Settings
from feedback.workdays import Clock, WorkCalendar, calendar_from_settings, system_clock

SOURCE = "/feedback"
EMAIL_RE = re.compile(r"^[^@\s<>\"']{1,64}@[^@\s<>\"']+\.[^@\s<>\"']{2,}$")
# control characters other than tab / newline / carriage return are refused in text
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean_text(v: str) -> str:
    if _CONTROL.search(v):
        raise ValueError("control characters are not allowed")
    v = v.strip()
    if not v:
        raise ValueError("must not be blank")
    return v


def _clean_email(v: str | None) -> str | None:
    if v is None:
        return None
    v = v.strip()
    if not v:
        return None
    if len(v) > 254 or not EMAIL_RE.match(v):
        raise ValueError("not a valid email address")
    return v


Text = Annotated[str, AfterValidator(_clean_text)]
Email = Annotated[str | None, AfterValidator(_clean_email)]


def ctx_of(request: Request) -> ServiceContext:
    return request.state.ctx  # type: ignore[no-any-return]


def settings_of(request: Request) -> Settings:
    return request.state.settings  # type: ignore[no-any-return]


def clock_of(ctx: ServiceContext) -> Clock:
    clock = ctx.extras.get("clock") or getattr(ctx.settings, "_clock", None)
    return clock or system_clock  # type: ignore[no-any-return]


def now(request: Request) -> datetime:
    return clock_of(ctx_of(request))()


def work_calendar(ctx: ServiceContext) -> WorkCalendar:
    cal = ctx.extras.get("calendar")
    if cal is None:
        cal = ctx.extras["calendar"] = calendar_from_settings(ctx.settings)
    return cal  # type: ignore[no-any-return]


def iso(v: datetime | None) -> str | None:
    if v is None:
        return None
    return v.astimezone(UTC).isoformat().replace("+00:00", "Z")


def etag(revision: int) -> str:
    return f'W/"{revision}"'


def check_if_match(request: Request, revision: int) -> None:
    """428 when If-Match is missing, 412 when it names another revision."""
    header = request.headers.get("if-match")
    if not header or not header.strip():
        raise PreconditionRequired("If-Match header with the ETag you read is required")
    tags = [t.strip() for t in header.split(",") if t.strip()]
    if "*" in tags:
        return
    if any(t.removeprefix("W/").strip('"') == str(revision) for t in tags):
        return
    raise PreconditionFailed(
        "Changed since you read it; read it again and retry", current_etag=etag(revision)
    )


def with_etag(body: dict[str, Any], revision: int, status_code: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers={"ETag": etag(revision)})


Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=100_000)]


def page(items: list[Any], total: int, limit: int, offset: int) -> dict[str, Any]:
    return {"items": items, "total": total, "limit": limit, "offset": offset}


async def fetch_page(
    session: AsyncSession, model: Any, where: Any, order: tuple[Any, ...], limit: int, offset: int
) -> tuple[list[Any], int]:
    """One page of ``model`` rows matching ``where`` in ``order``, and how many match in all."""
    total = (
        await session.exec(sa.select(sa.func.count()).select_from(model).where(where))  # type: ignore[call-overload]
    ).scalar_one()
    rows = (
        await session.exec(  # type: ignore[call-overload]
            sa.select(model).where(where).order_by(*order).limit(limit).offset(offset)
        )
    ).scalars()
    return list(rows), int(total)


# ---------------------------------------------------------------- who is asking
def client_ip(request: Request) -> str:
    # uvicorn (proxy_headers) already resolved the gateway's X-Forwarded-For into request.client
    return request.client.host if request.client else "unknown"


def client_key(request: Request, principal: Principal | None) -> str:
    """A stable, non-reversible key for the caller: the user id, or a salted hash of the IP."""
    if principal is not None:
        return f"u:{principal.sub}"
    salt = settings_of(request).client_key_salt.get_secret_value()
    digest = hashlib.sha256(f"{salt}|{client_ip(request)}".encode()).hexdigest()[:40]
    return f"a:{digest}"


def fingerprint(*parts: str) -> str:
    norm = "|".join(re.sub(r"\W+", " ", p.casefold()).strip() for p in parts)
    return hashlib.sha256(norm.encode()).hexdigest()


async def throttle(request: Request, principal: Principal | None, scope: str) -> None:
    """Fixed-window counter per client in PostgreSQL (shared by every replica).

    Counted in its own transaction, so rejected attempts count too. 429 with Retry-After."""
    settings = settings_of(request)
    limit = settings.user_writes_per_window if principal else settings.anon_writes_per_window
    window = max(1, settings.rate_window_seconds)
    t = now(request)
    epoch = t.timestamp()
    start = datetime.fromtimestamp(epoch - (epoch % window), UTC)
    key = f"{scope}:{client_key(request, principal)}"[:120]
    sm: async_sessionmaker[AsyncSession] = request.state.sessionmaker
    async with sm() as session, session.begin():
        result = await session.exec(  # type: ignore[call-overload]
            insert(RateCounter)
            .values(key=key, window_start=start, count=1)
            .on_conflict_do_update(
                index_elements=["key", "window_start"],
                set_={"count": RateCounter.count + 1},  # type: ignore[operator]
            )
            .returning(RateCounter.count)  # type: ignore[arg-type]
        )
        count = int(result.scalar_one())
    if count > limit:
        retry = max(1, math.ceil((start + timedelta(seconds=window) - t).total_seconds()))
        raise TooManyRequests(
            "Too many submissions from this client; try again later",
            headers={"Retry-After": str(retry)},
            retry_after=retry,
        )


def parse_uuid(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
