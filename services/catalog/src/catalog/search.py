"""GET /api/v1/datasets: full-text search (own lexemes + tsvector + pg_trgm), facets, filters."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query
from portal_kit.auth import OptionalPrincipal
from portal_kit.contracts.catalog import DatasetDocument
from portal_kit.db import SessionDep

from catalog import text
from catalog.datasets import api_view, resource_document
from catalog.models import Dataset, Organization, Resource

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])

MAX_OFFSET = 10_000
FACET_LIMIT = 20
StatusFilter = Literal["published", "draft", "submitted", "rejected", "archived", "all"]
Sort = Literal["relevance", "newest", "modified", "title"]


def _list(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out[:20]


@router.get("", summary="Search and list datasets, with facets")
async def search_datasets(
    session: SessionDep,
    principal: OptionalPrincipal,
    q: Annotated[str | None, Query(max_length=300)] = None,
    organization: Annotated[list[str] | None, Query(description="organization id or slug")] = None,
    theme: Annotated[list[str] | None, Query()] = None,
    format: Annotated[list[str] | None, Query()] = None,
    license: Annotated[list[str] | None, Query(alias="license")] = None,
    keyword: Annotated[list[str] | None, Query()] = None,
    update_frequency: Annotated[list[str] | None, Query()] = None,
    list_code: Annotated[str | None, Query(max_length=20)] = None,
    status: StatusFilter = "published",
    sort: Sort | None = None,
    facets: bool = True,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    d = Dataset.__table__  # type: ignore[attr-defined]
    cond: list[Any] = []
    # visibility
    if status == "published":
        cond.append(d.c.status == "published")
    else:
        if principal is None:
            cond.append(sa.false())
        elif not principal.is_moderator:
            cond.append(d.c.organization_id.in_(principal.organization_ids() or [uuid.uuid4()]))
        if status == "all":
            cond.append(d.c.status != "deleted")
        else:
            cond.append(d.c.status == status)
    orgs = _list(organization)
    if orgs:
        ids, slugs = [], []
        for o in orgs:
            try:
                ids.append(uuid.UUID(o))
            except ValueError:
                slugs.append(o)
        if slugs:
            res = await session.exec(sa.select(Organization.id).where(Organization.name.in_(slugs)))  # type: ignore[call-overload,attr-defined]
            ids.extend(res.scalars().all())
        cond.append(d.c.organization_id.in_(ids or [uuid.uuid4()]))
    if theme := _list(theme):
        cond.append(d.c.themes.overlap(sa.cast(theme, d.c.themes.type)))
    if fmts := _list(format):
        cond.append(d.c.formats.overlap(sa.cast([f.upper() for f in fmts], d.c.formats.type)))
    if lic := _list(license):
        cond.append(d.c.license_id.in_(lic))
    if kws := _list(keyword):
        cond.append(d.c.keywords.overlap(sa.cast(kws, d.c.keywords.type)))
    if freqs := _list(update_frequency):
        cond.append(d.c.update_frequency.in_(freqs))
    if list_code:
        cond.append(d.c.list_code == list_code)

    rank: Any = None
    tsq = text.tsquery(q) if q else None
    if q and tsq is None:
        cond.append(sa.false())  # only punctuation: nothing matches
    if tsq:
        query = sa.cast(sa.literal(tsq), sa.dialects.postgresql.TSQUERY)
        qnorm = text.normalize(q)
        fts = d.c.search_vector.op("@@")(query)
        # `<%` (word similarity above pg_trgm.word_similarity_threshold, 0.6) can use the trigram index
        trgm = sa.literal(qnorm).op("<%")(d.c.search_title)
        cond.append(sa.or_(fts, trgm))
        rank = sa.func.ts_rank_cd(d.c.search_vector, query) + sa.func.word_similarity(
            qnorm, d.c.search_title
        )

    where = sa.and_(sa.true(), *cond)
    sort = sort or ("relevance" if rank is not None else "modified")
    if sort == "relevance" and rank is not None:
        order = [rank.desc(), d.c.modified_at.desc()]
    elif sort == "newest":
        order = [sa.func.coalesce(d.c.first_published_at, d.c.created_at).desc(), d.c.id]
    elif sort == "title":
        order = [d.c.search_title.asc(), d.c.id]
    else:
        order = [d.c.modified_at.desc(), d.c.id]

    total = (
        await session.exec(sa.select(sa.func.count()).select_from(d).where(where))
    ).scalar_one()  # type: ignore[call-overload]
    rows = (
        (
            await session.exec(
                sa.select(Dataset).where(where).order_by(*order).limit(limit).offset(offset)
            )  # type: ignore[call-overload]
        )
        .scalars()
        .all()
    )

    # documents for the page, in two queries
    org_ids = {r.organization_id for r in rows}
    org_map = {}
    if org_ids:
        org_map = {
            o.id: o
            for o in (
                await session.exec(sa.select(Organization).where(Organization.id.in_(org_ids)))
            )
            .scalars()
            .all()  # type: ignore[call-overload,attr-defined]
        }
    res_map: dict[uuid.UUID, list[Resource]] = {}
    if rows:
        rres = await session.exec(  # type: ignore[call-overload]
            sa.select(Resource)
            .where(Resource.dataset_id.in_([r.id for r in rows]), Resource.deleted.is_(False))  # type: ignore[attr-defined]
            .order_by(Resource.position, Resource.created_at)
        )
        for r in rres.scalars().all():
            res_map.setdefault(r.dataset_id, []).append(r)
    items = []
    for ds in rows:
        org = org_map.get(ds.organization_id)
        data = ds.model_dump(exclude={"search_vector", "search_title", "formats"})
        data["organization_name"] = org.name if org else None
        data["organization_title"] = org.title if org else None
        data["resources"] = [resource_document(r) for r in res_map.get(ds.id, [])]
        items.append(api_view(DatasetDocument.model_validate(data), ds, principal))

    out: dict[str, Any] = {
        "items": items,
        "total": total,
        "limit": limit,
        "offset": offset,
        "sort": sort,
    }
    if facets:
        out["facets"] = await _facets(session, where, org_map)
    return out


async def _facets(session, where, org_map) -> dict[str, list[dict[str, Any]]]:
    d = Dataset.__table__  # type: ignore[attr-defined]
    f = (
        sa.select(
            d.c.organization_id,
            d.c.themes,
            d.c.formats,
            d.c.license_id,
            d.c.keywords,
            d.c.update_frequency,
        )
        .where(where)
        .cte("f")
    )

    def scalar(col: Any, name: str) -> Any:
        return (
            sa.select(
                sa.literal(name).label("facet"),
                sa.cast(col, sa.Text).label("value"),
                sa.func.count().label("n"),
            )
            .select_from(f)
            .where(col.is_not(None))
            .group_by(col)
        )

    def array(col: Any, name: str) -> Any:
        val = sa.func.unnest(col).table_valued("value").render_derived()
        return (
            sa.select(
                sa.literal(name).label("facet"),
                val.c.value.label("value"),
                sa.func.count().label("n"),
            )
            .select_from(f)
            .join(val, sa.true())
            .group_by(val.c.value)
        )

    union = sa.union_all(
        scalar(f.c.organization_id, "organization"),
        array(f.c.themes, "theme"),
        array(f.c.formats, "format"),
        scalar(f.c.license_id, "license"),
        array(f.c.keywords, "keyword"),
        scalar(f.c.update_frequency, "update_frequency"),
    )
    rows = (await session.exec(union)).all()  # type: ignore[call-overload]
    out: dict[str, list[dict[str, Any]]] = {
        k: [] for k in ("organization", "theme", "format", "license", "keyword", "update_frequency")
    }
    for facet, value, n in rows:
        out[facet].append({"value": value, "count": n})
    missing = [
        uuid.UUID(x["value"]) for x in out["organization"] if uuid.UUID(x["value"]) not in org_map
    ]
    if missing:
        for o in (
            (await session.exec(sa.select(Organization).where(Organization.id.in_(missing))))
            .scalars()
            .all()
        ):  # type: ignore[call-overload,attr-defined]
            org_map[o.id] = o
    for x in out["organization"]:
        o = org_map.get(uuid.UUID(x["value"]))
        x["name"] = o.name if o else None
        x["title"] = o.title if o else None
    for k in out:
        out[k].sort(key=lambda x: (-x["count"], str(x["value"])))
        out[k] = out[k][:FACET_LIMIT]
    return out
