"""Datasets: documents, visibility, history, events, the search vector, files, quality gate."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

import httpx
import sqlalchemy as sa
from fastapi import Request
from portal_kit.app import ServiceContext
from portal_kit.auth import Principal
from portal_kit.contracts.catalog import (
    DatasetDocument,
    DerivedFile,
    RegisterEntryDocument,
    ResourceDocument,
    ResourceEvent,
)
from portal_kit.db import utc_now
from portal_kit.errors import Forbidden, NotFound, ServiceUnavailable
from portal_kit.events.outbox import record
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from catalog import text
from catalog.common import SOURCE, integrity_to_problem, jsonable, unprocessable
from catalog.models import (
    Dataset,
    DatasetHistory,
    Organization,
    RegisterEntry,
    Resource,
    StoredFile,
)

log = logging.getLogger("catalog.datasets")

# passport fields an editor may change (the organization is fixed)
EDITABLE = (
    "name",
    "title",
    "title_en",
    "description",
    "description_en",
    "maintainer",
    "maintainer_email",
    "maintainer_phone",
    "keywords",
    "themes",
    "license_id",
    "language",
    "legal_basis",
    "purpose",
    "update_frequency",
    "temporal_start",
    "temporal_end",
    "spatial",
    "spatial_uri",
    "data_actuality_date",
    "version",
    "structure_url",
    "list_code",
    "register_entry_id",
    "access_rights",
)
NOT_NULL = {"name", "title", "keywords", "themes", "license_id", "language", "access_rights"}
DATE_FIELDS = {"temporal_start", "temporal_end", "data_actuality_date"}
# what a dataset needs before it can be submitted (the data.gov.ua passport's required fields)
REQUIRED_TO_SUBMIT = (
    "title",
    "description",
    "keywords",
    "update_frequency",
    "purpose",
    "maintainer",
    "maintainer_email",
    "language",
)


# -- documents


def resource_document(
    r: Resource, derived: dict[uuid.UUID, list[DerivedFile]] | None = None
) -> ResourceDocument:
    doc = ResourceDocument.model_validate(r.model_dump())
    if derived and r.file_id is not None:
        doc.derived = derived.get(r.file_id, [])
    return doc


def _derived_format(f: StoredFile) -> str:
    media = f.media_type.split(";", 1)[0].strip().lower()
    if media == "text/csv":
        return "CSV"
    name = f.original_name or ""
    return name.rsplit(".", 1)[1].upper()[:20] if "." in name else media.upper()


async def derived_files(
    session: AsyncSession, file_ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, list[DerivedFile]]:
    """The live copies storage announced for these source files: the newest per format.

    Resolved when a document is built (not copied onto the resource), so a copy announced before
    the catalog knew the source or before a resource pointed at it shows up as soon as one does,
    and a new version of the resource (another file) no longer shows the old copy."""
    ids = {i for i in file_ids if i is not None}
    if not ids:
        return {}
    rows = (
        (
            await session.exec(  # type: ignore[call-overload]
                sa.select(StoredFile)
                .where(
                    StoredFile.derived_from.in_(ids),  # type: ignore[union-attr]
                    StoredFile.deleted.is_(False),  # type: ignore[attr-defined]
                )
                .order_by(StoredFile.created_at.desc(), StoredFile.id)  # type: ignore[attr-defined]
            )
        )
        .scalars()
        .all()
    )
    out: dict[uuid.UUID, list[DerivedFile]] = {}
    for f in rows:
        assert f.derived_from is not None
        fmt = _derived_format(f)
        copies = out.setdefault(f.derived_from, [])
        if f.download_url is None or any(c.format == fmt for c in copies):
            continue  # an older copy of the same format (quality re-converted the source)
        copies.append(
            DerivedFile(
                file_id=f.id,
                format=fmt,
                media_type=f.media_type,
                name=f.original_name or None,
                size=f.size,
                sha256=f.sha256 or None,
                url=f.download_url,
                created_at=f.created_at,
            )
        )
    return out


async def resource_documents(
    session: AsyncSession, resources: list[Resource]
) -> list[ResourceDocument]:
    derived = await derived_files(session, (r.file_id for r in resources))
    return [resource_document(r, derived) for r in resources]


async def load_resources(session: AsyncSession, dataset_id: uuid.UUID) -> list[Resource]:
    res = await session.exec(  # type: ignore[call-overload]
        sa.select(Resource)
        .where(Resource.dataset_id == dataset_id, Resource.deleted.is_(False))  # type: ignore[attr-defined]
        .order_by(Resource.position, Resource.created_at)
    )
    return list(res.scalars().all())


async def dataset_document(
    session: AsyncSession, ds: Dataset, org: Organization | None = None
) -> DatasetDocument:
    if org is None:
        org = await session.get(Organization, ds.organization_id)
    resources = await load_resources(session, ds.id)
    data = ds.model_dump(exclude={"search_vector", "search_title", "formats"})
    data["organization_name"] = org.name if org else None
    data["organization_title"] = org.title if org else None
    data["resources"] = await resource_documents(session, resources)
    return DatasetDocument.model_validate(data)


def can_see(ds: Dataset, principal: Principal | None) -> bool:
    if ds.status == "published":
        return True
    if ds.status == "deleted" or principal is None:
        return False
    return principal.is_moderator or principal.is_member(ds.organization_id)


def api_view(doc: DatasetDocument, ds: Dataset, principal: Principal | None) -> dict[str, Any]:
    body = jsonable(doc)
    body["formats"] = ds.formats
    if principal is not None and (
        principal.is_moderator or principal.is_member(ds.organization_id)
    ):
        body["pending"] = jsonable(ds.pending)
        body["pending_status"] = ds.pending_status
        body["moderation"] = jsonable(ds.moderation)
    return body


async def find_dataset(session: AsyncSession, ref: str, *, lock: bool = False) -> Dataset:
    stmt = sa.select(Dataset).where(Dataset.status != "deleted")
    try:
        stmt = stmt.where(Dataset.id == uuid.UUID(ref))
    except ValueError:
        stmt = stmt.where(Dataset.name == ref)
    if lock:
        stmt = stmt.with_for_update()
    ds = (await session.exec(stmt)).scalars().first()  # type: ignore[call-overload]
    if ds is None:
        raise NotFound("Dataset not found")
    return ds


async def visible_dataset(session: AsyncSession, ref: str, principal: Principal | None) -> Dataset:
    ds = await find_dataset(session, ref)
    if not can_see(ds, principal):
        raise NotFound("Dataset not found")
    return ds


async def editable_dataset(session: AsyncSession, ref: str, principal: Principal) -> Dataset:
    """For writes: 404 when it does not exist, 403 when it is not the caller's organization's."""
    ds = await find_dataset(session, ref, lock=True)
    if not principal.can_edit(ds.organization_id):
        raise Forbidden("Only editors of the dataset's organization may change it")
    return ds


# -- changes, history, events


def to_json_value(value: Any) -> Any:
    return jsonable(value)


def from_json_value(field: str, value: Any) -> Any:
    if field in DATE_FIELDS and isinstance(value, str):
        return date.fromisoformat(value)
    if field == "register_entry_id" and isinstance(value, str):
        return uuid.UUID(value)
    return value


def diff(ds: Dataset, changes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for key, value in changes.items():
        before = getattr(ds, key)
        if before != value:
            out[key] = {"before": to_json_value(before), "after": to_json_value(value)}
    return out


async def add_history(
    session: AsyncSession,
    ds: Dataset,
    principal: Principal | None,
    action: str,
    changes: dict[str, Any] | None = None,
    note: dict[str, Any] | None = None,
) -> None:
    session.add(
        DatasetHistory(
            dataset_id=ds.id,
            actor_id=principal.sub if principal else None,
            actor_email=principal.email if principal else None,
            action=action,
            revision=ds.revision,
            changes=changes or {},
            note=jsonable(note) if note else None,
        )
    )


async def emit(session: AsyncSession, ds: Dataset, verb: str) -> DatasetDocument:
    doc = await dataset_document(session, ds)
    await record(
        session, source=SOURCE, type=f"catalog.dataset.{verb}", data=doc, subject=str(ds.id)
    )
    return doc


async def emit_resource(session: AsyncSession, ds: Dataset, r: Resource, verb: str) -> None:
    doc = await dataset_document(session, ds)
    rdoc = next((x for x in doc.resources if x.id == r.id), None) or resource_document(r)
    await record(
        session,
        source=SOURCE,
        type=f"catalog.resource.{verb}",
        data=ResourceEvent(resource=rdoc, dataset=doc),
        subject=str(r.id),
    )
    await record(
        session, source=SOURCE, type="catalog.dataset.updated", data=doc, subject=str(ds.id)
    )


async def flush(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        raise integrity_to_problem(exc, "A dataset") from exc


async def refresh_search(session: AsyncSession, ds: Dataset) -> None:
    """Rebuild the dataset's lexemes (title A, keywords and organization B, the rest C)."""
    org = await session.get(Organization, ds.organization_id)
    resources = await load_resources(session, ds.id)
    ds.search_title = text.normalize(ds.title)
    ds.formats = sorted({(r.format or "").upper() for r in resources if r.format})
    session.add(ds)
    await flush(session)
    a = text.lexemes(ds.title, ds.title_en, ds.name.replace("-", " "))
    b = text.lexemes(" ".join(ds.keywords or []), org.title if org else None, ds.list_code)
    c = text.lexemes(
        ds.description,
        ds.description_en,
        ds.purpose,
        ds.spatial,
        *[f"{r.name} {r.description or ''}" for r in resources],
    )
    await session.exec(  # type: ignore[call-overload]
        sa.text(
            "UPDATE dataset SET search_vector = "
            "setweight(array_to_tsvector(CAST(:a AS text[])), 'A') || "
            "setweight(array_to_tsvector(CAST(:b AS text[])), 'B') || "
            "setweight(array_to_tsvector(CAST(:c AS text[])), 'C') WHERE id = :id"
        ).bindparams(a=a, b=b, c=c, id=ds.id)
    )


async def validate_links(session: AsyncSession, changes: dict[str, Any]) -> None:
    """list_code must be a register entry's code; register_entry_id must exist."""
    code = changes.get("list_code")
    if code:
        found = (
            await session.exec(sa.select(RegisterEntry.id).where(RegisterEntry.list_code == code))  # type: ignore[call-overload]
        ).first()
        if found is None:
            raise unprocessable(
                ["body", "list_code"], f"unknown list code {code!r}; see /api/v1/register"
            )
    entry_id = changes.get("register_entry_id")
    if entry_id:
        if await session.get(RegisterEntry, entry_id) is None:
            raise unprocessable(["body", "register_entry_id"], "register entry not found")


def check_dates(ds_like: dict[str, Any]) -> None:
    start, end = ds_like.get("temporal_start"), ds_like.get("temporal_end")
    if start and end and end < start:
        raise unprocessable(["body", "temporal_end"], "must not be before temporal_start")


# -- files from storage


async def resolve_file(
    ctx: ServiceContext,
    session: AsyncSession,
    file_id: uuid.UUID,
    organization_id: uuid.UUID,
    request: Request,
    loc: list[str | int],
) -> dict[str, Any]:
    """The stored file's facts, from the storage events or, if they did not arrive yet,
    from the storage API through the gateway."""
    f = await session.get(StoredFile, file_id)
    info: dict[str, Any] | None = None
    if f is not None and not f.deleted:
        info = {
            "organization_id": f.organization_id,
            "size": f.size,
            "sha256": f.sha256,
            "media_type": f.media_type,
            "original_name": f.original_name,
        }
    elif f is None:
        # storage's metadata route (services/storage: GET /api/v1/files/{id}/info, FileInfo:
        # id, organization_id, name, size, sha256, media_type, download_url, ...)
        headers = {}
        if request.headers.get("authorization"):
            headers["Authorization"] = request.headers["authorization"]
        base = (ctx.settings.storage_url or ctx.settings.public_base_url).rstrip("/")
        try:
            resp = await ctx.http.get(
                f"{base}/api/v1/files/{file_id}/info", headers=headers, timeout=5.0
            )
            if resp.status_code == 200:
                j = resp.json()
                info = {
                    "organization_id": uuid.UUID(str(j["organization_id"])),
                    "size": j.get("size"),
                    "sha256": j.get("sha256"),
                    "media_type": j.get("media_type"),
                    "original_name": j.get("name") or str(file_id),
                }
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.info("storage lookup of %s failed: %r", file_id, exc)
    if info is None:
        raise unprocessable(loc, "file not found (upload it to /api/v1/files first)", "not_found")
    if str(info["organization_id"]) != str(organization_id):
        raise unprocessable(loc, "the file belongs to another organization", "forbidden")
    info["download_url"] = file_url(ctx, file_id, info["original_name"])
    return info


def file_url(ctx: ServiceContext, file_id: uuid.UUID, name: str) -> str:
    """The public download URL of a stored file (storage's route, as storage builds it)."""
    base = ctx.settings.public_base_url.rstrip("/")
    return f"{base}/files/{file_id}/{quote(name, safe='')}"


# -- the quality gate


async def quality_precheck(
    ctx: ServiceContext, doc: DatasetDocument, request: Request
) -> dict[str, Any] | None:
    """The quality service's findings, or None when it cannot be reached."""
    base = (getattr(ctx.settings, "quality_url", None) or ctx.settings.public_base_url).rstrip("/")
    headers = {"Content-Type": "application/json"}
    if request.headers.get("authorization"):
        headers["Authorization"] = request.headers["authorization"]
    try:
        resp = await ctx.http.post(
            f"{base}/api/v1/quality/precheck",
            content=doc.model_dump_json(),
            headers=headers,
            timeout=getattr(ctx.settings, "quality_timeout", 10.0),
        )
    except httpx.HTTPError as exc:
        log.warning("quality precheck unreachable: %r", exc)
        return None
    if resp.status_code != 200:
        log.warning("quality precheck answered %s", resp.status_code)
        return None
    try:
        body = resp.json()
        return {
            "blocking": list(body.get("blocking") or []),
            "warnings": list(body.get("warnings") or []),
        }
    except (ValueError, AttributeError):
        return None


def quality_unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(
        "The quality pre-check is unavailable; retry later or publish with an override_reason"
    )


# -- the register link


async def link_register(session: AsyncSession, ds: Dataset) -> None:
    """A published dataset fulfils its register entry (by id, else by list code)."""
    entry = None
    if ds.register_entry_id:
        entry = await session.get(RegisterEntry, ds.register_entry_id)
    if entry is None and ds.list_code:
        entry = (
            (
                await session.exec(
                    sa.select(RegisterEntry).where(RegisterEntry.list_code == ds.list_code)
                )  # type: ignore[call-overload]
            )
            .scalars()
            .first()
        )
    if entry is None:
        return
    changed = False
    if entry.status != "published" or entry.dataset_id != ds.id:
        entry.status = "published"
        entry.dataset_id = ds.id
        changed = True
    if entry.organization_id is None:
        entry.organization_id = ds.organization_id
        changed = True
    if changed:
        entry.revision += 1
        entry.modified_at = utc_now()
        session.add(entry)
        await session.flush()
        await record(
            session,
            source=SOURCE,
            type="catalog.register.updated",
            data=RegisterEntryDocument.model_validate(entry.model_dump()),
            subject=str(entry.id),
        )


def now() -> datetime:
    return utc_now()
