"""Reports on published datasets: threads routed to the dataset's organization, with deadlines."""

from __future__ import annotations

import statistics
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from portal_kit.app import wake_relay
from portal_kit.auth import CurrentPrincipal, OptionalPrincipal, Principal
from portal_kit.contracts.feedback import ReportEvent
from portal_kit.db import SessionDep
from portal_kit.errors import Conflict, Forbidden, NotFound, Unprocessable, field_error
from portal_kit.events.outbox import record
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel.ext.asyncio.session import AsyncSession

from feedback import notifications
from feedback.common import (
    SOURCE,
    Email,
    Limit,
    Offset,
    Text,
    check_if_match,
    client_key,
    ctx_of,
    fetch_page,
    fingerprint,
    iso,
    now,
    page,
    settings_of,
    throttle,
    with_etag,
    work_calendar,
)
from feedback.models import Dataset, Organization, Report, ReportMessage

router = APIRouter(prefix="/api/v1/feedback", tags=["feedback reports"])
stats_router = APIRouter(prefix="/api/v1/stats/feedback", tags=["feedback statistics"])

Category = Literal[
    "wrong_data", "outdated", "broken_link", "missing_fields", "format", "personal_data", "other"
]
Status = Literal["new", "in_progress", "answered", "resolved", "rejected"]
OPEN = ("new", "in_progress")
CLOSED = ("resolved", "rejected")
# allowed status changes (answered comes from a public reply, or may be set directly)
TRANSITIONS: dict[str, set[str]] = {
    "new": {"in_progress", "answered", "resolved", "rejected"},
    "in_progress": {"new", "answered", "resolved", "rejected"},
    "answered": {"in_progress", "resolved", "rejected"},
    "resolved": {"in_progress"},
    "rejected": {"in_progress"},
}


class ReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset_id: uuid.UUID
    resource_id: uuid.UUID | None = None
    category: Category
    message: Annotated[Text, Field(min_length=5, max_length=5000)]
    contact_email: Email = None
    # honeypot: hidden in the form, people leave it empty, bots fill it
    website: str | None = Field(default=None, max_length=500)


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Annotated[Text, Field(min_length=1, max_length=5000)]


class ReportUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    hidden: bool | None = None


# ---------------------------------------------------------------- access
def can_see_private(p: Principal | None, r: Report) -> bool:
    return p is not None and (p.is_moderator or p.can_edit(r.organization_id))


def can_handle(p: Principal, r: Report) -> bool:
    """Stewards of the organization and moderators work the thread."""
    return p.is_moderator or p.can_edit(r.organization_id)


def is_overdue(r: Report, t: datetime) -> bool:
    return r.first_response_at is None and r.status in OPEN and t > r.deadline_at


def view(
    r: Report,
    t: datetime,
    request: Request,
    messages: list[ReportMessage] | None = None,
    private: bool = False,
) -> dict[str, Any]:
    cal = work_calendar(ctx_of(request))
    out: dict[str, Any] = {
        "id": str(r.id),
        "dataset_id": str(r.dataset_id),
        "resource_id": str(r.resource_id) if r.resource_id else None,
        "organization_id": str(r.organization_id),
        "category": r.category,
        "message": r.message,
        "status": r.status,
        "hidden": r.hidden,
        "created_at": iso(r.created_at),
        "updated_at": iso(r.updated_at),
        "deadline_at": iso(r.deadline_at),
        "working_days_left": None
        if r.first_response_at or r.status not in OPEN
        else cal.working_days_left(t, r.deadline_at),
        "overdue": is_overdue(r, t),
        "first_response_at": iso(r.first_response_at),
        "answered_on_time": None
        if r.first_response_at is None
        else r.first_response_at <= r.deadline_at,
        "closed_at": iso(r.closed_at),
        "revision": r.revision,
    }
    if messages is not None:
        out["replies"] = [
            {
                "id": str(m.id),
                "body": m.body,
                "author_name": m.author_name,
                "created_at": iso(m.created_at),
            }
            for m in messages
            if m.kind == "reply"
        ]
    if private:
        out["contact_email"] = r.contact_email
        out["reporter_email"] = r.reporter_email
        if messages is not None:
            out["notes"] = [
                {
                    "id": str(m.id),
                    "body": m.body,
                    "author_name": m.author_name,
                    "author_id": str(m.author_id) if m.author_id else None,
                    "created_at": iso(m.created_at),
                }
                for m in messages
                if m.kind == "note"
            ]
    return out


async def emit(session: AsyncSession, r: Report, verb: str) -> None:
    await record(
        session,
        source=SOURCE,
        type=f"feedback.report.{verb}",
        subject=str(r.id),
        data=ReportEvent(
            report_id=r.id,
            dataset_id=r.dataset_id,
            resource_id=r.resource_id,
            organization_id=r.organization_id,
            category=r.category,
            status=r.status,
            hidden=r.hidden,
            created_at=r.created_at,
            deadline_at=r.deadline_at,
            first_response_at=r.first_response_at,
            answered_on_time=None
            if r.first_response_at is None
            else r.first_response_at <= r.deadline_at,
            revision=r.revision,
        ),
    )


async def load(
    session: AsyncSession, report_id: uuid.UUID, p: Principal | None, *, lock: bool = False
) -> Report:
    stmt = sa.select(Report).where(Report.id == report_id)  # type: ignore[arg-type]
    if lock:
        stmt = stmt.with_for_update()
    r = (await session.exec(stmt)).scalars().first()  # type: ignore[call-overload]
    if r is None or (r.hidden and not can_see_private(p, r)):
        raise NotFound("No such report")
    return r


async def messages_of(session: AsyncSession, report_id: uuid.UUID) -> list[ReportMessage]:
    return list(
        (
            await session.exec(  # type: ignore[call-overload]
                sa.select(ReportMessage)
                .where(ReportMessage.report_id == report_id)  # type: ignore[arg-type]
                .order_by(ReportMessage.created_at)  # type: ignore[arg-type]
            )
        )
        .scalars()
        .all()
    )


def bump(r: Report, t: datetime) -> None:
    r.revision += 1
    r.updated_at = t


# ---------------------------------------------------------------- routes
@router.post(
    "/reports",
    status_code=201,
    summary="Report a problem with a published dataset "
    "(anonymous allowed; throttled per client; duplicates refused)",
)
async def create_report(
    body: ReportCreate, request: Request, session: SessionDep, principal: OptionalPrincipal
) -> JSONResponse:
    await throttle(request, principal, "report")
    if body.website:
        raise Unprocessable(
            "Submission refused", errors=[field_error(["body", "website"], "must be empty")]
        )
    ds = await session.get(Dataset, body.dataset_id)
    if ds is None or ds.status != "published":
        raise Unprocessable(
            "Unknown dataset",
            errors=[field_error(["body", "dataset_id"], "no published dataset with this id")],
        )
    if body.resource_id is not None and str(body.resource_id) not in ds.resource_ids:
        raise Unprocessable(
            "Unknown resource",
            errors=[field_error(["body", "resource_id"], "not a resource of this dataset")],
        )
    settings = settings_of(request)
    t = now(request)
    fp = fingerprint(str(ds.id), str(body.resource_id or ""), body.message)
    dup = (
        await session.exec(  # type: ignore[call-overload]
            sa.select(Report.id, Report.hidden)
            .where(
                Report.fingerprint == fp,  # type: ignore[arg-type]
                Report.created_at > t - timedelta(days=settings.duplicate_window_days),  # type: ignore[operator]
                Report.status.in_(OPEN + ("answered",)),  # type: ignore[attr-defined]
            )
            .limit(1)
        )
    ).first()
    if dup is not None:
        extra = {} if dup.hidden else {"existing_id": str(dup.id)}
        raise Conflict("The same problem was reported already", **extra)
    personal = body.category == "personal_data"
    r = Report(
        dataset_id=ds.id,
        resource_id=body.resource_id,
        organization_id=ds.organization_id,
        category=body.category,
        message=body.message,
        contact_email=body.contact_email,
        reporter_id=principal.user_id if principal else None,
        reporter_email=principal.email if principal else None,
        client_key=client_key(request, principal)[:64],
        fingerprint=fp,
        hidden=personal,
        created_at=t,
        updated_at=t,
        deadline_at=work_calendar(ctx_of(request)).deadline(t, settings.response_working_days),
    )
    session.add(r)
    await session.flush()
    org = await session.get(Organization, ds.organization_id)
    path = f"/api/v1/feedback/reports/{r.id}"
    subject = f"Нове звернення щодо набору «{ds.title}»"
    text = (
        f"Категорія: {r.category}\nНабір даних: {ds.title} ({ds.name})\n"
        f"Відповісти до: {iso(r.deadline_at)}\n\n{r.message}"
    )
    recipients = await notifications.org_recipients(session, ds.organization_id)
    if personal:
        recipients += notifications.moderator_recipients(settings)
        subject = "Повідомлення про розкриття персональних даних: " + ds.title
    notifications.enqueue(
        session,
        kind="report.created",
        emails=recipients,
        subject=subject,
        body=text,
        link=notifications.link(settings, path),
    )
    await emit(session, r, "created")
    wake_relay(request)
    body_out = view(r, t, request, [], private=can_see_private(principal, r))
    if org is not None:
        body_out["organization_title"] = org.title
    return with_etag(body_out, r.revision, 201)


@router.get("/reports", summary="Public reports (personal-data reports never listed publicly)")
async def list_reports(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    dataset_id: uuid.UUID | None = None,
    organization_id: uuid.UUID | None = None,
    status: Status | None = None,
    overdue: bool | None = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> dict[str, Any]:
    return await _list(
        request,
        session,
        principal,
        dataset_id=dataset_id,
        organization_ids=[organization_id] if organization_id else None,
        status=status,
        overdue=overdue,
        limit=limit,
        offset=offset,
        queue=False,
    )


@router.get(
    "/queue",
    summary="The caller's queue: their organizations' reports (moderators: all, "
    "or one organization), hidden ones included, oldest deadline first",
)
async def queue(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    organization_id: uuid.UUID | None = None,
    status: Status | None = None,
    overdue: bool | None = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> dict[str, Any]:
    if organization_id is not None:
        if not (principal.is_moderator or principal.can_edit(organization_id)):
            raise Forbidden("Not a member of this organization")
        orgs: list[uuid.UUID] | None = [organization_id]
    elif principal.is_moderator:
        orgs = None
    else:
        orgs = principal.organization_ids()
        if not orgs:
            raise Forbidden("Only stewards and moderators have a queue")
    return await _list(
        request,
        session,
        principal,
        dataset_id=None,
        organization_ids=orgs,
        status=status,
        overdue=overdue,
        limit=limit,
        offset=offset,
        queue=True,
    )


async def _list(
    request: Request,
    session: AsyncSession,
    principal: Principal | None,
    *,
    dataset_id: uuid.UUID | None,
    organization_ids: list[uuid.UUID] | None,
    status: str | None,
    overdue: bool | None,
    limit: int,
    offset: int,
    queue: bool,
) -> dict[str, Any]:
    t = now(request)
    conds: list[Any] = []
    if dataset_id is not None:
        conds.append(Report.dataset_id == dataset_id)
    if organization_ids is not None:
        conds.append(Report.organization_id.in_(organization_ids))  # type: ignore[attr-defined]
    if status is not None:
        conds.append(Report.status == status)
    if not queue:
        if principal is None or not principal.is_moderator:
            visible = [Report.hidden.is_(False)]  # type: ignore[attr-defined]
            if principal is not None and principal.orgs:
                visible.append(Report.organization_id.in_(principal.organization_ids()))  # type: ignore[attr-defined]
            conds.append(sa.or_(*visible))
    late = sa.and_(
        Report.first_response_at.is_(None),  # type: ignore[union-attr]
        Report.status.in_(OPEN),  # type: ignore[attr-defined]
        Report.deadline_at < t,  # type: ignore[operator]
    )
    if overdue is True:
        conds.append(late)
    elif overdue is False:
        conds.append(sa.not_(late))
    where = sa.and_(sa.true(), *conds)
    order = (Report.deadline_at, Report.id) if queue else (Report.created_at.desc(), Report.id)  # type: ignore[attr-defined]
    rows, total = await fetch_page(session, Report, where, order, limit, offset)
    items = [view(r, t, request, None, private=can_see_private(principal, r)) for r in rows]
    return page(items, total, limit, offset)


@router.get(
    "/reports/{report_id}",
    summary="One report with its public replies "
    "(stewards and moderators also see the contact and internal notes)",
)
async def get_report(
    report_id: uuid.UUID, request: Request, session: SessionDep, principal: OptionalPrincipal
) -> JSONResponse:
    r = await load(session, report_id, principal)
    private = can_see_private(principal, r)
    return with_etag(
        view(r, now(request), request, await messages_of(session, r.id), private), r.revision
    )


async def _add_message(
    session: AsyncSession,
    request: Request,
    report_id: uuid.UUID,
    principal: Principal,
    kind: str,
    text: str,
) -> tuple[Report, datetime]:
    """A steward's or moderator's reply or internal note on a report (the report locked)."""
    r = await load(session, report_id, principal, lock=True)
    if not can_handle(principal, r):
        raise Forbidden(f"Only the organization's stewards and moderators add a {kind}")
    t = now(request)
    session.add(
        ReportMessage(
            report_id=r.id,
            kind=kind,
            body=text,
            author_id=principal.user_id,
            author_name=principal.name,
            created_at=t,
        )
    )
    return r, t


@router.post(
    "/reports/{report_id}/replies",
    status_code=201,
    summary="Public reply of the steward or a moderator; the first one answers the report",
)
async def reply(
    report_id: uuid.UUID,
    body: MessageCreate,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
    r, t = await _add_message(session, request, report_id, principal, "reply", body.body)
    first = r.first_response_at is None
    if first:
        r.first_response_at = t
    if r.status in OPEN:
        r.status = "answered"
    bump(r, t)
    settings = settings_of(request)
    ds = await session.get(Dataset, r.dataset_id)
    to = r.contact_email or r.reporter_email
    notifications.enqueue(
        session,
        kind="report.replied",
        emails=[(to, r.reporter_id)],
        subject=f"Відповідь на ваше звернення щодо «{ds.title if ds else r.dataset_id}»",
        body=body.body,
        link=notifications.link(settings, f"/api/v1/feedback/reports/{r.id}"),
    )
    await emit(session, r, "answered" if first else "updated")
    wake_relay(request)
    await session.flush()
    return with_etag(view(r, t, request, await messages_of(session, r.id), True), r.revision, 201)


@router.post(
    "/reports/{report_id}/notes",
    status_code=201,
    summary="Internal note (stewards of the organization and moderators only)",
)
async def note(
    report_id: uuid.UUID,
    body: MessageCreate,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
    r, t = await _add_message(session, request, report_id, principal, "note", body.body)
    bump(r, t)
    await session.flush()
    return with_etag(view(r, t, request, await messages_of(session, r.id), True), r.revision, 201)


@router.patch(
    "/reports/{report_id}",
    summary="Change the status (or, moderators, visibility); If-Match required",
)
async def update_report(
    report_id: uuid.UUID,
    body: ReportUpdate,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
    r = await load(session, report_id, principal, lock=True)
    if not can_handle(principal, r):
        raise Forbidden("Only the organization's stewards and moderators change a report")
    check_if_match(request, r.revision)
    t = now(request)
    changed = False
    if body.hidden is not None and body.hidden != r.hidden:
        if not principal.is_moderator:
            raise Forbidden("Only moderators change the visibility of a report")
        if not body.hidden and r.category == "personal_data" and r.status not in CLOSED:
            raise Conflict("A personal-data report stays hidden until it is resolved")
        r.hidden = body.hidden
        changed = True
    if body.status is not None and body.status != r.status:
        if body.status not in TRANSITIONS[r.status]:
            raise Conflict(
                f"Cannot change a report from {r.status} to {body.status}",
                allowed=sorted(TRANSITIONS[r.status]),
            )
        r.status = body.status
        if body.status in ("answered", *CLOSED) and r.first_response_at is None:
            r.first_response_at = t
        r.closed_at = t if body.status in CLOSED else None
        changed = True
    if changed:
        bump(r, t)
        await emit(session, r, "updated")
        wake_relay(request)
    return with_etag(view(r, t, request, await messages_of(session, r.id), True), r.revision)


@router.get(
    "/deadline",
    summary="When a report received at `received_at` is due "
    "(working days, the portal's holiday rules)",
)
async def deadline(
    request: Request,
    received_at: datetime,
    working_days: Annotated[int | None, Query(ge=1, le=60)] = None,
) -> dict[str, Any]:
    if received_at.tzinfo is None:
        raise Unprocessable(
            "Time zone required",
            errors=[field_error(["query", "received_at"], "must carry a time zone (e.g. Z)")],
        )
    settings = settings_of(request)
    n = working_days or settings.response_working_days
    cal = work_calendar(ctx_of(request))
    return {
        "received_at": iso(received_at),
        "working_days": n,
        "deadline_at": iso(cal.deadline(received_at, n)),
        "holidays_are_days_off": settings.holidays_are_days_off,
    }


# ---------------------------------------------------------------- statistics
async def org_stats(
    session: AsyncSession, t: datetime, organization_id: uuid.UUID | None = None
) -> list[dict[str, Any]]:
    stmt = sa.select(
        Report.organization_id,
        Report.status,
        Report.created_at,  # type: ignore[call-overload]
        Report.deadline_at,
        Report.first_response_at,
    )
    if organization_id is not None:
        stmt = stmt.where(Report.organization_id == organization_id)
    rows = (await session.exec(stmt)).all()  # type: ignore[call-overload]
    by_org: dict[uuid.UUID, list[Any]] = {}
    for row in rows:
        by_org.setdefault(row.organization_id, []).append(row)
    titles = {
        o.id: (o.name, o.title)
        for o in (
            await session.exec(
                sa.select(Organization).where(  # type: ignore[call-overload]
                    Organization.id.in_(list(by_org))
                )
            )
        )
        .scalars()
        .all()  # type: ignore[attr-defined]
    }
    out = []
    for org_id, items in by_org.items():
        answered = [i for i in items if i.first_response_at is not None]
        hours = [(i.first_response_at - i.created_at).total_seconds() / 3600 for i in answered]
        on_time = [i for i in answered if i.first_response_at <= i.deadline_at]
        overdue = [
            i
            for i in items
            if i.first_response_at is None and i.status in OPEN and t > i.deadline_at
        ]
        # a report overdue and still unanswered also counts as not on time
        judged = len(answered) + len(overdue)
        name, title = titles.get(org_id, (None, None))
        out.append(
            {
                "organization_id": str(org_id),
                "organization_name": name,
                "organization_title": title,
                "total": len(items),
                "open": sum(1 for i in items if i.status in OPEN),
                "answered": len(answered),
                "overdue": len(overdue),
                "by_status": {s: sum(1 for i in items if i.status == s) for s in TRANSITIONS},
                "median_response_hours": round(statistics.median(hours), 2) if hours else None,
                "on_time_share": round(len(on_time) / judged, 4) if judged else None,
            }
        )
    out.sort(key=lambda x: (-x["overdue"], x["organization_name"] or ""))
    return out


@stats_router.get(
    "/organizations",
    summary="Per organization: counts, overdue, median response "
    "time, share answered on time (steward rating input)",
)
async def stats_organizations(request: Request, session: SessionDep) -> dict[str, Any]:
    items = await org_stats(session, now(request))
    return {"items": items, "total": len(items), "computed_at": iso(now(request))}


@stats_router.get("/organizations/{organization_id}", summary="The same for one organization")
async def stats_organization(
    organization_id: uuid.UUID, request: Request, session: SessionDep
) -> dict[str, Any]:
    items = await org_stats(session, now(request), organization_id)
    if not items:
        org = await session.get(Organization, organization_id)
        if org is None:
            raise NotFound("No such organization")
        return {
            "organization_id": str(organization_id),
            "organization_name": org.name,
            "organization_title": org.title,
            "total": 0,
            "open": 0,
            "answered": 0,
            "overdue": 0,
            "by_status": dict.fromkeys(TRANSITIONS, 0),
            "median_response_hours": None,
            "on_time_share": None,
        }
    return items[0]


@router.get(
    "/datasets/{dataset_id}",
    summary="Feedback summary of a published dataset "
    "(report counts by status, showcases); 404 for a dataset not published",
)
async def dataset_summary(
    dataset_id: uuid.UUID, request: Request, session: SessionDep, principal: OptionalPrincipal
) -> dict[str, Any]:
    from feedback.models import Showcase

    ds = await session.get(Dataset, dataset_id)
    if ds is None or ds.status != "published":
        raise NotFound("No published dataset with this id")
    rows = (
        await session.exec(
            sa.select(Report.status, sa.func.count())
            .where(  # type: ignore[call-overload]
                Report.dataset_id == dataset_id,
                Report.hidden.is_(False),  # type: ignore[attr-defined]
            )
            .group_by(Report.status)
        )
    ).all()
    showcases = (
        await session.exec(
            sa.select(sa.func.count())
            .select_from(Showcase)
            .where(  # type: ignore[call-overload]
                Showcase.status == "approved", Showcase.dataset_ids.contains([str(dataset_id)])
            )
        )
    ).scalar_one()  # type: ignore[attr-defined]
    by_status = dict.fromkeys(TRANSITIONS, 0) | {s: int(n) for s, n in rows}
    return {
        "dataset_id": str(ds.id),
        "dataset_name": ds.name,
        "title": ds.title,
        "organization_id": str(ds.organization_id),
        "reports": by_status,
        "open_reports": by_status["new"] + by_status["in_progress"],
        "showcases": int(showcases),
    }
