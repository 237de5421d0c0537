"""CKAN Action API v3, read-only: GET and POST /api/3/action/{action} and /api/action/{action}.

Bodies, status codes and ``__type`` strings follow ckan/views/api.py (CKAN 2.9-2.11). JSON is
ASCII-escaped so that a client guessing the charset cannot garble Cyrillic.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from portal_kit.db import SessionDep
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response

from harvest_export import ckan, search, vocab
from harvest_export.models import HxDataset, HxOrganization
from harvest_export.pulls import record_pull
from harvest_export.settings import Settings

router = APIRouter(tags=["ckan"])

JSON_TYPE = "application/json;charset=utf-8"
ROWS_MAX = 1000
LIST_MAX = 1000
ALL_FIELDS_MAX = 25

WRITE_RE = re.compile(
    r"(_create|_update|_patch|_delete|_purge|_revise|_reorder|_clear|_import|_upsert|_insert|"
    r"_set|_follow|_unfollow|_remove|_add|_change|_move|_invite|_regenerate|_run)$|^(bulk_|"
    r"member_|dashboard_mark|send_email|user_invite|api_token_|job_|config_option_update|"
    r"harvest_|resource_view_|task_status_|term_translation_|datastore_)"
)


class CkanError(Exception):
    def __init__(self, status: int, type_: str, message: str | None = None, **fields: Any) -> None:
        self.status = status
        self.type = type_
        self.message = message
        self.fields = fields


def NotFound(message: str = "Not found") -> CkanError:  # noqa: N802
    return CkanError(404, "Not Found Error", message)


def Validation(**fields: list[str]) -> CkanError:  # noqa: N802
    return CkanError(409, "Validation Error", None, **fields)


def dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=True, separators=(", ", ": ")).encode()


def settings_of(request: Request) -> Settings:
    return request.state.settings  # type: ignore[no-any-return]


def help_url(request: Request, action: str) -> str:
    return f"{settings_of(request).site_url}/api/3/action/help_show?name={action}"


# --- parameter helpers -----------------------------------------------------------------------


def scalar(params: dict[str, Any], key: str, default: Any = None) -> Any:
    v = params.get(key, default)
    if isinstance(v, list):
        return v[0] if v else default
    return v


def as_bool(value: Any, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes", "on", "t", "y")


def natural(params: dict[str, Any], key: str, default: int, maximum: int | None = None) -> int:
    raw = scalar(params, key)
    if raw is None or raw == "":
        value = default
    else:
        try:
            value = int(str(raw).strip()) if not isinstance(raw, bool) else int(raw)
        except (TypeError, ValueError):
            raise Validation(**{key: ["Invalid integer"]}) from None
        if value < 0:
            raise Validation(**{key: ["Must be a natural number"]})
    if maximum is not None:
        value = min(value, maximum)
    return value


def ref_param(params: dict[str, Any], key: str = "id") -> str:
    raw = scalar(params, key)
    if raw is None or str(raw).strip() == "":
        field = "name_or_id" if key == "id" else key
        raise Validation(**{field: ["Missing value"]})
    return str(raw).strip()[:200]


def as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


# --- queries ---------------------------------------------------------------------------------


async def find_dataset(session: AsyncSession, ref: str) -> HxDataset | None:
    rid = as_uuid(ref)
    cond = (
        HxDataset.id == rid
        if rid is not None
        else sa.or_(HxDataset.package["name"].astext == ref, HxDataset.name == ref)
    )
    result = await session.exec(  # type: ignore[call-overload]
        sa.select(HxDataset).where(HxDataset.served.is_(True), cond).limit(1)
    )
    return result.scalars().first()


async def org_counts(session: AsyncSession) -> dict[uuid.UUID, int]:
    rows = await session.exec(  # type: ignore[call-overload]
        sa.select(HxDataset.organization_id, sa.func.count())
        .where(HxDataset.served.is_(True))
        .group_by(HxDataset.organization_id)
    )
    return {r[0]: r[1] for r in rows.all()}


def org_dict(org: HxOrganization) -> dict[str, Any]:
    return {
        "id": str(org.id),
        "name": org.name,
        "title": org.title,
        "description": (org.doc or {}).get("description") or "",
        "created": ckan.ts(org.created),
        "doc": org.doc or {},
    }


async def find_org(session: AsyncSession, ref: str) -> HxOrganization | None:
    rid = as_uuid(ref)
    cond = HxOrganization.id == rid if rid is not None else HxOrganization.name == ref
    result = await session.exec(  # type: ignore[call-overload]
        sa.select(HxOrganization).where(HxOrganization.deleted.is_(False), cond).limit(1)
    )
    return result.scalars().first()


async def run_search(
    session: AsyncSession,
    params: dict[str, Any],
    *,
    default_rows: int = 10,
    default_sort: str | None = None,
) -> dict[str, Any]:
    rows = natural(params, "rows", default_rows, ROWS_MAX)
    start = natural(params, "start", 0)
    q = scalar(params, "q") or ""
    fqs = params.get("fq")
    fq_list = params.get("fq_list") or []
    if isinstance(fq_list, str):
        try:
            fq_list = json.loads(fq_list) if fq_list.startswith("[") else [fq_list]
        except ValueError:
            fq_list = [fq_list]
    fq_all = [f for f in ([fqs] if isinstance(fqs, str) else (fqs or [])) if f] + [
        str(f) for f in fq_list if f
    ]
    sort = scalar(params, "sort") or default_sort
    try:
        where = sa.and_(
            HxDataset.served.is_(True),
            search.parse(str(q)),
            *[search.parse(str(f)) for f in fq_all],
        )
        order = search.order_by(sort)
        facet_fields = search.facet_fields(params.get("facet.field"))
    except search.SearchQueryError as exc:
        raise CkanError(400, "Search Query Error", f"Search Query is invalid: {exc}") from exc
    except search.SearchError as exc:
        raise CkanError(409, "Search Error", str(exc)) from exc
    count = (
        await session.exec(sa.select(sa.func.count()).select_from(HxDataset).where(where))  # type: ignore[call-overload]
    ).scalar_one()
    results: list[dict[str, Any]] = []
    if rows > 0 and start < count:
        got = await session.exec(  # type: ignore[call-overload]
            sa.select(HxDataset.package).where(where).order_by(*order).offset(start).limit(rows)
        )
        results = [r[0] for r in got.all()]
    facets: dict[str, dict[str, int]] = {}
    search_facets: dict[str, Any] = {}
    if as_bool(scalar(params, "facet"), True) and facet_fields:
        limit = natural_signed(params, "facet.limit", 50)
        mincount = natural(params, "facet.mincount", 1)
        titles = await facet_titles(session)
        for field in facet_fields:
            counts = await facet_counts(session, where, field, limit, mincount)
            facets[field] = counts
            items = [
                {"name": k, "display_name": titles.get(field, {}).get(k, k), "count": v}
                for k, v in counts.items()
            ]
            items.sort(key=lambda x: (-x["count"], x["display_name"]))
            search_facets[field] = {"title": field, "items": items}
    return {
        "count": count,
        "facets": facets,
        "results": results,
        "sort": sort or "score desc, metadata_modified desc",
        "search_facets": search_facets,
    }


def natural_signed(params: dict[str, Any], key: str, default: int) -> int:
    raw = scalar(params, key)
    if raw is None or raw == "":
        return default
    try:
        return int(str(raw))
    except ValueError:
        raise Validation(**{key: ["Invalid integer"]}) from None


async def facet_counts(
    session: AsyncSession, where: Any, field: str, limit: int, mincount: int
) -> dict[str, int]:
    spec = search.FACET_COLUMNS.get(field)
    if spec is None:
        return {}
    col, is_array = spec
    value = sa.func.unnest(col).label("v") if is_array else col.label("v")
    inner = sa.select(value).where(where).subquery()
    stmt = (
        sa.select(inner.c.v, sa.func.count().label("n"))
        .group_by(inner.c.v)
        .having(sa.func.count() >= max(mincount, 1))
        .order_by(sa.desc("n"), inner.c.v)
    )
    if limit >= 0:
        stmt = stmt.limit(limit)
    rows = await session.exec(stmt)  # type: ignore[call-overload]
    return {str(r[0]): int(r[1]) for r in rows.all() if r[0] not in (None, "")}


async def facet_titles(session: AsyncSession) -> dict[str, dict[str, str]]:
    orgs = await session.exec(sa.select(HxOrganization.name, HxOrganization.title))  # type: ignore[call-overload]
    return {
        "organization": {r[0]: r[1] for r in orgs.all()},
        "groups": {code.lower(): t[0] for code, t in vocab.THEMES.items()},
        "license_id": {str(lic["id"]): str(lic["title"]) for lic in vocab.license_register()},
    }


# --- actions ---------------------------------------------------------------------------------

Ctx = tuple[Request, AsyncSession, dict[str, Any]]
Action = Callable[[Request, AsyncSession, dict[str, Any]], Awaitable[Any]]
ACTIONS: dict[str, Action] = {}
LOGGED: dict[str, list[uuid.UUID]] = {}


def action(fn: Action) -> Action:
    ACTIONS[fn.__name__] = fn
    return fn


def _pulled(request: Request, count: int, ids: list[Any]) -> None:
    request.state.hx_pull = (count, [uuid.UUID(str(i)) for i in ids])


@action
async def package_search(request: Request, session: AsyncSession, params: dict[str, Any]) -> Any:
    result = await run_search(session, params)
    _pulled(request, len(result["results"]), [p["id"] for p in result["results"]])
    return result


@action
async def package_show(request: Request, session: AsyncSession, params: dict[str, Any]) -> Any:
    ds = await find_dataset(session, ref_param(params))
    if ds is None:
        raise NotFound()
    _pulled(request, 1, [ds.id])
    return ds.package


@action
async def package_list(request: Request, session: AsyncSession, params: dict[str, Any]) -> Any:
    limit = natural(params, "limit", LIST_MAX, LIST_MAX)
    offset = natural(params, "offset", 0)
    name = HxDataset.package["name"].astext
    rows = await session.exec(  # type: ignore[call-overload]
        sa.select(name).where(HxDataset.served.is_(True)).order_by(name).offset(offset).limit(limit)
    )
    names = [r[0] for r in rows.all()]
    _pulled(request, len(names), [])
    return names


@action
async def current_package_list_with_resources(
    request: Request, session: AsyncSession, params: dict[str, Any]
) -> Any:
    limit = natural(params, "limit", 10, ROWS_MAX)
    page = scalar(params, "page")
    offset = natural(params, "offset", 0)
    if page not in (None, ""):
        p = natural(params, "page", 1)
        if p < 1:
            raise Validation(page=["Must be larger than 0"])
        offset = (p - 1) * limit
    result = await run_search(
        session, {"rows": limit, "start": offset}, default_sort="metadata_modified desc"
    )
    _pulled(request, len(result["results"]), [p["id"] for p in result["results"]])
    return result["results"]


async def _group_like_list(
    request: Request, session: AsyncSession, params: dict[str, Any], *, orgs: bool
) -> Any:
    all_fields = as_bool(scalar(params, "all_fields"))
    limit = natural(
        params,
        "limit",
        ALL_FIELDS_MAX if all_fields else LIST_MAX,
        ALL_FIELDS_MAX if all_fields else LIST_MAX,
    )
    offset = natural(params, "offset", 0)
    sort = str(scalar(params, "sort") or "title asc").strip().lower()
    bits = sort.split()
    key = bits[0] if bits else "title"
    reverse = len(bits) > 1 and bits[1] == "desc"
    if key not in ("name", "title", "package_count") or (
        len(bits) > 1 and bits[1] not in ("asc", "desc")
    ):
        raise Validation(sort=["Cannot sort by field `%s`" % (bits[0] if bits else sort)])
    q = str(scalar(params, "q") or "").strip().lower()
    wanted = params.get("organizations" if orgs else "groups")
    if isinstance(wanted, str):
        try:
            wanted = json.loads(wanted) if wanted.startswith("[") else wanted.split(",")
        except ValueError:
            wanted = [wanted]
    if orgs:
        counts = await org_counts(session)
        rows = (
            (await session.exec(sa.select(HxOrganization).where(HxOrganization.deleted.is_(False))))
            .scalars()
            .all()
        )  # type: ignore[call-overload]
        items = [
            (
                o.name,
                o.title,
                counts.get(o.id, 0),
                lambda o=o, n=counts.get(o.id, 0): ckan.org_full(org_dict(o), package_count=n),
            )
            for o in rows
        ]
    else:
        gcounts = await facet_counts(session, HxDataset.served.is_(True), "groups", -1, 1)
        items = [
            (
                code.lower(),
                t[0],
                gcounts.get(code.lower(), 0),
                lambda c=code, n=gcounts.get(code.lower(), 0): ckan.group_dict(
                    c, full=True, package_count=n
                ),
            )
            for code, t in vocab.THEMES.items()
        ]
    if q:
        items = [i for i in items if q in i[0].lower() or q in i[1].lower()]
    if wanted:
        names = {str(w).strip() for w in wanted}
        items = [i for i in items if i[0] in names]
    idx = {"name": 0, "title": 1, "package_count": 2}[key]
    items.sort(key=lambda i: (i[idx] if idx != 1 else i[1].lower(), i[0]), reverse=reverse)
    page = items[offset : offset + limit]
    _pulled(request, len(page), [])
    if all_fields:
        return [i[3]() for i in page]
    return [i[0] for i in page]


@action
async def organization_list(request: Request, session: AsyncSession, params: dict[str, Any]) -> Any:
    return await _group_like_list(request, session, params, orgs=True)


@action
async def group_list(request: Request, session: AsyncSession, params: dict[str, Any]) -> Any:
    return await _group_like_list(request, session, params, orgs=False)


@action
async def organization_show(request: Request, session: AsyncSession, params: dict[str, Any]) -> Any:
    org = await find_org(session, ref_param(params))
    if org is None:
        raise NotFound()
    counts = await org_counts(session)
    body = ckan.org_full(org_dict(org), package_count=counts.get(org.id, 0))
    if as_bool(scalar(params, "include_datasets")):
        rows = await session.exec(  # type: ignore[call-overload]
            sa.select(HxDataset.package)
            .where(HxDataset.served.is_(True), HxDataset.organization_id == org.id)
            .order_by(HxDataset.name)
            .limit(ROWS_MAX)
        )
        body["packages"] = [r[0] for r in rows.all()]
    _pulled(request, 1, [])
    return body


@action
async def group_show(request: Request, session: AsyncSession, params: dict[str, Any]) -> Any:
    ref = ref_param(params)
    code = next(
        (c for c in vocab.THEMES if ref.lower() == c.lower() or ref == ckan.uid5("group", c)), None
    )
    if code is None:
        raise NotFound()
    gcounts = await facet_counts(session, HxDataset.served.is_(True), "groups", -1, 1)
    body = ckan.group_dict(code, full=True, package_count=gcounts.get(code.lower(), 0))
    if as_bool(scalar(params, "include_datasets")):
        rows = await session.exec(  # type: ignore[call-overload]
            sa.select(HxDataset.package)
            .where(
                HxDataset.served.is_(True), sa.literal(code.lower()) == sa.any_(HxDataset.groups)
            )
            .order_by(HxDataset.name)
            .limit(ROWS_MAX)
        )
        body["packages"] = [r[0] for r in rows.all()]
    _pulled(request, 1, [])
    return body


@action
async def tag_list(request: Request, session: AsyncSession, params: dict[str, Any]) -> Any:
    query = str(scalar(params, "query") or scalar(params, "q") or "").strip().lower()
    counts = await facet_counts(session, HxDataset.served.is_(True), "tags", -1, 1)
    names = sorted((t for t in counts if not query or query in t.lower()), key=str.lower)
    _pulled(request, len(names), [])
    if as_bool(scalar(params, "all_fields")):
        return [ckan.tag_dict(t) for t in names]
    return names


@action
async def license_list(request: Request, session: AsyncSession, params: dict[str, Any]) -> Any:
    return vocab.license_register()


@action
async def resource_show(request: Request, session: AsyncSession, params: dict[str, Any]) -> Any:
    rid = as_uuid(ref_param(params))
    if rid is None:
        raise NotFound()
    rows = await session.exec(  # type: ignore[call-overload]
        sa.select(HxDataset.package)
        .where(
            HxDataset.served.is_(True),
            HxDataset.package.contains({"resources": [{"id": str(rid)}]}),
        )
        .limit(1)
    )
    pkg = rows.scalars().first()
    if pkg is None:
        raise NotFound()
    res = next(r for r in pkg["resources"] if r["id"] == str(rid))
    _pulled(request, 1, [uuid.UUID(pkg["id"])])
    return res


@action
async def status_show(request: Request, session: AsyncSession, params: dict[str, Any]) -> Any:
    s = settings_of(request)
    return {
        "site_title": s.site_title,
        "site_description": s.site_description,
        "site_url": s.site_url,
        "error_emails_to": None,
        "locale_default": "uk",
        "extensions": ["dcat", "structured_data", "harvest_export"],
        "ckan_version": s.ckan_version,
    }


HELP = {
    "package_search": "Search datasets (read-only mirror): q, fq, rows (default 10, max 1000), "
    "start, sort, facet.field. Returns count, results (full package dicts), facets, search_facets.",
    "package_show": "Return the metadata of a dataset (id or name).",
    "package_list": "Return the names of the published datasets (limit, offset).",
    "current_package_list_with_resources": "Return published datasets with their resources, "
    "most recently modified first (limit, offset).",
    "organization_list": "Return organization names, or dicts with all_fields=true.",
    "organization_show": "Return an organization (id or name).",
    "group_list": "Return groups (EU data themes).",
    "group_show": "Return a group (id or name).",
    "tag_list": "Return tag names (query).",
    "license_list": "Return the licences in use.",
    "resource_show": "Return a resource (id).",
    "status_show": "Return the site's status and CKAN API version.",
    "help_show": "Return the help string of an action (name).",
}


@action
async def help_show(request: Request, session: AsyncSession, params: dict[str, Any]) -> Any:
    name = ref_param(params, "name")
    if name not in ACTIONS:
        raise NotFound(f"Action function not found: {name}")
    return HELP.get(name, name)


# --- transport -------------------------------------------------------------------------------


async def read_params(request: Request) -> dict[str, Any] | Response:
    params: dict[str, Any] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        params[key] = values if len(values) > 1 else values[0]
    if request.method == "POST":
        raw = await request.body()
        ctype = request.headers.get("content-type", "")
        if raw.strip():
            if "application/x-www-form-urlencoded" in ctype or "multipart/form-data" in ctype:
                form = await request.form()
                for key in form:
                    values = form.getlist(key)
                    params[key] = values if len(values) > 1 else values[0]
            else:
                try:
                    body = json.loads(raw)
                except ValueError as exc:
                    return Response(
                        dumps(
                            f"Bad request - JSON Error: Could not extract request body data: {exc}"
                        ),
                        status_code=400,
                        media_type=JSON_TYPE,
                    )
                if not isinstance(body, dict):
                    return Response(
                        dumps(
                            "Bad request - JSON Error: Request data JSON decoded to "
                            f"{body!r} but it needs to be a dictionary."[:300]
                        ),
                        status_code=400,
                        media_type=JSON_TYPE,
                    )
                params.update(body)
    return params


async def dispatch(action_name: str, request: Request, session: AsyncSession) -> Response:
    fn = ACTIONS.get(action_name)
    if fn is None:
        if WRITE_RE.search(action_name):
            body = {
                "help": help_url(request, action_name),
                "success": False,
                "error": {
                    "__type": "Authorization Error",
                    "message": "Access denied: this is a read-only harvest endpoint; "
                    "edit datasets on the city portal",
                },
            }
            return Response(dumps(body), status_code=403, media_type=JSON_TYPE)
        return Response(
            dumps(f"Bad request: Action name not known: {action_name[:100]}"),
            status_code=400,
            media_type=JSON_TYPE,
        )
    params = await read_params(request)
    if isinstance(params, Response):
        return params
    # hardening: PostgreSQL text cannot hold NUL; a NUL in q/fq gave a 500
    params = {k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in params.items()}
    try:
        result = await fn(request, session, params)
    except CkanError as exc:
        error: dict[str, Any] = {"__type": exc.type}
        if exc.message is not None:
            error["message"] = exc.message
        error.update(exc.fields)
        body = {"help": help_url(request, action_name), "success": False, "error": error}
        return Response(dumps(body), status_code=exc.status, media_type=JSON_TYPE)
    pulled = getattr(request.state, "hx_pull", None)
    if pulled is not None:
        await record_pull(
            session,
            request,
            kind="ckan",
            action=action_name,
            params=params,
            count=pulled[0],
            ids=pulled[1],
        )
    body = {"help": help_url(request, action_name), "success": True, "result": result}
    return Response(dumps(body), media_type=JSON_TYPE)


# OpenAPI: CKAN's own error documents (not problem+json), as CKAN clients expect them
_CKAN_ERROR_BODY = {
    "anyOf": [
        {"type": "string", "description": "Bad request message (unknown action, bad JSON)"},
        {
            "type": "object",
            "required": ["success", "error"],
            "properties": {
                "help": {"type": "string"},
                "success": {"const": False},
                "error": {"type": "object", "properties": {"__type": {"type": "string"}}},
            },
        },
    ]
}
CKAN_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {"application/json": {"schema": _CKAN_ERROR_BODY}},
    }
    for status, description in (
        (400, "Bad request (CKAN error document)"),
        (403, "Authorization Error: write actions are refused (CKAN error document)"),
        (404, "Not Found Error (CKAN error document)"),
        (409, "Validation Error (CKAN error document)"),
    )
}

for _path in ("/api/3/action/{action_name}", "/api/action/{action_name}"):
    for _suffix in ("", "/"):

        async def _endpoint(action_name: str, request: Request, session: SessionDep) -> Response:
            return await dispatch(action_name, request, session)

        router.add_api_route(
            _path + _suffix,
            _endpoint,
            methods=["GET", "POST"],
            include_in_schema=not _suffix,
            summary="CKAN Action API (read-only)",
            responses=CKAN_ERROR_RESPONSES,
            name=f"ckan_action{_path.count('3')}{_suffix}",
        )
