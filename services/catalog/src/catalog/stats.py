"""Catalog statistics for the dashboard: SQL aggregates over the catalog's own tables.

``/api/v1/stats/catalog/...`` (the gateway routes ``/api/v1/stats/catalog/*`` here):
  datasets       counts by status, organization, theme and format
  publications   first publications per month
  overdue        published datasets whose update frequency says they are late

Published figures are public. Other statuses (drafts, submitted, rejected, archived) are
counted only for moderators and admins; an organization's members see their own organization's.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query
from portal_kit.auth import OptionalPrincipal, Principal
from portal_kit.db import SessionDep, utc_now

from catalog.models import Dataset, Organization, Resource
from catalog.vocab import FREQUENCY_DAYS, THEMES

router = APIRouter(prefix="/api/v1/stats/catalog", tags=["statistics"])

STATUSES = ("published", "draft", "submitted", "rejected", "archived")
THEME_LABELS = {t["code"]: (t["uk"], t["en"]) for t in THEMES}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _sees_internal(principal: Principal | None, organization_id: uuid.UUID | None) -> bool:
    if principal is None:
        return False
    if principal.is_moderator:
        return True
    return organization_id is not None and principal.is_member(organization_id)


async def _organizations(session: Any) -> dict[uuid.UUID, Organization]:
    rows = (await session.exec(sa.select(Organization))).scalars().all()  # type: ignore[call-overload]
    return {o.id: o for o in rows}


@router.get(
    "/datasets",
    summary="Datasets by status, organization, theme and format (non-published statuses: "
    "moderators, or members for their own organization)",
)
async def dataset_stats(
    session: SessionDep,
    principal: OptionalPrincipal,
    organization_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    d = Dataset.__table__  # type: ignore[attr-defined]
    internal = _sees_internal(principal, organization_id)
    statuses = STATUSES if internal else ("published",)
    base = [d.c.status.in_(statuses)]
    if organization_id is not None:
        base.append(d.c.organization_id == organization_id)
    rows = (
        await session.exec(  # type: ignore[call-overload]
            sa.select(d.c.organization_id, d.c.status, sa.func.count())
            .where(*base)
            .group_by(d.c.organization_id, d.c.status)
        )
    ).all()
    orgs = await _organizations(session)
    by_org: dict[uuid.UUID, dict[str, Any]] = {}
    by_status = dict.fromkeys(statuses, 0)
    for org_id, status, n in rows:
        o = orgs.get(org_id)
        entry = by_org.setdefault(
            org_id,
            {
                "organization_id": str(org_id),
                "name": o.name if o else None,
                "title": o.title if o else None,
                **dict.fromkeys(statuses, 0),
                "total": 0,
            },
        )
        entry[status] += int(n)
        entry["total"] += int(n)
        by_status[status] += int(n)
    published = [d.c.status == "published"]
    if organization_id is not None:
        published.append(d.c.organization_id == organization_id)
    theme = sa.func.unnest(d.c.themes).label("theme")
    theme_rows = (
        await session.exec(  # type: ignore[call-overload]
            sa.select(theme, sa.func.count()).where(*published).group_by(theme)
        )
    ).all()
    fmt = sa.func.upper(sa.func.unnest(d.c.formats)).label("fmt")
    fmt_rows = (
        await session.exec(  # type: ignore[call-overload]
            sa.select(fmt, sa.func.count()).where(*published).group_by(fmt)
        )
    ).all()
    by_theme = [
        {
            "theme": code,
            "title": THEME_LABELS.get(code, (code, code))[0],
            "title_en": THEME_LABELS.get(code, (code, code))[1],
            "count": int(n),
        }
        for code, n in theme_rows
    ]
    by_theme.sort(key=lambda x: (-x["count"], x["theme"]))
    by_format = [{"format": f, "count": int(n)} for f, n in fmt_rows if f]
    by_format.sort(key=lambda x: (-x["count"], x["format"]))
    organizations = sorted(by_org.values(), key=lambda x: (-x["total"], x["title"] or ""))
    return {
        "internal": internal,
        "organization_id": str(organization_id) if organization_id else None,
        "total": sum(by_status.values()),
        "published": by_status["published"],
        "by_status": by_status,
        "by_organization": organizations,
        "by_theme": by_theme,
        "by_format": by_format,
        "computed_at": _iso(utc_now()),
    }


@router.get("/publications", summary="Datasets first published per month (UTC), oldest first")
async def publications(
    session: SessionDep,
    months: Annotated[int, Query(ge=1, le=120)] = 12,
    organization_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    d = Dataset.__table__  # type: ignore[attr-defined]
    now = utc_now()
    first = datetime(now.year, now.month, 1, tzinfo=now.tzinfo)
    y, m = now.year, now.month - (months - 1)
    while m <= 0:
        y, m = y - 1, m + 12
    start = first.replace(year=y, month=m)
    month = sa.func.to_char(sa.func.timezone("UTC", d.c.first_published_at), "YYYY-MM")
    cond = [
        d.c.first_published_at.is_not(None),
        d.c.first_published_at >= start,
        d.c.status.in_(("published", "archived")),
    ]
    if organization_id is not None:
        cond.append(d.c.organization_id == organization_id)
    rows = (
        await session.exec(  # type: ignore[call-overload]
            sa.select(month.label("m"), sa.func.count()).where(*cond).group_by("m")
        )
    ).all()
    counts = {k: int(n) for k, n in rows}
    items = []
    yy, mm = y, m
    for _ in range(months):
        key = f"{yy:04d}-{mm:02d}"
        items.append({"month": key, "count": counts.get(key, 0)})
        yy, mm = (yy + 1, 1) if mm == 12 else (yy, mm + 1)
    return {"items": items, "total": sum(i["count"] for i in items), "months": months}


@router.get(
    "/overdue",
    summary="Published datasets not updated within their update frequency, most overdue first",
)
async def overdue(
    session: SessionDep,
    organization_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    d = Dataset.__table__  # type: ignore[attr-defined]
    r = Resource.__table__  # type: ignore[attr-defined]
    res_mod = (
        sa.select(r.c.dataset_id, sa.func.max(r.c.modified_at).label("m"))
        .where(r.c.deleted.is_(False))
        .group_by(r.c.dataset_id)
        .subquery()
    )
    measurable = [k for k, v in FREQUENCY_DAYS.items() if v]
    cond = [d.c.status == "published", d.c.update_frequency.in_(measurable)]
    if organization_id is not None:
        cond.append(d.c.organization_id == organization_id)
    rows = (
        await session.exec(  # type: ignore[call-overload]
            sa.select(
                d.c.id,
                d.c.name,
                d.c.title,
                d.c.organization_id,
                d.c.update_frequency,
                d.c.modified_at,
                res_mod.c.m,
            )
            .outerjoin(res_mod, res_mod.c.dataset_id == d.c.id)
            .where(*cond)
        )
    ).all()
    now = utc_now()
    orgs = await _organizations(session)
    items = []
    for ds_id, name, title, org_id, freq, modified, res_m in rows:
        last = max(x for x in (modified, res_m) if x is not None)
        due = last + timedelta(days=FREQUENCY_DAYS[freq])
        if due >= now:
            continue
        o = orgs.get(org_id)
        items.append(
            {
                "dataset_id": str(ds_id),
                "name": name,
                "title": title,
                "organization_id": str(org_id),
                "organization_title": o.title if o else None,
                "update_frequency": freq,
                "last_updated": _iso(last),
                "due_at": _iso(due),
                "days_overdue": (now - due).days,
            }
        )
    items.sort(key=lambda i: (-i["days_overdue"], i["name"]))
    by_org: dict[str, dict[str, Any]] = {}
    for i in items:
        e = by_org.setdefault(
            i["organization_id"],
            {
                "organization_id": i["organization_id"],
                "organization_title": i["organization_title"],
                "overdue": 0,
            },
        )
        e["overdue"] += 1
    return {
        "total": len(items),
        "checked": len(rows),
        "items": items[:limit],
        "by_organization": sorted(by_org.values(), key=lambda x: -x["overdue"]),
        "computed_at": _iso(now),
    }
