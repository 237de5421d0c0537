"""GET /api/v1/datasets: full-text search (own lexemes + tsvector + pg_trgm), facets, filters."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import OrderedDict
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query, Response
from portal_kit.auth import OptionalPrincipal
from portal_kit.contracts.catalog import DatasetDocument
from portal_kit.db import SessionDep
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import defer

from catalog import text
from catalog.common import jsonable, unprocessable
from catalog.datasets import api_view, derived_files, resource_document
from catalog.models import Dataset, Organization, Resource

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])

MAX_OFFSET = 10_000
FACET_LIMIT = 20
StatusFilter = Literal["published", "draft", "submitted", "rejected", "archived", "all"]
Sort = Literal["relevance", "newest", "modified", "title"]


def _list(values: list[str] | None, cap: int = 20) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out[:cap]


def _uuids(values: list[str] | None) -> list[uuid.UUID]:
    """Dataset ids from `id=a,b&id=c` (at most 100); anything that is not a UUID is a 422."""
    raw = _list(values, cap=101)
    if len(raw) > 100:
        raise unprocessable(["query", "id"], "at most 100 dataset ids per request")
    out = []
    for v in raw:
        try:
            out.append(uuid.UUID(v))
        except ValueError:
            raise unprocessable(["query", "id"], f"not a dataset id: {v[:60]!r}") from None
    return out


@router.get("", summary="Search and list datasets, with facets")
async def search_datasets(
    session: SessionDep,
    principal: OptionalPrincipal,
    q: Annotated[str | None, Query(max_length=300)] = None,
    id: Annotated[
        list[str] | None,
        Query(description="only these dataset ids (comma-separated or repeated, at most 100)"),
    ] = None,
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
    needs_review: Annotated[
        bool,
        Query(description="published datasets with file replacements no moderator reviewed yet"),
    ] = False,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
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
    if id:
        ids_filter = _uuids(id)
        cond.append(d.c.id.in_(ids_filter or [uuid.uuid4()]))
    else:
        ids_filter = []
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
    if needs_review:
        cond.append(d.c.moderation.has_key("unreviewed"))
        if principal is None:
            cond.append(sa.false())
        elif not principal.is_moderator:
            cond.append(d.c.organization_id.in_(principal.organization_ids() or [uuid.uuid4()]))

    where_base = sa.and_(sa.true(), *cond)
    tsq = text.tsquery(q) if q else None
    if q and tsq is None:
        where_base = sa.false()  # only punctuation: nothing matches
    sort = sort or ("relevance" if tsq else "modified")

    # the page ids, the total and the facets: cached per search generation (published only:
    # other statuses depend on the caller's organizations)
    key = None
    if status == "published" and not needs_review:
        key = (
            q and text.normalize(q),
            tuple(sorted(map(str, ids_filter))),
            tuple(sorted(orgs)),
            tuple(sorted(theme or [])),
            tuple(sorted(f.upper() for f in fmts or [])),
            tuple(sorted(lic or [])),
            tuple(sorted(kws or [])),
            tuple(sorted(freqs or [])),
            list_code,
            sort,
            facets,
            limit,
            offset,
        )
    gen = (await session.exec(sa.text("SELECT gen FROM search_state WHERE id = 1"))).scalar()  # type: ignore[call-overload]
    # anonymous callers get the same bytes for the same question: the whole answer is cached
    body_key = ("body", key) if key is not None and principal is None else None
    if body_key is not None and (body := CACHE.get(gen, body_key)) is not None:
        return Response(body, media_type="application/json")
    hit = CACHE.get(gen, key) if key is not None else None
    if hit is None and key is not None and (gen, key) in INFLIGHT:
        # the same question is being answered right now: wait for that answer (None when it
        # failed: then ask ourselves)
        hit = await asyncio.shield(INFLIGHT[(gen, key)])
    if hit is None:
        fut: asyncio.Future | None = None
        if key is not None and (gen, key) not in INFLIGHT:
            fut = INFLIGHT[(gen, key)] = asyncio.get_running_loop().create_future()
        try:
            hit = await _search(session, where_base, tsq, q, sort, facets, limit, offset)
            if key is not None:
                CACHE.put(gen, key, hit)
        finally:
            if fut is not None:
                INFLIGHT.pop((gen, key), None)
                fut.set_result(hit)
    page_ids, total, facet_rows = hit

    rows = await _load_page(session, page_ids)
    org_ids = {r.organization_id for r in rows}
    org_ids |= {uuid.UUID(v) for f, v, _ in facet_rows if f == "organization"}
    org_map: dict[uuid.UUID, Organization] = {}
    if org_ids:
        res = await session.exec(sa.select(Organization).where(Organization.id.in_(org_ids)))  # type: ignore[call-overload,attr-defined]
        org_map = {o.id: o for o in res.scalars().all()}
    res_map: dict[uuid.UUID, list[Resource]] = {}
    if rows:
        rres = await session.exec(  # type: ignore[call-overload]
            sa.select(Resource)
            .where(Resource.dataset_id.in_([r.id for r in rows]), Resource.deleted.is_(False))  # type: ignore[attr-defined]
            .order_by(Resource.position, Resource.created_at)
        )
        for r in rres.scalars().all():
            res_map.setdefault(r.dataset_id, []).append(r)
    derived = await derived_files(session, (r.file_id for rs in res_map.values() for r in rs))
    items = []
    for ds in rows:
        org = org_map.get(ds.organization_id)
        data = ds.model_dump(exclude={"search_vector", "search_title", "formats"})
        data["organization_name"] = org.name if org else None
        data["organization_title"] = org.title if org else None
        data["resources"] = [resource_document(r, derived) for r in res_map.get(ds.id, [])]
        items.append(api_view(DatasetDocument.model_validate(data), ds, principal))

    out: dict[str, Any] = {
        "items": items,
        "total": total,
        "limit": limit,
        "offset": offset,
        "sort": sort,
    }
    if facets:
        out["facets"] = _facet_view(facet_rows, org_map)
    body = json.dumps(jsonable(out), ensure_ascii=False, separators=(",", ":")).encode()
    if body_key is not None:
        CACHE.put(gen, body_key, body)
    return Response(body, media_type="application/json")


FACETS = ("organization", "theme", "format", "license", "keyword", "update_frequency")


class _Cache:
    """Search answers (page ids, total, facet counts) per search generation. The generation is
    bumped by a trigger in every transaction that writes a dataset or an organization, so an
    entry is never served after a change it does not reflect; a TTL bounds memory only."""

    def __init__(self, size: int = 512, ttl: float = 300.0) -> None:
        self.size, self.ttl = size, ttl
        self.gen: int | None = None
        self.items: OrderedDict[Any, tuple[float, Any]] = OrderedDict()

    def get(self, gen: int, key: Any) -> Any:
        if gen != self.gen:
            self.gen = gen
            self.items.clear()
            return None
        found = self.items.get(key)
        if found is None or found[0] < time.monotonic():
            return None
        self.items.move_to_end(key)
        return found[1]

    def put(self, gen: int, key: Any, value: Any) -> None:
        if gen != self.gen:
            return
        self.items[key] = (time.monotonic() + self.ttl, value)
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)


CACHE = _Cache()
INFLIGHT: dict[Any, asyncio.Future] = {}
# below this many full-text matches, titles similar to the query (typos) are added
TRIGRAM_BELOW = 20


async def _search(
    session: Any,
    where: Any,
    tsq: str | None,
    q: str | None,
    sort: str,
    facets: bool,
    limit: int,
    offset: int,
) -> tuple[list[uuid.UUID], int, list[tuple[str, str, int]]]:
    d = Dataset.__table__  # type: ignore[attr-defined]
    if not tsq:
        return await _run(session, where, None, sort, facets, limit, offset)
    query = sa.cast(sa.literal(tsq), TSQUERY)
    fts = d.c.search_vector.op("@@")(query)
    # relevance from the title, keyword and organization lexemes (weights A, B; the generated
    # column dataset.rank_vector): a third of the cost of ts_rank_cd over the whole vector;
    # matches only in the description rank 0 and follow, newest modified first
    rank = sa.func.ts_rank(sa.literal_column("dataset.rank_vector"), query)
    found = await _run(session, sa.and_(where, fts), rank, sort, facets, limit, offset)
    if found[1] >= TRIGRAM_BELOW:
        return found
    # few full-text matches: add titles similar to the query (`<%`, word similarity above
    # pg_trgm.word_similarity_threshold 0.6, uses the trigram index); only here is the costly
    # word_similarity computed, over a small candidate set
    qnorm = text.normalize(q)
    trgm = sa.literal(qnorm).op("<%")(d.c.search_title)
    rank = rank + sa.func.word_similarity(qnorm, d.c.search_title)
    return await _run(session, sa.and_(where, sa.or_(fts, trgm)), rank, sort, facets, limit, offset)


async def _run(
    session: Any,
    where: Any,
    rank: Any,
    sort: str,
    facets: bool,
    limit: int,
    offset: int,
) -> tuple[list[uuid.UUID], int, list[tuple[str, str, int]]]:
    """One statement over one scan of the matching rows: the page, the total and the facets."""
    d = Dataset.__table__  # type: ignore[attr-defined]
    cols = [d.c.id]
    if facets:
        cols += [
            d.c.organization_id,
            d.c.themes,
            d.c.formats,
            d.c.license_id,
            d.c.keywords,
            d.c.update_frequency,
        ]
    if sort == "relevance" and rank is not None:
        cols += [rank.label("rank"), d.c.modified_at]
    elif sort == "newest":
        cols.append(sa.func.coalesce(d.c.first_published_at, d.c.created_at).label("newest"))
    elif sort == "title":
        cols.append(d.c.search_title)
    else:
        cols.append(d.c.modified_at)
    m = sa.select(*cols).where(where).cte("m")
    if sort == "relevance" and rank is not None:
        order = [m.c.rank.desc(), m.c.modified_at.desc(), m.c.id]
    elif sort == "newest":
        order = [m.c.newest.desc(), m.c.id]
    elif sort == "title":
        order = [m.c.search_title.asc(), m.c.id]
    else:
        order = [m.c.modified_at.desc(), m.c.id]
    page = (
        sa.select(
            sa.literal("page").label("kind"),
            sa.cast(m.c.id, sa.Text).label("value"),
            sa.func.row_number().over(order_by=order).label("n"),
        )
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    )
    parts: list[Any] = [
        sa.select(page.subquery()),
        sa.select(sa.literal("total"), sa.cast(sa.null(), sa.Text), sa.func.count()).select_from(m),
    ]
    if facets:

        def scalar(col: Any, name: str) -> Any:
            return (
                sa.select(sa.literal(name).label("kind"), sa.cast(col, sa.Text), sa.func.count())
                .where(col.is_not(None))
                .group_by(col)
            )

        def array(col: Any, name: str) -> Any:
            val = sa.func.unnest(col).table_valued("v").render_derived()
            return (
                sa.select(sa.literal(name).label("kind"), val.c.v, sa.func.count())
                .select_from(m)
                .join(val, sa.true())
                .group_by(val.c.v)
            )

        agg = sa.union_all(
            scalar(m.c.organization_id, "organization"),
            array(m.c.themes, "theme"),
            array(m.c.formats, "format"),
            scalar(m.c.license_id, "license"),
            array(m.c.keywords, "keyword"),
            scalar(m.c.update_frequency, "update_frequency"),
        ).subquery("agg")
        cols_agg = list(agg.c)
        ranked = sa.select(
            cols_agg[0].label("kind"),
            cols_agg[1].label("value"),
            cols_agg[2].label("n"),
            sa.func.row_number()
            .over(partition_by=cols_agg[0], order_by=[cols_agg[2].desc(), cols_agg[1]])
            .label("r"),
        ).subquery("ranked")
        parts.append(
            sa.select(ranked.c.kind, ranked.c.value, ranked.c.n).where(ranked.c.r <= FACET_LIMIT)
        )
    rows = (await session.exec(sa.union_all(*parts))).all()  # type: ignore[call-overload]
    page_rows = sorted((int(n), v) for k, v, n in rows if k == "page")
    total = next(int(n) for k, _, n in rows if k == "total")
    facet_rows = [(k, v, int(n)) for k, v, n in rows if k not in ("page", "total")]
    return [uuid.UUID(v) for _, v in page_rows], total, facet_rows


async def _load_page(session: Any, ids: list[uuid.UUID]) -> list[Dataset]:
    if not ids:
        return []
    res = await session.exec(  # type: ignore[call-overload]
        sa.select(Dataset)
        .where(Dataset.id.in_(ids))  # type: ignore[attr-defined]
        .options(defer(Dataset.search_vector))  # type: ignore[arg-type]
    )
    by_id = {ds.id: ds for ds in res.scalars().all()}
    return [by_id[i] for i in ids if i in by_id]


def _facet_view(
    facet_rows: list[tuple[str, str, int]], org_map: dict[uuid.UUID, Organization]
) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in FACETS}
    for facet, value, n in facet_rows:
        item: dict[str, Any] = {"value": value, "count": n}
        if facet == "organization":
            o = org_map.get(uuid.UUID(value))
            item["name"] = o.name if o else None
            item["title"] = o.title if o else None
        out[facet].append(item)
    for k in out:
        out[k].sort(key=lambda x: (-x["count"], str(x["value"])))
    return out
