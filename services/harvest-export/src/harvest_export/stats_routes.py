"""Public statistics: per organization, how many of its served datasets the national portal's
harvester has fetched since their last change (the monitoring card's «Оприлюднення» section)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from portal_kit.db import SessionDep, utc_now

from harvest_export.ckan_routes import settings_of
from harvest_export.models import HxDataset, HxFetch, HxOrganization

router = APIRouter(prefix="/api/v1/stats/harvest", tags=["harvest statistics"])

# every served dataset beside the national harvester's newest pull of it (pulls.record_pull
# keeps hx_fetch): fetched when that pull is not older than the dataset's last change
_FETCHED = (
    sa.select(HxDataset.organization_id, HxDataset.metadata_modified, HxFetch.fetched_at)
    .outerjoin(HxFetch, HxFetch.dataset_id == HxDataset.id)  # type: ignore[arg-type]
    .where(HxDataset.served.is_(True))  # type: ignore[attr-defined]
)


def _iso(d: datetime | None) -> str | None:
    return d.astimezone(UTC).isoformat().replace("+00:00", "Z") if d else None


@router.get(
    "/organizations",
    summary="Per organization: datasets served, and how many the national harvester "
    "(data.gov.ua) has fetched since their last change",
)
async def organizations(request: Request, session: SessionDep) -> dict[str, Any]:
    s = settings_of(request)
    rows = (await session.exec(_FETCHED)).all()  # type: ignore[call-overload]
    by_org: dict[uuid.UUID, dict[str, Any]] = {}
    for org_id, modified, pulled_at in rows:
        o = by_org.setdefault(
            org_id, {"published": 0, "fetched": 0, "stale": 0, "never": 0, "last": None}
        )
        o["published"] += 1
        if pulled_at is None:
            o["never"] += 1
            continue
        # metadata_modified is naive UTC (CKAN's clock); the pull time is aware
        if modified is None or pulled_at >= modified.replace(tzinfo=UTC):
            o["fetched"] += 1
        else:
            o["stale"] += 1
        o["last"] = max(o["last"] or pulled_at, pulled_at)
    names = {
        o.id: (o.name, o.title)
        for o in (
            await session.exec(
                sa.select(HxOrganization).where(HxOrganization.id.in_(list(by_org)))  # type: ignore[call-overload,attr-defined]
            )
        )
        .scalars()
        .all()
    }
    items = []
    for org_id, o in by_org.items():
        name, title = names.get(org_id, (None, None))
        items.append(
            {
                "organization_id": str(org_id),
                "organization_name": name,
                "organization_title": title,
                "published": o["published"],
                "fetched": o["fetched"],
                "stale": o["stale"],
                "never": o["never"],
                "last_fetch_at": _iso(o["last"]),
            }
        )
    items.sort(key=lambda i: (i["organization_name"] or "", i["organization_id"]))
    return {
        "items": items,
        "total": len(items),
        "computed_at": _iso(utc_now()),
        "harvester": {"user_agents": list(s.national_harvester_user_agents)},
    }
