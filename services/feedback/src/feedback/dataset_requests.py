"""Dataset requests: ask, vote (once, retractable), comment; moderators accept, merge or decline.

Accepting records ``feedback.request.accepted``; the catalog answers with a register entry carrying
the request id (``catalog.register.created``); when that entry's dataset is published the request
is fulfilled (``feedback.request.fulfilled`` and emails to the requester and the voters).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from portal_kit.app import wake_relay
from portal_kit.auth import CurrentPrincipal, Moderator, OptionalPrincipal, Principal
from portal_kit.contracts.feedback import RequestAccepted, RequestFulfilled
from portal_kit.db import SessionDep, utc_now
from portal_kit.errors import Conflict, NotFound, Unprocessable, field_error
from portal_kit.events.outbox import record
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from feedback import notifications
from feedback.common import (
    SOURCE,
    Limit,
    Offset,
    Text,
    check_if_match,
    fetch_page,
    iso,
    now,
    page,
    throttle,
    with_etag,
)
from feedback.models import DatasetRequest, Organization, RequestComment, RequestVote
from feedback.settings import Settings

router = APIRouter(prefix="/api/v1/requests", tags=["dataset requests"])

RequestStatus = Literal["open", "accepted", "declined", "merged", "fulfilled"]


class RequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[Text, Field(min_length=3, max_length=300)]
    description: Annotated[Text, Field(min_length=1, max_length=5000)]
    why: Annotated[Text, Field(min_length=1, max_length=3000)]
    suggested_organization_id: uuid.UUID | None = None


class CommentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Annotated[Text, Field(min_length=1, max_length=3000)]


class AcceptBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organization_id: uuid.UUID | None = None


class DeclineBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[Text, Field(min_length=3, max_length=3000)]


class MergeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    into: uuid.UUID


def view(
    r: DatasetRequest,
    principal: Principal | None,
    *,
    voted: bool | None = None,
    comments: list[RequestComment] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(r.id),
        "title": r.title,
        "description": r.description,
        "why": r.why,
        "suggested_organization_id": str(r.suggested_organization_id)
        if r.suggested_organization_id
        else None,
        "organization_id": str(r.organization_id) if r.organization_id else None,
        "requester_name": r.requester_name,
        "status": r.status,
        "decline_reason": r.decline_reason,
        "merged_into": str(r.merged_into) if r.merged_into else None,
        "register_entry_id": str(r.register_entry_id) if r.register_entry_id else None,
        "dataset_id": str(r.dataset_id) if r.dataset_id else None,
        "dataset_name": r.dataset_name,
        "votes": r.votes,
        "created_at": iso(r.created_at),
        "updated_at": iso(r.updated_at),
        "accepted_at": iso(r.accepted_at),
        "fulfilled_at": iso(r.fulfilled_at),
        "revision": r.revision,
    }
    if voted is not None:
        out["voted"] = voted
    if principal is not None and (principal.is_moderator or principal.sub == str(r.requester_id)):
        out["requester_email"] = r.requester_email
    if comments is not None:
        out["comments"] = [
            {
                "id": str(c.id),
                "author_name": c.author_name,
                "body": c.body,
                "created_at": iso(c.created_at),
            }
            for c in comments
        ]
    return out


async def load(
    session: AsyncSession, request_id: uuid.UUID, *, lock: bool = False
) -> DatasetRequest:
    stmt = sa.select(DatasetRequest).where(DatasetRequest.id == request_id)  # type: ignore[arg-type]
    if lock:
        stmt = stmt.with_for_update()
    r = (await session.exec(stmt)).scalars().first()  # type: ignore[call-overload]
    if r is None:
        raise NotFound("No such request")
    return r


async def detail(
    session: AsyncSession, r: DatasetRequest, principal: Principal | None, status_code: int = 200
) -> JSONResponse:
    voted = None
    if principal is not None:
        voted = await session.get(RequestVote, (r.id, principal.user_id)) is not None
    comments = list(
        (
            await session.exec(
                sa.select(RequestComment)
                .where(  # type: ignore[call-overload]
                    RequestComment.request_id == r.id
                )
                .order_by(RequestComment.created_at)
            )
        )
        .scalars()
        .all()
    )  # type: ignore[arg-type]
    return with_etag(view(r, principal, voted=voted, comments=comments), r.revision, status_code)


def bump(r: DatasetRequest, t: datetime | None = None) -> None:
    r.revision += 1
    r.updated_at = t or utc_now()


async def recount(session: AsyncSession, r: DatasetRequest) -> None:
    r.votes = int(
        (
            await session.exec(
                sa.select(sa.func.count())
                .select_from(RequestVote)
                .where(  # type: ignore[call-overload]
                    RequestVote.request_id == r.id
                )
            )
        ).scalar_one()
    )  # type: ignore[arg-type]


@router.post("", status_code=201, summary="Ask for a dataset (signed in)")
async def create_request(
    body: RequestCreate, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> JSONResponse:
    await throttle(request, principal, "request")
    if (
        body.suggested_organization_id is not None
        and await session.get(Organization, body.suggested_organization_id) is None
    ):
        raise Unprocessable(
            "Unknown organization",
            errors=[field_error(["body", "suggested_organization_id"], "no such organization")],
        )
    t = now(request)
    r = DatasetRequest(
        title=body.title,
        description=body.description,
        why=body.why,
        suggested_organization_id=body.suggested_organization_id,
        requester_id=principal.user_id,
        requester_name=principal.name,
        requester_email=principal.email,
        created_at=t,
        updated_at=t,
    )
    session.add(r)
    await session.flush()
    return await detail(session, r, principal, 201)


@router.get("", summary="Requests, most voted first (or newest: sort=new)")
async def list_requests(
    session: SessionDep,
    principal: OptionalPrincipal,
    status: RequestStatus | None = None,
    sort: Literal["votes", "new"] = "votes",
    limit: Limit = 20,
    offset: Offset = 0,
) -> dict[str, Any]:
    where = sa.true() if status is None else DatasetRequest.status == status
    order = (
        (DatasetRequest.votes.desc(), DatasetRequest.created_at.desc())  # type: ignore[attr-defined]
        if sort == "votes"
        else (DatasetRequest.created_at.desc(),)
    )  # type: ignore[attr-defined]
    rows, total = await fetch_page(
        session, DatasetRequest, where, (*order, DatasetRequest.id), limit, offset
    )
    return page([view(r, principal) for r in rows], total, limit, offset)


@router.get("/{request_id}", summary="One request with its comments")
async def get_request(
    request_id: uuid.UUID, session: SessionDep, principal: OptionalPrincipal
) -> JSONResponse:
    return await detail(session, await load(session, request_id), principal)


@router.put(
    "/{request_id}/vote", summary="Vote for a request (once per user; repeating is a no-op)"
)
async def vote(
    request_id: uuid.UUID, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> JSONResponse:
    r = await load(session, request_id, lock=True)
    if r.status not in ("open", "accepted"):
        raise Conflict(f"A {r.status} request takes no votes")
    res = await session.exec(
        insert(RequestVote)
        .values(  # type: ignore[call-overload]
            request_id=r.id,
            user_id=principal.user_id,
            email=principal.email,
            created_at=now(request),
        )
        .on_conflict_do_nothing()
        .returning(RequestVote.user_id)
    )
    if res.first() is not None:
        await recount(session, r)
        bump(r)
    return await detail(session, r, principal)


@router.delete("/{request_id}/vote", summary="Take your vote back")
async def unvote(
    request_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> JSONResponse:
    r = await load(session, request_id, lock=True)
    res = await session.exec(
        sa.delete(RequestVote).where(  # type: ignore[call-overload]
            RequestVote.request_id == r.id, RequestVote.user_id == principal.user_id
        )
    )  # type: ignore[arg-type]
    if res.rowcount:
        await recount(session, r)
        bump(r)
    return await detail(session, r, principal)


@router.post("/{request_id}/comments", status_code=201, summary="Comment on a request (signed in)")
async def comment(
    request_id: uuid.UUID,
    body: CommentCreate,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> JSONResponse:
    await throttle(request, principal, "comment")
    r = await load(session, request_id)
    session.add(
        RequestComment(
            request_id=r.id,
            author_id=principal.user_id,
            author_name=principal.name,
            body=body.body,
            created_at=now(request),
        )
    )
    await session.flush()
    return await detail(session, r, principal, 201)


@router.post(
    "/{request_id}/accept",
    summary="Accept (moderators; If-Match): the catalog adds a planned register entry",
)
async def accept(
    request_id: uuid.UUID,
    body: AcceptBody,
    request: Request,
    session: SessionDep,
    principal: Moderator,
) -> JSONResponse:
    r = await load(session, request_id, lock=True)
    check_if_match(request, r.revision)
    if r.status != "open":
        raise Conflict(f"Only open requests are accepted; this one is {r.status}")
    org_id = body.organization_id or r.suggested_organization_id
    if org_id is not None and await session.get(Organization, org_id) is None:
        raise Unprocessable(
            "Unknown organization",
            errors=[field_error(["body", "organization_id"], "no such organization")],
        )
    t = now(request)
    r.status, r.organization_id, r.accepted_at = "accepted", org_id, t
    bump(r, t)
    await record(
        session,
        source=SOURCE,
        type="feedback.request.accepted",
        subject=str(r.id),
        data=RequestAccepted(
            request_id=r.id,
            title=r.title,
            description=r.description,
            organization_id=org_id,
            accepted_by=principal.sub,
            accepted_at=t,
        ),
    )
    wake_relay(request)
    return await detail(session, r, principal)


@router.post("/{request_id}/decline", summary="Decline with a reason (moderators; If-Match)")
async def decline(
    request_id: uuid.UUID,
    body: DeclineBody,
    request: Request,
    session: SessionDep,
    principal: Moderator,
) -> JSONResponse:
    r = await load(session, request_id, lock=True)
    check_if_match(request, r.revision)
    if r.status != "open":
        raise Conflict(f"Only open requests are declined; this one is {r.status}")
    r.status, r.decline_reason = "declined", body.reason
    bump(r, now(request))
    return await detail(session, r, principal)


@router.post(
    "/{request_id}/merge",
    summary="Merge a duplicate into another request "
    "(moderators; If-Match of the duplicate); votes move over",
)
async def merge(
    request_id: uuid.UUID,
    body: MergeBody,
    request: Request,
    session: SessionDep,
    principal: Moderator,
) -> JSONResponse:
    if body.into == request_id:
        raise Unprocessable(
            "Cannot merge into itself",
            errors=[field_error(["body", "into"], "must be another request")],
        )
    r = await load(session, request_id, lock=True)
    check_if_match(request, r.revision)
    if r.status != "open":
        raise Conflict(f"Only open requests are merged; this one is {r.status}")
    try:
        target = await load(session, body.into, lock=True)
    except NotFound:
        raise Unprocessable(
            "Unknown target", errors=[field_error(["body", "into"], "no such request")]
        ) from None
    if target.status in ("declined", "merged"):
        raise Conflict(f"Cannot merge into a {target.status} request")
    voters = (
        await session.exec(
            sa.select(RequestVote.user_id, RequestVote.email).where(  # type: ignore[call-overload]
                RequestVote.request_id == r.id
            )
        )
    ).all()  # type: ignore[arg-type]
    rows = [{"request_id": target.id, "user_id": v.user_id, "email": v.email} for v in voters]
    rows.append({"request_id": target.id, "user_id": r.requester_id, "email": r.requester_email})
    await session.exec(insert(RequestVote).values(rows).on_conflict_do_nothing())  # type: ignore[call-overload]
    t = now(request)
    r.status, r.merged_into = "merged", target.id
    bump(r, t)
    await recount(session, target)
    bump(target, t)
    return await detail(session, r, principal)


# ---------------------------------------------------------------- fulfilment (from catalog events)
async def fulfil(
    session: AsyncSession,
    settings: Settings,
    request_id: uuid.UUID,
    dataset_id: uuid.UUID,
    dataset_name: str | None,
    register_entry_id: uuid.UUID | None,
) -> bool:
    r = (
        (
            await session.exec(
                sa.select(DatasetRequest)
                .where(  # type: ignore[call-overload]
                    DatasetRequest.id == request_id
                )
                .with_for_update()
            )
        )
        .scalars()
        .first()
    )  # type: ignore[arg-type]
    if r is None:
        return False
    if r.status == "fulfilled":
        # the register entry may have told us first; the dataset event brings the name
        if r.dataset_id == dataset_id and r.dataset_name is None and dataset_name:
            r.dataset_name = dataset_name
            bump(r)
        return False
    t = utc_now()
    r.status, r.dataset_id, r.dataset_name, r.fulfilled_at = (
        "fulfilled",
        dataset_id,
        dataset_name,
        t,
    )
    r.register_entry_id = register_entry_id or r.register_entry_id
    bump(r, t)
    await record(
        session,
        source=SOURCE,
        type="feedback.request.fulfilled",
        subject=str(r.id),
        data=RequestFulfilled(
            request_id=r.id,
            dataset_id=dataset_id,
            dataset_name=dataset_name,
            register_entry_id=r.register_entry_id,
            fulfilled_at=t,
        ),
    )
    voters = (
        await session.exec(
            sa.select(RequestVote.email, RequestVote.user_id).where(  # type: ignore[call-overload]
                RequestVote.request_id == r.id
            )
        )
    ).all()  # type: ignore[arg-type]
    notifications.enqueue(
        session,
        kind="request.fulfilled",
        emails=[(r.requester_email, r.requester_id), *[(v.email, v.user_id) for v in voters]],
        subject=f"Набір даних «{r.title}» опубліковано",
        body=f"Запит «{r.title}», який ви підтримали, виконано: набір даних опубліковано.",
        link=notifications.link(settings, f"/api/v1/datasets/{dataset_name or dataset_id}"),
    )
    return True
