"""Recording harvest pulls (who pulled what) for the harvest log."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from sqlmodel.ext.asyncio.session import AsyncSession

from harvest_export.models import HxPull

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
    session.add(
        HxPull(
            client=client_of(request),
            user_agent=(request.headers.get("user-agent") or "")[:300],
            kind=kind,
            action=action[:100],
            params={k: _short(v) for k, v in params.items() if k in PARAM_KEYS},
            count=count,
            ids=ids or [],
        )
    )
