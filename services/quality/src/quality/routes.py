"""Thin routes under /api/v1/quality and /api/v1/stats/quality."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from portal_kit.app import wake_relay
from portal_kit.auth import CurrentPrincipal, Moderator, OptionalPrincipal
from portal_kit.contracts.catalog import DatasetDocument
from portal_kit.db import SessionDep, utc_now
from portal_kit.errors import Forbidden, NotFound, Unprocessable, field_error
from pydantic import ValidationError

from quality import monitoring, service
from quality.models import QDataset, QDatasetScore, QFile, QResource

router = APIRouter(prefix="/api/v1/quality", tags=["quality"])
stats = APIRouter(prefix="/api/v1/stats/quality", tags=["quality"])


def _can_see(principal: Any, ds: QDataset | None, org_id: Any) -> bool:
    if ds is not None and ds.status == "published":
        return True
    return principal is not None and (principal.is_moderator or principal.can_edit(org_id))


@router.post(
    "/precheck", summary="Moderation gate: blocking findings and warnings for a dataset document"
)
async def precheck(
    request: Request, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise Unprocessable(
            "Body must be a JSON DatasetDocument", errors=[field_error(["body"], "invalid JSON")]
        ) from exc
    try:
        doc = DatasetDocument.model_validate(body)
    except ValidationError as exc:
        errs = [field_error(["body", *e["loc"]], e["msg"]) for e in exc.errors()[:50]]
        raise Unprocessable("Not a valid DatasetDocument", errors=errs) from exc
    if not (principal.is_moderator or principal.can_edit(doc.organization_id)):
        raise Forbidden("Only moderators and the dataset's organization may pre-check it")
    data = doc.model_dump(mode="json")
    sc = await service.evaluate(
        session, data, utc_now(), stored_dataset=(await session.get(QDataset, doc.id)) is not None
    )
    return service.precheck_result(sc)


@router.get("/datasets/{dataset_id}", summary="Latest quality report of a dataset")
async def dataset_report(
    dataset_id: uuid.UUID, session: SessionDep, principal: OptionalPrincipal
) -> dict[str, Any]:
    row = await session.get(QDatasetScore, dataset_id)
    ds = await session.get(QDataset, dataset_id)
    if row is None or ds is None or not _can_see(principal, ds, row.organization_id):
        raise NotFound("No quality report for this dataset")
    return {
        "dataset_id": str(dataset_id),
        "organization_id": str(row.organization_id),
        "dataset_revision": row.dataset_revision,
        "status": row.status,
        "computed_at": row.computed_at.isoformat().replace("+00:00", "Z"),
        "in_scope": row.in_scope,
        **row.report,
    }


@router.post(
    "/datasets/{dataset_id}/recheck", summary="Recompute a dataset's scores now (moderators)"
)
async def recheck(
    dataset_id: uuid.UUID, request: Request, session: SessionDep, _: Moderator
) -> dict[str, Any]:
    row = await service.recompute_dataset(session, dataset_id)
    if row is None:
        raise NotFound("Unknown dataset")
    wake_relay(request)
    return {"dataset_id": str(dataset_id), "dqi": row.dqi, "compliant": row.compliant}


@router.get("/resources/{resource_id}", summary="Latest validation report of a resource's file")
async def resource_report(
    resource_id: uuid.UUID, session: SessionDep, principal: OptionalPrincipal
) -> dict[str, Any]:
    r = await session.get(QResource, resource_id)
    ds = await session.get(QDataset, r.dataset_id) if r else None
    if r is None or ds is None or not _can_see(principal, ds, ds.organization_id):
        raise NotFound("Unknown resource")
    sc = await session.get(QDatasetScore, r.dataset_id)
    scored = next(
        (
            x
            for x in (sc.report if sc else {}).get("resources", [])
            if x["resource_id"] == str(resource_id)
        ),
        {},
    )
    out: dict[str, Any] = {
        "resource_id": str(resource_id),
        "dataset_id": str(r.dataset_id),
        "file_id": str(r.file_id) if r.file_id else None,
        "url": r.url,
        "stars": scored.get("stars"),
        "stars_reason": scored.get("stars_reason"),
        "d": scored.get("d"),
        "url_status": scored.get("url_status"),
    }
    f = await session.get(QFile, r.file_id) if r.file_id else None
    if f is not None:
        out.update(
            {
                "status": f.status,
                "methodology_version": f.methodology_version,
                "checked_at": f.checked_at.isoformat().replace("+00:00", "Z")
                if f.checked_at
                else None,
                "derived_csv_key": f.derived_key,
                # the derived CSV as a storage file (download through the storage routes)
                "derived_file_id": str(f.derived_file_id) if f.derived_file_id else None,
                "derived_file_url": f"/api/v1/files/{f.derived_file_id}"
                if f.derived_file_id
                else None,
                "validation": f.report,
            }
        )
    return out


@router.get(
    "/kpi", summary="The 85 % KPI: now, weekly history, quarter-end, gap and fix-first list"
)
async def kpi(
    session: SessionDep,
    quarter: Annotated[str | None, Query(pattern=r"^(19|20)\d{2}Q[1-4]$")] = None,
) -> dict[str, Any]:
    return await monitoring.kpi(session, utc_now(), quarter)


@router.post("/snapshots", summary="Take a monitoring snapshot now (moderators)", status_code=201)
async def snapshot(
    request: Request,
    session: SessionDep,
    _: Moderator,
    kind: Annotated[Literal["weekly", "quarter"], Query()] = "weekly",
    period: Annotated[str | None, Query(pattern=r"^(\d{4}Q[1-4]|\d{4}-W\d{2})$")] = None,
) -> dict[str, Any]:
    now = utc_now()
    period = period or (
        monitoring.quarter_of(now) if kind == "quarter" else monitoring.week_of(now)
    )
    if (kind == "quarter") != bool(monitoring.parse_quarter(period)):
        raise Unprocessable(
            "Period does not match kind",
            errors=[
                field_error(["query", "period"], "expected 2026Q4 for quarter, 2026-W48 for weekly")
            ],
        )
    await service.recompute_all(session, now)
    feedback = harvest = None
    if kind == "quarter":
        feedback = await monitoring.fetch_feedback(request.state.ctx)
        harvest = await monitoring.fetch_harvest(request.state.ctx)
    s = await monitoring.take_snapshot(
        session, kind, period, now, replace=True, feedback=feedback, harvest=harvest
    )
    return {
        "kind": s.kind,
        "period": s.period,
        "in_scope": s.in_scope,
        "compliant": s.compliant,
        "kpi": s.kpi,
    }


@router.get("/ratings", summary="Steward ratings for a quarter")
async def ratings(
    request: Request,
    session: SessionDep,
    quarter: Annotated[str, Query(pattern=r"^(19|20)\d{2}Q[1-4]$")],
) -> dict[str, Any]:
    return await monitoring.ratings(
        session, quarter, utc_now(), await monitoring.fetch_feedback(request.state.ctx)
    )


@router.get("/card", summary="Quarterly monitoring card (JSON, CSV with BOM, XLSX)")
async def card(
    request: Request,
    session: SessionDep,
    quarter: Annotated[str, Query(pattern=r"^(19|20)\d{2}Q[1-4]$")],
    organization: uuid.UUID | None = None,
    format: Literal["json", "csv", "xlsx"] = "json",
) -> Response:
    c = await monitoring.card(
        session,
        quarter,
        organization,
        utc_now(),
        await monitoring.fetch_feedback(request.state.ctx),
        await monitoring.fetch_harvest(request.state.ctx),
    )
    slug = (c["organization"] or {}).get("name") or "council"
    if format == "csv":
        return Response(
            monitoring.card_csv(c),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="card-{slug}-{quarter}.csv"'},
        )
    if format == "xlsx":
        return Response(
            monitoring.card_xlsx(c),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="card-{slug}-{quarter}.xlsx"'},
        )
    return JSONResponse(c)


@router.get("/freshness", summary="Datasets overdue or about to become overdue, per organization")
async def freshness(session: SessionDep, organization: uuid.UUID | None = None) -> dict[str, Any]:
    return await service.freshness(session, utc_now(), organization)


@stats.get("/summary", summary="Counts by DQI band, MQA band and compliance")
async def summary(session: SessionDep) -> dict[str, Any]:
    import sqlalchemy as sa

    rows = (await session.exec(sa.select(QDatasetScore))).scalars().all()  # type: ignore[call-overload]
    pub = [r for r in rows if r.status == "published"]
    return {
        "datasets": len(pub),
        "compliant": sum(r.compliant for r in pub),
        "bands": {
            b: sum(1 for r in pub if r.band == b)
            for b in ("excellent", "good", "sufficient", "bad")
        },
        "mqa_bands": {
            b: sum(1 for r in pub if r.mqa_band == b)
            for b in ("excellent", "good", "sufficient", "bad")
        },
        "mean_dqi": round(sum(r.dqi for r in pub) / len(pub), 1) if pub else None,
    }
