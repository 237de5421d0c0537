"""Periodic work: deadline warnings to stewards, old throttle counters purged."""

from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa
from portal_kit.app import ServiceContext

from feedback import notifications
from feedback.common import clock_of, iso
from feedback.models import Dataset, RateCounter, Report
from feedback.settings import Settings

log = logging.getLogger("feedback.housekeeping")


async def warn_deadlines(ctx: ServiceContext) -> int:
    """Queue one warning per open, unanswered report whose deadline is near."""
    settings: Settings = ctx.settings  # type: ignore[assignment]
    t = clock_of(ctx)()
    n = 0
    async with ctx.sessionmaker() as session, session.begin():
        rows = (
            (
                await session.exec(
                    sa.select(Report)
                    .where(  # type: ignore[call-overload]
                        Report.deadline_warned.is_(False),  # type: ignore[attr-defined]
                        Report.first_response_at.is_(None),  # type: ignore[union-attr]
                        Report.status.in_(("new", "in_progress")),  # type: ignore[attr-defined]
                        Report.deadline_at < t + timedelta(hours=settings.deadline_warning_hours),  # type: ignore[operator]
                    )
                    .limit(200)
                    .with_for_update(skip_locked=True)
                )
            )
            .scalars()
            .all()
        )
        for r in rows:
            ds = await session.get(Dataset, r.dataset_id)
            notifications.enqueue(
                session,
                kind="report.deadline",
                emails=await notifications.org_recipients(session, r.organization_id),
                subject=f"Спливає строк відповіді на звернення щодо «{ds.title if ds else ''}»",
                body=f"Відповідь на звернення потрібно надати до {iso(r.deadline_at)}.",
                link=notifications.link(settings, f"/api/v1/feedback/reports/{r.id}"),
            )
            r.deadline_warned = True
            n += 1
        await session.exec(
            sa.delete(RateCounter).where(  # type: ignore[call-overload]
                RateCounter.window_start < t - timedelta(days=1)
            )
        )  # type: ignore[operator]
    return n


async def housekeeping_loop(ctx: ServiceContext) -> None:
    settings: Settings = ctx.settings  # type: ignore[assignment]
    while await ctx.sleep(settings.housekeeping_interval):
        try:
            await warn_deadlines(ctx)
        except Exception:
            log.exception("housekeeping failed")
