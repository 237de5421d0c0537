"""``/dashboard`` (the page and its bundle) and ``/api/v1/stats/overview`` (the aggregate, exports).

The page is static: one HTML file, the esbuild bundle and its CSS, built from
``gateway/dashboard-ui`` into ``static/`` and committed, so the gateway serves it without Node.
"""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from portal_kit.auth import Principal
from portal_kit.errors import Forbidden, NotFound
from portal_kit.exports import is_formula_like, neutralize

from gateway import tokens
from gateway.dashboard import overview
from gateway.proxy import edge_auth
from gateway.runtime import runtime

STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
MEDIA = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".txt": "text/plain",
}

router = APIRouter(tags=["statistics"])


async def audience(request: Request) -> tuple[Principal | None, str | None]:
    """The caller (None = anonymous) and the Authorization to forward; 401 for a bad token."""
    rt = runtime(request)
    forwarded = await edge_auth(rt, request)
    if forwarded is None:
        return None, None
    principal = tokens.verify(
        rt.keys,
        forwarded.partition(" ")[2],
        issuer=rt.settings.jwt_issuer,
        audience=rt.settings.jwt_audience,
    )
    return principal, forwarded


async def load(request: Request, organization_id: uuid.UUID | None) -> tuple[dict[str, Any], bool]:
    principal, forwarded = await audience(request)
    internal = principal is not None and principal.is_moderator
    if organization_id is not None and not internal:
        raise Forbidden("The per-organization drill-down is for moderators and admins")
    org = str(organization_id) if organization_id else None
    rt = runtime(request)
    key = ("moderator" if internal else "public", org)
    return await overview.CACHE.get(key, lambda: overview.compute(rt, forwarded, internal, org))


@router.get(
    "/api/v1/stats/overview",
    summary="Every dashboard figure at once, from the owning services (cached briefly; "
    "moderators also get the internal figures and may drill down by organization_id)",
)
async def stats_overview(
    request: Request, organization_id: uuid.UUID | None = None
) -> JSONResponse:
    doc, cached = await load(request, organization_id)
    private = doc["audience"] == "moderator"
    return JSONResponse(
        doc,
        headers={
            "Cache-Control": ("private" if private else "public")
            + f", max-age={int(overview.CACHE_SECONDS)}",
            "Vary": "Authorization",
            "X-Cache": "hit" if cached else "miss",
        },
    )


def safe_text(value: Any) -> Any:
    """Formula injection: a text cell starting with = + - @ tab or CR gets a leading apostrophe."""
    return neutralize(value)


def table_cells(table: dict[str, Any], lang: str) -> tuple[list[str], list[list[Any]]]:
    header = [c["en" if lang == "en" else "uk"] for c in table["columns"]]
    rows = []
    for r in table["rows"]:
        row = []
        for c in table["columns"]:
            v = r.get(c["key"])
            if lang == "en" and f"{c['key']}_en" in r:
                v = r[f"{c['key']}_en"]
            row.append(v)
        rows.append(row)
    return header, rows


def to_csv(table: dict[str, Any], lang: str) -> bytes:
    header, rows = table_cells(table, lang)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([safe_text(h) for h in header])
    for r in rows:
        w.writerow(["" if v is None else safe_text(v) for v in r])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(table: dict[str, Any], lang: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    header, rows = table_cells(table, lang)
    wb = Workbook()
    ws = wb.active
    ws.title = table["id"][:31]
    ws.append([str(h) for h in header])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r in rows:
        ws.append([None if v is None else (v if isinstance(v, int | float) else str(v)) for v in r])
    for row in ws.iter_rows(min_row=1):
        for cell in row:
            if isinstance(cell.value, str):
                # always a text cell: never evaluated, even when it starts with "="
                cell.data_type = "s"
                if is_formula_like(cell.value):
                    cell.quotePrefix = True
    for i, _ in enumerate(header, 1):
        width = max((len(str(c.value or "")) for c in next(ws.iter_cols(i, i))), default=8)
        ws.column_dimensions[ws.cell(1, i).column_letter].width = min(60, max(8, width + 2))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


@router.get(
    "/api/v1/stats/overview/tables/{table_id}",
    summary="One dashboard table as CSV (UTF-8 with BOM) or XLSX, formula injection neutralised",
)
async def export_table(
    request: Request,
    table_id: Annotated[str, PathParam(max_length=64, pattern=r"^[a-z_]+$")],
    format: Literal["csv", "xlsx", "json"] = "csv",
    lang: Literal["uk", "en"] = "uk",
    organization_id: uuid.UUID | None = None,
) -> Response:
    doc, _ = await load(request, organization_id)
    table = next((t for t in doc["tables"] if t["id"] == table_id), None)
    if table is None:
        raise NotFound(f"No table {table_id!r} (its source may be unavailable)")
    name = table_id + (f"-{organization_id}" if organization_id else "")
    private = {"Cache-Control": "private, no-store", "Vary": "Authorization"}
    if format == "json":
        return JSONResponse(table, headers=private)
    if format == "csv":
        return Response(
            to_csv(table, lang),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"', **private},
        )
    return Response(
        to_xlsx(table, lang),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"', **private},
    )


def _page_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-cache",
    }


@router.get("/dashboard", include_in_schema=False)
async def dashboard_page() -> Response:
    return FileResponse(
        STATIC / "index.html", media_type="text/html; charset=utf-8", headers=_page_headers()
    )


@router.get("/dashboard/", include_in_schema=False)
async def dashboard_slash() -> Response:
    return RedirectResponse("/dashboard", status_code=308)


@router.get("/dashboard/static/{name}", include_in_schema=False)
async def dashboard_static(
    name: Annotated[str, PathParam(max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")],
    v: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    path = STATIC / name
    if name.startswith(".") or not path.is_file() or path.suffix not in MEDIA:
        raise NotFound("No such file")
    headers = _page_headers()
    headers["Cache-Control"] = "public, max-age=31536000, immutable" if v else "no-cache"
    return FileResponse(path, media_type=MEDIA[path.suffix], headers=headers)
