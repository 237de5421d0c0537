"""The harvest log for moderators: every pull, and per client whether its last run got all."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from portal_kit.auth import Moderator
from portal_kit.db import SessionDep
from portal_kit.errors import Unprocessable, field_error

from harvest_export import ckan, search
from harvest_export.ckan_routes import settings_of
from harvest_export.models import HxDataset, HxPull

router = APIRouter(prefix="/api/v1/harvest", tags=["harvest log"])

LISTING = {"package_search", "current_package_list_with_resources"}


def pull_json(p: HxPull) -> dict[str, Any]:
    return {
        "id": p.id,
        "at": p.at.isoformat().replace("+00:00", "Z"),
        "client": p.client,
        "user_agent": p.user_agent,
        "kind": p.kind,
        "action": p.action,
        "params": p.params,
        "count": p.count,
    }


@router.get("/log", summary="Harvest pulls, newest first (moderators)")
async def harvest_log(
    principal: Moderator,
    session: SessionDep,
    limit: int = Query(20, ge=1, le=100),
    offset: int = Query(0, ge=0, le=1_000_000),
    user_agent: str | None = Query(None, max_length=300, description="substring, case-insensitive"),
    client: str | None = Query(None, max_length=100),
    kind: str | None = Query(None, pattern="^(ckan|dcat)$"),
    since: datetime | None = None,
) -> dict[str, Any]:
    conds: list[Any] = []
    if user_agent:
        conds.append(HxPull.user_agent.ilike(f"%{user_agent}%", escape="\\"))
    if client:
        conds.append(HxPull.client == client)
    if kind:
        conds.append(HxPull.kind == kind)
    if since is not None:
        if since.tzinfo is None:
            raise Unprocessable(
                errors=[field_error(["query", "since"], "must carry a time zone, e.g. Z")]
            )
        conds.append(HxPull.at >= since)
    where = sa.and_(sa.true(), *conds)
    total = (
        await session.exec(sa.select(sa.func.count()).select_from(HxPull).where(where))
    ).scalar_one()  # type: ignore[call-overload]
    rows = (
        (
            await session.exec(  # type: ignore[call-overload]
                sa.select(HxPull)
                .where(where)
                .order_by(HxPull.id.desc())
                .offset(offset)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    return {"items": [pull_json(p) for p in rows], "total": total, "limit": limit, "offset": offset}


def _is_run_start(p: HxPull) -> bool:
    if p.kind == "ckan":
        return (
            p.action in LISTING
            and str(p.params.get("start", "0")) in ("0", "")
            and str(p.params.get("offset", "0")) in ("0", "")
        )
    return p.action.startswith("catalog.") and str(p.params.get("page", "1")) == "1"


def _since_bound(p: HxPull) -> datetime | None:
    """The lower metadata_modified bound of an incremental run (the harvester's fq)."""
    import re

    fq = p.params.get("fq") or ""
    text = " ".join(fq) if isinstance(fq, list) else str(fq)
    m = re.search(r"metadata_modified:\[(\S+)\s+TO", text)
    if m and m.group(1) != "*":
        return ckan.naive(ckan.parse_dt(m.group(1)))
    if p.params.get("modified_since"):
        return ckan.naive(ckan.parse_dt(p.params["modified_since"]))
    return None


@router.get("/status", summary="When each harvester last pulled, and whether it got everything")
async def harvest_status(
    principal: Moderator, request: Request, session: SessionDep
) -> dict[str, Any]:
    s = settings_of(request)
    served = (
        await session.exec(
            sa.select(sa.func.count()).select_from(HxDataset).where(HxDataset.served.is_(True))
        )
    ).scalar_one()  # type: ignore[call-overload]
    invalid = (
        await session.exec(
            sa.select(sa.func.count())
            .select_from(HxDataset)
            .where(HxDataset.valid.is_(False), HxDataset.status == "published")
        )
    ).scalar_one()  # type: ignore[call-overload]
    newest = (
        await session.exec(
            sa.select(sa.func.max(HxDataset.metadata_modified)).where(HxDataset.served.is_(True))
        )
    ).scalar_one()  # type: ignore[call-overload]
    clients = (
        await session.exec(  # type: ignore[call-overload]
            sa.select(HxPull.client, HxPull.user_agent, sa.func.max(HxPull.at), sa.func.count())
            .where(HxPull.kind.in_(["ckan", "dcat"]))
            .group_by(HxPull.client, HxPull.user_agent)
            .order_by(sa.func.max(HxPull.at).desc())
            .limit(20)
        )
    ).all()
    out = []
    for client, agent, last_at, pulls in clients:
        out.append(await _client_status(session, client, agent, last_at, pulls, s.run_gap_seconds))
    return {
        "published": served,
        "invalid": invalid,
        "newest_metadata_modified": ckan.ts(newest),
        "harvesters": out,
    }


async def _client_status(
    session: Any, client: str, agent: str, last_at: datetime, pulls: int, gap: int
) -> dict[str, Any]:
    # walk back from the newest pull to the start of its run (a first page, no long gap)
    recent = (
        (
            await session.exec(
                sa.select(HxPull)
                .where(
                    HxPull.client == client,
                    HxPull.user_agent == agent,
                    HxPull.kind.in_(["ckan", "dcat"]),
                )
                .order_by(HxPull.id.desc())
                .limit(5000)
            )
        )
        .scalars()
        .all()
    )
    result: dict[str, Any] = {
        "client": client,
        "user_agent": agent,
        "last_pull_at": last_at.isoformat().replace("+00:00", "Z"),
        "pulls": pulls,
        "last_run": None,
        "runs": {},
    }
    for kind in ("ckan", "dcat"):
        run = await _last_run(session, [p for p in recent if p.kind == kind], gap)
        if run is not None:
            result["runs"][kind] = run
    if result["runs"]:
        result["last_run"] = max(result["runs"].values(), key=lambda r: r["ended_at"])
    return result


async def _last_run(session: Any, recent: list[HxPull], gap: int) -> dict[str, Any] | None:
    run: list[HxPull] = []
    previous_at: datetime | None = None
    for p in recent:
        if previous_at is not None and (previous_at - p.at) > timedelta(seconds=gap):
            break
        run.append(p)
        previous_at = p.at
        if _is_run_start(p):
            break
    run.reverse()
    listing = [p for p in run if p.action in LISTING or p.action.startswith("catalog.")]
    seen: set[uuid.UUID] = set()
    for p in run:
        seen.update(p.ids)
    if not listing:
        return None
    started = run[0].at
    bound = _since_bound(listing[0])
    conds = [HxDataset.served.is_(True), HxDataset.first_served_at <= started]
    # the same filters the run asked for (organizations, groups...): expected is what it selected
    for key in ("q", "fq"):
        value = listing[0].params.get(key)
        for text in value if isinstance(value, list) else [value]:
            if text:
                try:
                    conds.append(search.parse(str(text)))
                except (search.SearchQueryError, search.SearchError):
                    pass
    if bound is not None:
        conds.append(HxDataset.metadata_modified >= bound)
        conds.append(HxDataset.metadata_modified <= ckan.naive(started))
    expected = set((await session.exec(sa.select(HxDataset.id).where(*conds))).scalars().all())
    missing = sorted(str(i) for i in expected - seen)
    return {
        "started_at": started.isoformat().replace("+00:00", "Z"),
        "ended_at": run[-1].at.isoformat().replace("+00:00", "Z"),
        "via": listing[0].kind,
        "mode": "incremental" if bound is not None else "full",
        "since": ckan.ts(bound),
        "requests": len(run),
        "datasets_seen": len(seen),
        "expected": len(expected),
        "complete": not missing,
        "missing": len(missing),
        "missing_ids": missing[:50],
    }
