"""DCAT-AP endpoints (ckanext-dcat compatible paths), schema.org JSON-LD and the sitemap."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape

import sqlalchemy as sa
from fastapi import APIRouter, Request
from portal_kit.db import SessionDep
from starlette.responses import Response

from harvest_export import ckan, dcat, search
from harvest_export.ckan_routes import find_dataset, settings_of
from harvest_export.models import HxDataset, HxOrganization
from harvest_export.pulls import record_pull

router = APIRouter(tags=["dcat"])

PER_PAGE = 100
# OpenAPI: the RDF serialisations these routes answer (by the path's .{fmt})
_BINARY: dict[str, Any] = {"schema": {}}  # any body: RDF is not validated here
RDF_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "DCAT-AP in the serialisation the extension names",
        "content": {media: _BINARY for _, media in dcat.FORMATS.values()},
    }
}
JSONLD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "schema.org Dataset", "content": {"application/ld+json": _BINARY}}
}
KEEP_PARAMS = ("modified_since", "profiles", "profile", "q", "fq")


def text_error(status: int, message: str) -> Response:
    # hardening: every error of the API is problem+json (was text/plain)
    from portal_kit.errors import problem

    return problem(status, message)


def profile_of(request: Request) -> str | Response:
    raw = request.query_params.get("profiles") or request.query_params.get("profile") or ""
    chosen = "3"
    for name in [p.strip().lower() for p in raw.split(",") if p.strip()]:
        if name in ("euro_dcat_ap_3", "dcat_ap_3", "dcat-ap-3", "3", "3.0.1", "dcat_ap"):
            chosen = "3"
        elif name in ("euro_dcat_ap_2", "dcat_ap_2", "dcat-ap-2", "2", "2.1.1", "euro_dcat_ap"):
            chosen = "2"
        elif name == "schemaorg":
            continue
        else:
            return text_error(409, f"Unknown RDF profile: {name[:50]}")
    return chosen


def rdf_response(request: Request, body: bytes, fmt: str) -> Response:
    _, media = dcat.FORMATS[fmt]
    return Response(
        b"" if request.method == "HEAD" else body,
        media_type=media,
        headers={"Content-Length": str(len(body)), "Vary": "Accept"},
    )


async def _orgs(session: Any, ids: set[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    if not ids:
        return {}
    rows = await session.exec(sa.select(HxOrganization).where(HxOrganization.id.in_(ids)))
    return {o.id: (o.doc or {}) for o in rows.scalars().all()}


@router.api_route(
    "/catalog.{fmt}",
    methods=["GET", "HEAD"],
    summary="DCAT-AP catalog, 100 datasets a page",
    response_class=Response,
    responses=RDF_RESPONSES,
)
async def catalog(fmt: str, request: Request, session: SessionDep) -> Response:
    if fmt not in dcat.FORMATS:
        return text_error(404, "Unknown format")
    s = settings_of(request)
    profile = profile_of(request)
    if isinstance(profile, Response):
        return profile
    raw_page = request.query_params.get("page", "1")
    try:
        page = int(raw_page)
        if page < 1:
            raise ValueError
    except ValueError:
        return text_error(409, "Page param must be a positive integer starting in 1")
    filters = [HxDataset.first_served_at.is_not(None)]
    since_raw = request.query_params.get("modified_since")
    if since_raw:
        try:
            since = ckan.naive(datetime.fromisoformat(since_raw.strip().replace("Z", "+00:00")))
        except ValueError:
            return text_error(409, "Wrong modified date format. Use ISO-8601 format")
        filters.append(HxDataset.metadata_modified >= since)
    try:
        for key in ("q", "fq"):
            if request.query_params.get(key):
                filters.append(search.parse(request.query_params[key]))
    except (search.SearchQueryError, search.SearchError) as exc:
        return text_error(409, str(exc))
    where = sa.and_(*filters)
    # Stable pages: positions are over every dataset ever served, ordered by when it was first
    # served (new ones append at the end), so a dataset leaving mid-walk shifts nothing
    positions = (
        await session.exec(sa.select(sa.func.count()).select_from(HxDataset).where(where))
    ).scalar_one()  # type: ignore[call-overload]
    total = (
        await session.exec(
            sa.select(sa.func.count())
            .select_from(HxDataset)
            .where(where, HxDataset.served.is_(True))
        )
    ).scalar_one()  # type: ignore[call-overload]
    rows = (
        (
            await session.exec(  # type: ignore[call-overload]
                sa.select(HxDataset)
                .where(where)
                .order_by(HxDataset.first_served_at, HxDataset.id)
                .offset((page - 1) * PER_PAGE)
                .limit(PER_PAGE)
            )
        )
        .scalars()
        .all()
    )
    rows = [r for r in rows if r.served and r.package]
    orgs = await _orgs(session, {r.organization_id for r in rows})
    g = dcat.new_graph()
    ds_nodes = [
        dcat.add_dataset(
            g, r.package, r.doc, orgs.get(r.organization_id, {}), base=s.site_url, profile=profile
        )
        for r in rows
    ]
    newest = (
        await session.exec(
            sa.select(sa.func.max(HxDataset.metadata_modified)).where(HxDataset.served.is_(True))
        )
    ).scalar_one()  # type: ignore[call-overload]
    dcat.add_catalog(
        g,
        base=s.site_url,
        title=s.site_title,
        description=s.site_description,
        publisher_name=s.publisher_name,
        modified=newest,
        datasets=ds_nodes,
    )
    last = max(1, math.ceil(positions / PER_PAGE))
    if positions:
        kept = {k: request.query_params[k] for k in KEEP_PARAMS if request.query_params.get(k)}

        def url(n: int) -> str:
            return f"{s.site_url}/catalog.{fmt}?" + urlencode({**kept, "page": n})

        dcat.add_paging(
            g,
            page_url=url(page),
            first=url(1),
            last=url(last),
            next_=url(page + 1) if page < last else None,
            previous=url(page - 1) if 1 < page <= last + 1 else None,
            total=total,
            per_page=PER_PAGE,
        )
    body = dcat.serialize(g, fmt)
    if request.method == "GET":
        await record_pull(
            session,
            request,
            kind="dcat",
            action=f"catalog.{fmt}",
            params={**dict(request.query_params), "page": page},
            count=len(rows),
            ids=[r.id for r in rows],
        )
    return rdf_response(request, body, fmt)


@router.api_route(
    "/dataset/{ref}.{fmt}",
    methods=["GET", "HEAD"],
    summary="One dataset in DCAT-AP",
    response_class=Response,
    responses=RDF_RESPONSES,
)
async def dataset_rdf(ref: str, fmt: str, request: Request, session: SessionDep) -> Response:
    if fmt not in dcat.FORMATS:
        return text_error(404, "Unknown format")
    s = settings_of(request)
    raw_profiles = (request.query_params.get("profiles") or "").lower()
    ds = await find_dataset(session, ref[:200])
    if ds is None or ds.package is None:
        return text_error(404, "Dataset not found")
    if "schemaorg" in raw_profiles and fmt == "jsonld":
        return await _schema_org(request, ds, s.site_url)
    profile = profile_of(request)
    if isinstance(profile, Response):
        return profile
    orgs = await _orgs(session, {ds.organization_id})
    g = dcat.new_graph()
    dcat.add_dataset(
        g, ds.package, ds.doc, orgs.get(ds.organization_id, {}), base=s.site_url, profile=profile
    )
    body = dcat.serialize(g, fmt)
    if request.method == "GET":
        await record_pull(
            session,
            request,
            kind="dcat",
            action=f"dataset.{fmt}",
            params={"id": ref},
            count=1,
            ids=[ds.id],
        )
    return rdf_response(request, body, fmt)


async def _schema_org(request: Request, ds: HxDataset, base: str) -> Response:
    body = dcat.dumps_jsonld(dcat.schema_org(ds.package or {}, ds.doc, base=base)).encode()
    return Response(
        b"" if request.method == "HEAD" else body,
        media_type="application/ld+json",
        headers={"Content-Length": str(len(body))},
    )


@router.api_route(
    "/dataset/{ref}/schemaorg.jsonld",
    methods=["GET", "HEAD"],
    summary="schema.org Dataset JSON-LD (Google Dataset Search)",
    response_class=Response,
    responses=JSONLD_RESPONSES,
)
async def dataset_schema_org(ref: str, request: Request, session: SessionDep) -> Response:
    ds = await find_dataset(session, ref[:200])
    if ds is None or ds.package is None:
        return text_error(404, "Dataset not found")
    return await _schema_org(request, ds, settings_of(request).site_url)


@router.api_route(
    "/sitemap.xml",
    methods=["GET", "HEAD"],
    summary="Sitemap of dataset pages",
    response_class=Response,
)
async def sitemap(request: Request, session: SessionDep) -> Response:
    rows = await session.exec(  # type: ignore[call-overload]
        sa.select(HxDataset.package["url"].astext, HxDataset.metadata_modified)
        .where(HxDataset.served.is_(True))
        .order_by(HxDataset.first_served_at, HxDataset.id)
        .limit(50000)
    )
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n',
    ]
    for url, modified in rows.all():
        lastmod = modified.strftime("%Y-%m-%dT%H:%M:%SZ") if modified else ""
        parts.append(f"<url><loc>{escape(url)}</loc><lastmod>{lastmod}</lastmod></url>\n")
    parts.append("</urlset>\n")
    body = "".join(parts).encode()
    return Response(
        b"" if request.method == "HEAD" else body,
        media_type="application/xml",
        headers={"Content-Length": str(len(body))},
    )
