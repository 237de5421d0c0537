"""Seed step: quality. Pre-checks the demo datasets through the gateway (as the moderation UI
does), takes a weekly monitoring snapshot, and logs the KPI. Scores themselves come from the
catalog/storage events the earlier steps caused."""

from __future__ import annotations

import asyncio
from typing import Any

from portal_dev.seed import SeedContext, SkipStep


def _shared(ctx: SeedContext) -> dict[str, Any]:
    return getattr(ctx, "data", None) or ctx.ids


async def seed(ctx: SeedContext) -> None:
    headers = await ctx.as_admin()
    r = await ctx.client.get("/api/v1/quality/kpi", headers=headers)
    if r.status_code == 404:
        raise SkipStep("GET /api/v1/quality/kpi does not exist yet")
    datasets: dict[str, Any] = _shared(ctx).get("datasets", {}) or {}
    checked = 0
    for slug, info in list(datasets.items())[:20]:
        doc = await ctx.client.get(f"/api/v1/datasets/{info['id']}", headers=headers)
        if doc.status_code != 200:
            continue
        pre = await ctx.client.post("/api/v1/quality/precheck", json=doc.json(), headers=headers)
        if pre.status_code == 200:
            checked += 1
            blocking = [b["code"] for b in pre.json()["blocking"]]
            ctx.log.info("quality pre-check %s: %s", slug, ", ".join(blocking) or "ok")
    await asyncio.sleep(1.0)  # let the consumers catch up with the catalog events
    snap = await ctx.client.post("/api/v1/quality/snapshots?kind=weekly", headers=headers)
    if snap.status_code == 201:
        ctx.log.info("quality snapshot: %s", snap.json())
    ctx.log.info("quality: %d datasets pre-checked", checked)
