"""Recording harvest pulls (who pulled what) for the harvest log."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from portal_kit.db import utc_now
from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from harvest_export.models import HxFetch, HxPull

PARAM_KEYS = (
    "q",
    "fq",
    "rows",
    "start",
    "sort",
    "id",
    "limit",
    "offset",
    "page",
    "modified_since",
    "profiles",
    "profile",
    "facet.field",
    "all_fields",
    "name",
    "include_datasets",
)


def client_of(request: Request) -> str:
    # the gateway appends the address it saw to X-Forwarded-For: the last entry is the client
    xff = request.headers.get("x-forwarded-for")
    if xff:
        return xff.split(",")[-1].strip()[:100]
    return request.client.host if request.client else ""


def _short(value: Any) -> Any:
    if isinstance(value, list):
        return [_short(v) for v in value[:10]]
    s = str(value)
    return s if len(s) <= 500 else s[:500] + "…"


async def record_pull(
    session: AsyncSession,
    request: Request,
    *,
    kind: str,
    action: str,
    params: dict[str, Any],
    count: int,
    ids: list[uuid.UUID] | None = None,
) -> None:
    at, client = utc_now(), client_of(request)
    agent = (request.headers.get("user-agent") or "")[:300]
    if ids and kind in ("ckan", "dcat") and is_national(request.state.settings, client, agent):
        await _fetched(session, sorted(set(ids)), at)
    session.add(
        HxPull(
            at=at,
            client=client,
            user_agent=agent,
            kind=kind,
            action=action[:100],
            params={k: _short(v) for k, v in params.items() if k in PARAM_KEYS},
            count=count,
            ids=ids or [],
        )
    )


def is_national(settings: Any, client: str, user_agent: str) -> bool:
    """The national portal's harvester: its address, or a user agent it is known to send."""
    ua = user_agent.lower()
    return client in settings.national_harvester_clients or any(
        s.lower() in ua for s in settings.national_harvester_user_agents if s
    )


async def _fetched(session: AsyncSession, ids: list[uuid.UUID], at: Any) -> None:
    # ids sorted: concurrent pulls lock the rows in one order (no deadlock)
    stmt = insert(HxFetch).values([{"dataset_id": i, "fetched_at": at} for i in ids])
    stmt = stmt.on_conflict_do_update(
        index_elements=["dataset_id"],
        set_={"fetched_at": sa.func.greatest(HxFetch.fetched_at, stmt.excluded.fetched_at)},
    )
    await session.exec(stmt)  # type: ignore[call-overload]
