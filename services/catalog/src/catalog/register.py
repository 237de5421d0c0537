"""The dataset register (реєстр наборів даних) and the compliance view with its exports."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request, Response
from portal_kit.app import ServiceContext, wake_relay
from portal_kit.auth import CurrentPrincipal, OptionalPrincipal
from portal_kit.contracts.catalog import RegisterEntryDocument
from portal_kit.db import SessionDep, utc_now
from portal_kit.errors import Forbidden, NotFound
from portal_kit.events.outbox import record
from portal_kit.exports import neutralize
from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from catalog.common import SOURCE, check_if_match, jsonable, unprocessable, with_etag
from catalog.models import Dataset, Organization, RegisterEntry, Resource
from catalog.schemas import RegisterCreate, RegisterUpdate, present
from catalog.vocab import FREQUENCY_BY_UK, FREQUENCY_DAYS

router = APIRouter(prefix="/api/v1/register", tags=["register"])
MANDATORY_CSV = Path(__file__).parent / "data" / "ua-835-local.csv"


def entry_document(e: RegisterEntry) -> RegisterEntryDocument:
    return RegisterEntryDocument.model_validate(e.model_dump())


def entry_view(e: RegisterEntry) -> dict[str, Any]:
    return {**jsonable(entry_document(e)), "mandatory": e.mandatory, "notes": e.notes}


async def emit(session: AsyncSession, e: RegisterEntry, verb: str) -> None:
    await record(
        session,
        source=SOURCE,
        type=f"catalog.register.{verb}",
        data=entry_document(e),
        subject=str(e.id),
    )


def mandatory_rows() -> list[dict[str, Any]]:
    with MANDATORY_CSV.open(encoding="utf-8") as f:
        rows = []
        for row in csv.DictReader(f):
            freq = (row.get("update_frequency") or "").strip().lower()
            rows.append(
                {
                    "list_code": row["code"].strip(),
                    "title": row["title_uk"].strip(),
                    "title_en": (row.get("title_en") or "").strip() or None,
                    "update_frequency": FREQUENCY_BY_UK.get(freq),
                    "notes": (row.get("notes") or "").strip() or None,
                }
            )
        return rows


async def preload(ctx: ServiceContext) -> None:
    """Load the mandatory list once; entries that exist are left alone (idempotent)."""
    if not getattr(ctx.settings, "preload_register", True):
        return
    rows = mandatory_rows()
    async with ctx.sessionmaker() as session, session.begin():
        now = utc_now()
        values = [
            {
                **r,
                "id": uuid.uuid4(),
                "mandatory": True,
                "status": "planned",
                "created_at": now,
                "modified_at": now,
                "revision": 1,
            }
            for r in rows
        ]
        res = await session.exec(  # type: ignore[call-overload]
            insert(RegisterEntry)
            .values(values)
            .on_conflict_do_nothing(index_elements=["list_code"])
            .returning(RegisterEntry.id)
        )
        new_ids = list(res.scalars().all())
        if new_ids:
            entries = (
                (await session.exec(sa.select(RegisterEntry).where(RegisterEntry.id.in_(new_ids))))
                .scalars()
                .all()
            )  # type: ignore[call-overload,attr-defined]
            for e in entries:
                await emit(session, e, "created")
    if ctx.worker is not None:
        ctx.worker.wake_relay()


def _can_write(principal, e_org: uuid.UUID | None) -> bool:
    return principal.is_moderator or (e_org is not None and principal.can_edit(e_org))


@router.get("", summary="The register: every dataset the council holds or must publish")
async def list_register(
    session: SessionDep,
    status: Literal["planned", "in_preparation", "published", "withdrawn"] | None = None,
    organization_id: uuid.UUID | None = None,
    unassigned: bool | None = None,
    mandatory: bool | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict[str, Any]:
    cond: list[Any] = []
    if status:
        cond.append(RegisterEntry.status == status)
    if organization_id:
        cond.append(RegisterEntry.organization_id == organization_id)
    if unassigned is not None:
        cond.append(
            RegisterEntry.organization_id.is_(None)
            if unassigned
            else RegisterEntry.organization_id.is_not(None)
        )  # type: ignore[union-attr]
    if mandatory is not None:
        cond.append(RegisterEntry.mandatory.is_(mandatory))  # type: ignore[attr-defined]
    if q:
        like = f"%{q.lower()}%"
        cond.append(
            sa.or_(
                sa.func.lower(RegisterEntry.title).like(like),
                sa.func.lower(RegisterEntry.list_code).like(like),
            )
        )
    where = sa.and_(sa.true(), *cond)
    total = (
        await session.exec(sa.select(sa.func.count()).select_from(RegisterEntry).where(where))
    ).scalar_one()  # type: ignore[call-overload]
    rows = (
        (
            await session.exec(  # type: ignore[call-overload]
                sa.select(RegisterEntry)
                .where(where)
                .order_by(
                    RegisterEntry.list_code.is_(None),
                    RegisterEntry.list_code,
                    RegisterEntry.created_at,
                )  # type: ignore[union-attr]
                .limit(limit)
                .offset(offset)
            )
        )
        .scalars()
        .all()
    )
    return {
        "items": [entry_view(e) for e in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.post(
    "",
    status_code=201,
    summary="Add a register entry (moderators, or editors for their organization)",
)
async def create_entry(
    body: RegisterCreate, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> Response:
    if body.organization_id is not None:
        org = await session.get(Organization, body.organization_id)
        if org is None or org.deleted:
            raise unprocessable(["body", "organization_id"], "organization not found")
    if not _can_write(principal, body.organization_id):
        raise Forbidden("Only moderators, or editors of the entry's organization, may add entries")
    e = RegisterEntry(**body.model_dump())
    session.add(e)
    await session.flush()
    await emit(session, e, "created")
    wake_relay(request)
    return with_etag(entry_view(e), e.revision, 201)


async def _compliance(session: AsyncSession, organization_id: uuid.UUID | None) -> dict[str, Any]:
    cond: list[Any] = [RegisterEntry.mandatory.is_(True)]  # type: ignore[attr-defined]
    if organization_id:
        cond.append(RegisterEntry.organization_id == organization_id)
    entries = (
        (
            await session.exec(
                sa.select(RegisterEntry).where(*cond).order_by(RegisterEntry.list_code)
            )
        )
        .scalars()
        .all()
    )  # type: ignore[call-overload]
    codes = [e.list_code for e in entries]
    # published datasets per code (linked by list_code or by register entry)
    res_mod = (
        sa.select(
            Resource.dataset_id,
            sa.func.max(Resource.modified_at).label("m"),
            sa.func.count().label("n"),
        )
        .where(Resource.deleted.is_(False))
        .group_by(Resource.dataset_id)
        .subquery()  # type: ignore[attr-defined]
    )
    ids = [e.id for e in entries]
    rows = (
        await session.exec(  # type: ignore[call-overload]
            sa.select(Dataset, res_mod.c.m, res_mod.c.n)
            .outerjoin(res_mod, res_mod.c.dataset_id == Dataset.id)
            .where(
                Dataset.status == "published",
                sa.or_(Dataset.list_code.in_(codes), Dataset.register_entry_id.in_(ids)),
            )  # type: ignore[union-attr]
        )
    ).all()
    by_code: dict[str, list[tuple[Dataset, datetime | None, int | None]]] = {}
    code_of_entry = {e.id: e.list_code for e in entries}
    for ds, m, n in rows:
        code = (
            ds.list_code
            if ds.list_code in code_of_entry.values()
            else code_of_entry.get(ds.register_entry_id)
        )
        if code:
            by_code.setdefault(code, []).append((ds, m, n))
    orgs = {o.id: o for o in (await session.exec(sa.select(Organization))).scalars().all()}  # type: ignore[call-overload]
    now = utc_now()
    items, totals = [], {}
    for e in entries:
        candidates = by_code.get(e.list_code or "", [])
        best = None
        for ds, m, n in candidates:
            last = max(x for x in (ds.modified_at, m) if x is not None)
            if best is None or last > best[1]:
                best = (ds, last, n or 0)
        freq = (best[0].update_frequency if best else None) or e.update_frequency
        published = best is not None and best[2] > 0
        fresh: bool | None
        if not published:
            fresh = False
        elif freq is None or freq == "no_longer_updated":
            fresh = False
        elif FREQUENCY_DAYS.get(freq) is None:
            fresh = True  # "on change": not measurable by date
        else:
            fresh = (now - best[1]).days <= FREQUENCY_DAYS[freq]
        org_id = e.organization_id or (best[0].organization_id if best else None)
        org = orgs.get(org_id) if org_id else None
        item = {
            "list_code": e.list_code,
            "title": e.title,
            "register_entry_id": str(e.id),
            "status": e.status,
            "organization_id": str(org_id) if org_id else None,
            "organization_title": org.title if org else None,
            "dataset_id": str(best[0].id) if best else None,
            "dataset_name": best[0].name if best else None,
            "published": published,
            "update_frequency": freq,
            "last_updated": jsonable(best[1]) if best else None,
            "fresh": fresh,
            "compliant": bool(published and fresh),
        }
        items.append(item)
        key = item["organization_id"] or "unassigned"
        t = totals.setdefault(
            key,
            {
                "organization_id": item["organization_id"],
                "organization_title": item["organization_title"],
                "entries": 0,
                "published": 0,
                "fresh": 0,
            },
        )
        t["entries"] += 1
        t["published"] += int(published)
        t["fresh"] += int(bool(fresh))
    summary = {
        "entries": len(items),
        "published": sum(i["published"] for i in items),
        "fresh": sum(1 for i in items if i["fresh"]),
    }
    return {
        "items": items,
        "totals": list(totals.values()),
        "summary": summary,
        "generated_at": jsonable(now),
    }


EXPORT_COLUMNS = [
    ("list_code", "Код"),
    ("title", "Назва набору даних"),
    ("organization_title", "Розпорядник"),
    ("status", "Статус у реєстрі"),
    ("published", "Оприлюднено"),
    ("update_frequency", "Частота оновлення"),
    ("last_updated", "Останнє оновлення"),
    ("fresh", "Вчасно оновлено"),
    ("dataset_name", "Набір даних"),
]


def safe_cell(value: Any) -> Any:
    """Spreadsheet formula injection: text starting with = + - @ (or tab/CR) is prefixed with '."""
    if isinstance(value, bool):
        return "так" if value else "ні"
    if value is None:
        return ""
    return neutralize(str(value))


@router.get(
    "/compliance",
    summary="Per mandatory entry: published? fresh for its frequency? Totals per organization. "
    "format=csv (UTF-8 with BOM) or xlsx for officials",
)
async def compliance(
    session: SessionDep,
    organization_id: uuid.UUID | None = None,
    format: Literal["json", "csv", "xlsx"] = "json",
) -> Any:
    data = await _compliance(session, organization_id)
    if format == "json":
        return data
    header = [label for _, label in EXPORT_COLUMNS]
    rows = [[safe_cell(i[k]) for k, _ in EXPORT_COLUMNS] for i in data["items"]]
    if format == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(header)
        w.writerows(rows)
        body = "\ufeff" + buf.getvalue()
        return Response(
            body.encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="compliance.csv"'},
        )
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Відповідність"
    ws.append(header)
    for r in rows:
        ws.append(r)
    ws2 = wb.create_sheet("Розпорядники")
    ws2.append(["Розпорядник", "Наборів у переліку", "Оприлюднено", "Вчасно оновлено"])
    for t in data["totals"]:
        ws2.append(
            [
                safe_cell(t["organization_title"] or "не призначено"),
                t["entries"],
                t["published"],
                t["fresh"],
            ]
        )
    out = io.BytesIO()
    wb.save(out)
    return Response(
        out.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": 'attachment; filename="compliance.xlsx"'},
    )


@router.get("/{entry_id}", summary="One register entry")
async def get_entry(
    entry_id: uuid.UUID, session: SessionDep, principal: OptionalPrincipal
) -> Response:
    e = await session.get(RegisterEntry, entry_id)
    if e is None:
        raise NotFound("Register entry not found")
    return with_etag(entry_view(e), e.revision)


@router.patch(
    "/{entry_id}",
    summary="Update an entry (If-Match). Admins and moderators assign the organization; "
    "the organization's editors update status, dates and the responsible person",
)
async def update_entry(
    entry_id: uuid.UUID,
    body: RegisterUpdate,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> Response:
    e = (
        (
            await session.exec(
                sa.select(RegisterEntry).where(RegisterEntry.id == entry_id).with_for_update()
            )
        )
        .scalars()
        .first()
    )  # type: ignore[call-overload]
    if e is None:
        raise NotFound("Register entry not found")
    if not _can_write(principal, e.organization_id):
        raise Forbidden("Only moderators, or editors of the entry's organization, may change it")
    check_if_match(request, e.revision)
    changes = present(body)
    if (
        "organization_id" in changes
        and changes["organization_id"] != e.organization_id
        and not principal.is_moderator
    ):
        raise Forbidden("Only admins and moderators assign an entry to an organization")
    for key in ("title", "status"):
        if key in changes and changes[key] is None:
            raise unprocessable(["body", key], "may not be null")
    if changes.get("organization_id"):
        org = await session.get(Organization, changes["organization_id"])
        if org is None or org.deleted:
            raise unprocessable(["body", "organization_id"], "organization not found")
    if changes.get("dataset_id"):
        if await session.get(Dataset, changes["dataset_id"]) is None:
            raise unprocessable(["body", "dataset_id"], "dataset not found")
    dirty = False
    for key, value in changes.items():
        if getattr(e, key) != value:
            setattr(e, key, value)
            dirty = True
    if dirty:
        e.revision += 1
        e.modified_at = utc_now()
        session.add(e)
        await session.flush()
        await emit(session, e, "updated")
        wake_relay(request)
    return with_etag(entry_view(e), e.revision)
