"""Organizations (data stewards): admins write, everyone reads."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request, Response
from portal_kit.app import wake_relay
from portal_kit.auth import Admin
from portal_kit.contracts.catalog import OrganizationDocument
from portal_kit.db import SessionDep, utc_now
from portal_kit.errors import Conflict, NotFound
from portal_kit.events.outbox import record
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from catalog.common import (
    SOURCE,
    check_if_match,
    integrity_to_problem,
    jsonable,
    unprocessable,
    with_etag,
)
from catalog.models import Dataset, Organization
from catalog.schemas import OrganizationCreate, OrganizationUpdate, present

router = APIRouter(prefix="/api/v1/organizations", tags=["organizations"])


def org_document(org: Organization) -> OrganizationDocument:
    return OrganizationDocument.model_validate(org.model_dump())


async def get_org(session: AsyncSession, ref: str) -> Organization:
    """By id or by slug; deleted ones are not found."""
    stmt = sa.select(Organization).where(Organization.deleted.is_(False))  # type: ignore[attr-defined]
    try:
        stmt = stmt.where(Organization.id == uuid.UUID(ref))
    except ValueError:
        stmt = stmt.where(Organization.name == ref)
    org = (await session.exec(stmt)).scalars().first()  # type: ignore[call-overload]
    if org is None:
        raise NotFound("Organization not found")
    return org


async def emit(session: AsyncSession, org: Organization, verb: str) -> None:
    await record(
        session,
        source=SOURCE,
        type=f"catalog.organization.{verb}",
        data=org_document(org),
        subject=str(org.id),
    )


async def _flush(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        raise integrity_to_problem(exc, "An organization") from exc


@router.get("", summary="List organizations")
async def list_organizations(
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict[str, Any]:
    cond = [Organization.deleted.is_(False)]  # type: ignore[attr-defined]
    if q:
        like = f"%{q.lower()}%"
        cond.append(
            sa.or_(sa.func.lower(Organization.title).like(like), Organization.name.like(like))  # type: ignore[attr-defined]
        )
    total = (
        await session.exec(sa.select(sa.func.count()).select_from(Organization).where(*cond))
    ).scalar_one()  # type: ignore[call-overload]
    rows = (
        (
            await session.exec(  # type: ignore[call-overload]
                sa.select(Organization)
                .where(*cond)
                .order_by(Organization.title)
                .limit(limit)
                .offset(offset)
            )
        )
        .scalars()
        .all()
    )
    counts = {}
    if rows:
        res = await session.exec(  # type: ignore[call-overload]
            sa.select(Dataset.organization_id, sa.func.count())
            .where(Dataset.status == "published", Dataset.organization_id.in_([o.id for o in rows]))  # type: ignore[attr-defined]
            .group_by(Dataset.organization_id)
        )
        counts = dict(res.all())
    items = [{**jsonable(org_document(o)), "dataset_count": counts.get(o.id, 0)} for o in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/{ref}", summary="One organization, by id or slug")
async def get_organization(ref: str, session: SessionDep) -> Response:
    org = await get_org(session, ref)
    return with_etag(org_document(org), org.revision)


@router.post("", status_code=201, summary="Create an organization (admins)")
async def create_organization(
    body: OrganizationCreate, request: Request, session: SessionDep, principal: Admin
) -> Response:
    data = body.model_dump(mode="json")
    org = Organization(**data)
    session.add(org)
    await _flush(session)
    await emit(session, org, "created")
    wake_relay(request)
    return with_etag(org_document(org), org.revision, status_code=201)


@router.patch("/{ref}", summary="Update an organization (admins; If-Match)")
async def update_organization(
    ref: str, body: OrganizationUpdate, request: Request, session: SessionDep, principal: Admin
) -> Response:
    org = await get_org(session, ref)
    check_if_match(request, org.revision)
    changes = present(body)
    for field in ("name", "title", "responsible_persons", "requires_update_moderation"):
        if field in changes and changes[field] is None:
            raise unprocessable(["body", field], "may not be null")
    if "responsible_persons" in changes:
        changes["responsible_persons"] = [
            p.model_dump(mode="json") for p in body.responsible_persons or []
        ]
    for key, value in changes.items():
        setattr(org, key, value)
    org.revision += 1
    org.modified_at = utc_now()
    session.add(org)
    await _flush(session)
    await emit(session, org, "updated")
    wake_relay(request)
    return with_etag(org_document(org), org.revision)


@router.delete(
    "/{ref}", status_code=204, summary="Delete an organization without datasets (admins)"
)
async def delete_organization(
    ref: str, request: Request, session: SessionDep, principal: Admin
) -> Response:
    org = await get_org(session, ref)
    check_if_match(request, org.revision)
    n = (
        await session.exec(  # type: ignore[call-overload]
            sa.select(sa.func.count())
            .select_from(Dataset)
            .where(Dataset.organization_id == org.id, Dataset.status != "deleted")
        )
    ).scalar_one()
    if n:
        raise Conflict(f"The organization still has {n} dataset(s); archive or move them first")
    org.deleted = True
    org.revision += 1
    org.modified_at = utc_now()
    org.name = f"{org.name[:60]}-deleted-{uuid.uuid4().hex[:8]}"
    session.add(org)
    await session.flush()
    await emit(session, org, "deleted")
    wake_relay(request)
    return Response(status_code=204)
