"""Showcases of reuse (apps, chatbots, visualizations, APIs, research, news) built on the data.

Submitted by signed-in users, public once a moderator approves. A background loop rechecks the
links politely (HEAD, then GET when HEAD is refused; bounded timeouts; one request at a time per
pass; a browser-independent User-Agent) and flags a link dead after ``link_dead_after``
consecutive failures.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from portal_kit.app import ServiceContext, wake_relay
from portal_kit.auth import CurrentPrincipal, Moderator, OptionalPrincipal, Principal
from portal_kit.contracts.feedback import ShowcaseEvent
from portal_kit.db import SessionDep
from portal_kit.errors import Conflict, NotFound
from portal_kit.events.outbox import record
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from feedback.common import (
    SOURCE,
    Limit,
    Offset,
    Text,
    check_if_match,
    clock_of,
    fetch_page,
    iso,
    now,
    page,
    throttle,
    with_etag,
)
from feedback.models import Showcase
from feedback.settings import Settings

log = logging.getLogger("feedback.showcases")
router = APIRouter(prefix="/api/v1/showcases", tags=["showcases"])

ShowcaseType = Literal["app", "chatbot", "visualization", "api", "research", "news"]
USER_AGENT = "ZP-OpenData-LinkCheck/1.0 (+https://portal.zp.gov.ua)"


def _url(v: str) -> str:
    v = v.strip()
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in v):
        raise ValueError("must be an absolute http(s) URL")
    return v


Url = Annotated[str, Field(max_length=2000), AfterValidator(_url)]


class ShowcaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[Text, Field(min_length=3, max_length=300)]
    description: Annotated[Text, Field(min_length=1, max_length=5000)]
    type: ShowcaseType
    url: Url
    image_url: Url | None = None
    dataset_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=50)]
    author: Annotated[Text, Field(min_length=1, max_length=300)]


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[Text, Field(min_length=3, max_length=2000)]


def view(s: Showcase, principal: Principal | None) -> dict[str, Any]:
    out = {
        "id": str(s.id),
        "title": s.title,
        "description": s.description,
        "type": s.type,
        "url": s.url,
        "image_url": s.image_url,
        "dataset_ids": s.dataset_ids,
        "author": s.author,
        "status": s.status,
        "reject_reason": s.reject_reason,
        "link_status": s.link_status,
        "link_checked_at": iso(s.link_checked_at),
        "created_at": iso(s.created_at),
        "updated_at": iso(s.updated_at),
        "approved_at": iso(s.approved_at),
        "revision": s.revision,
    }
    if principal is not None and principal.is_moderator:
        out["link_error"] = s.link_error
        out["submitter_email"] = s.submitter_email
    return out


def visible(s: Showcase, p: Principal | None) -> bool:
    return s.status == "approved" or (
        p is not None and (p.is_moderator or p.sub == str(s.submitted_by))
    )


async def load(
    session: AsyncSession, sid: uuid.UUID, p: Principal | None, *, lock: bool = False
) -> Showcase:
    stmt = sa.select(Showcase).where(Showcase.id == sid)  # type: ignore[arg-type]
    if lock:
        stmt = stmt.with_for_update()
    s = (await session.exec(stmt)).scalars().first()  # type: ignore[call-overload]
    if s is None or not visible(s, p):
        raise NotFound("No such showcase")
    return s


async def emit(session: AsyncSession, s: Showcase, verb: str) -> None:
    await record(
        session,
        source=SOURCE,
        type=f"feedback.showcase.{verb}",
        subject=str(s.id),
        data=ShowcaseEvent(
            showcase_id=s.id,
            title=s.title,
            type=s.type,
            url=s.url,
            dataset_ids=[uuid.UUID(d) for d in s.dataset_ids],
            status=s.status,
            link_status=s.link_status,
            revision=s.revision,
        ),
    )


@router.post("", status_code=201, summary="Submit a showcase (signed in); public after approval")
async def submit(
    body: ShowcaseCreate, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> JSONResponse:
    await throttle(request, principal, "showcase")
    t = now(request)
    s = Showcase(
        title=body.title,
        description=body.description,
        type=body.type,
        url=body.url,
        image_url=body.image_url,
        dataset_ids=list(dict.fromkeys(str(d) for d in body.dataset_ids)),
        author=body.author,
        submitted_by=principal.user_id,
        submitter_email=principal.email,
        created_at=t,
        updated_at=t,
    )
    session.add(s)
    await session.flush()
    return with_etag(view(s, principal), s.revision, 201)


@router.get(
    "",
    summary="Approved showcases; ?dataset_id= lists those using a dataset "
    "(moderators may filter by status)",
)
async def list_showcases(
    session: SessionDep,
    principal: OptionalPrincipal,
    dataset_id: uuid.UUID | None = None,
    type: ShowcaseType | None = None,
    status: Literal["pending", "approved", "rejected"] | None = None,
    link_status: Literal["unchecked", "ok", "failing", "dead"] | None = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> dict[str, Any]:
    conds: list[Any] = []
    if principal is not None and principal.is_moderator:
        if status:
            conds.append(Showcase.status == status)
    else:
        conds.append(Showcase.status == "approved")
    if dataset_id is not None:
        conds.append(Showcase.dataset_ids.contains([str(dataset_id)]))  # type: ignore[attr-defined]
    if type is not None:
        conds.append(Showcase.type == type)
    if link_status is not None:
        conds.append(Showcase.link_status == link_status)
    where = sa.and_(sa.true(), *conds)
    order = (Showcase.created_at.desc(), Showcase.id)  # type: ignore[attr-defined]
    rows, total = await fetch_page(session, Showcase, where, order, limit, offset)
    return page([view(s, principal) for s in rows], total, limit, offset)


@router.get("/{showcase_id}", summary="One showcase")
async def get_showcase(
    showcase_id: uuid.UUID, session: SessionDep, principal: OptionalPrincipal
) -> JSONResponse:
    s = await load(session, showcase_id, principal)
    return with_etag(view(s, principal), s.revision)


@router.post("/{showcase_id}/approve", summary="Approve (moderators; If-Match)")
async def approve(
    showcase_id: uuid.UUID, request: Request, session: SessionDep, principal: Moderator
) -> JSONResponse:
    s = await load(session, showcase_id, principal, lock=True)
    check_if_match(request, s.revision)
    if s.status == "approved":
        raise Conflict("Already approved")
    t = now(request)
    s.status, s.reject_reason, s.approved_at, s.updated_at = "approved", None, t, t
    s.revision += 1
    await emit(session, s, "approved")
    wake_relay(request)
    return with_etag(view(s, principal), s.revision)


@router.post("/{showcase_id}/reject", summary="Reject with a reason (moderators; If-Match)")
async def reject(
    showcase_id: uuid.UUID,
    body: RejectBody,
    request: Request,
    session: SessionDep,
    principal: Moderator,
) -> JSONResponse:
    s = await load(session, showcase_id, principal, lock=True)
    check_if_match(request, s.revision)
    if s.status == "rejected":
        raise Conflict("Already rejected")
    s.status, s.reject_reason, s.updated_at = "rejected", body.reason, now(request)
    s.revision += 1
    return with_etag(view(s, principal), s.revision)


@router.post("/{showcase_id}/check", summary="Check the link now (moderators)")
async def check_now(
    showcase_id: uuid.UUID, request: Request, session: SessionDep, principal: Moderator
) -> JSONResponse:
    s = await load(session, showcase_id, principal, lock=True)
    ctx: ServiceContext = request.state.ctx
    ok, err = await probe(ctx.http, s.url, ctx.settings)  # type: ignore[arg-type]
    if apply_check(s, ok, err, now(request), ctx.settings):  # type: ignore[arg-type]
        await emit(session, s, "flagged")
        wake_relay(request)
    return with_etag(view(s, principal), s.revision)


# ---------------------------------------------------------------- link checks
async def _is_private(host: str) -> bool:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False  # unresolvable: the request itself will fail and count
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved:
            return True
    return False


async def probe(client: httpx.AsyncClient, url: str, settings: Settings) -> tuple[bool, str | None]:
    """One polite check: HEAD, GET if HEAD is not allowed. True when the page answers < 400."""
    host = urlsplit(url).hostname or ""
    if not settings.link_check_allow_private and await _is_private(host):
        return False, "address is not public"
    timeout = httpx.Timeout(
        settings.link_check_timeout, connect=min(5.0, settings.link_check_timeout)
    )
    headers = {"User-Agent": USER_AGENT}
    try:
        r = await client.head(url, timeout=timeout, headers=headers, follow_redirects=True)
        if r.status_code in (403, 405, 501):
            async with client.stream(
                "GET", url, timeout=timeout, headers=headers, follow_redirects=True
            ) as resp:
                r = resp  # status only; the body is not read
        if r.status_code < 400:
            return True, None
        return False, f"HTTP {r.status_code}"
    except httpx.HTTPError as exc:
        return False, f"{type(exc).__name__}: {exc}"[:500]


def apply_check(s: Showcase, ok: bool, err: str | None, t: datetime, settings: Settings) -> bool:
    """Record a check; True when the link just became dead."""
    before = s.link_status
    s.link_checked_at = t
    if ok:
        s.link_failures, s.link_status, s.link_error = 0, "ok", None
    else:
        s.link_failures += 1
        s.link_error = err
        s.link_status = "dead" if s.link_failures >= settings.link_dead_after else "failing"
    if s.link_status != before:
        s.revision += 1
        s.updated_at = t
    return s.link_status == "dead" and before != "dead"


async def check_due(ctx: ServiceContext, batch: int = 20) -> int:
    """Check approved showcases not checked within ``link_recheck_after`` seconds."""
    settings: Settings = ctx.settings  # type: ignore[assignment]
    t = clock_of(ctx)()
    async with ctx.sessionmaker() as session:
        ids = (
            await session.exec(
                sa.select(Showcase.id, Showcase.url)
                .where(  # type: ignore[call-overload]
                    Showcase.status == "approved",
                    sa.or_(
                        Showcase.link_checked_at.is_(None),  # type: ignore[union-attr]
                        Showcase.link_checked_at
                        < t - timedelta(seconds=settings.link_recheck_after),
                    ),  # type: ignore[operator]
                )
                .order_by(Showcase.link_checked_at.nulls_first())
                .limit(batch)
            )
        ).all()  # type: ignore[union-attr]
    for sid, url in ids:
        ok, err = await probe(ctx.http, url, settings)  # one at a time: polite to every host
        async with ctx.sessionmaker() as session, session.begin():
            s = await session.get(Showcase, sid, with_for_update=True)
            if s is None:
                continue
            if apply_check(s, ok, err, clock_of(ctx)(), settings):
                await emit(session, s, "flagged")
    if ids and ctx.worker is not None:
        ctx.worker.wake_relay()
    return len(ids)


async def link_loop(ctx: ServiceContext) -> None:
    settings: Settings = ctx.settings  # type: ignore[assignment]
    while await ctx.sleep(settings.link_check_interval):
        try:
            await check_due(ctx)
        except Exception:
            log.exception("link check pass failed")
