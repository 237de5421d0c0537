"""Dataset endpoints: CRUD, lifecycle, history, resources and their versions."""

from __future__ import annotations

import copy
import uuid
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from portal_kit.app import ServiceContext, wake_relay
from portal_kit.auth import CurrentPrincipal, Moderator, OptionalPrincipal, Principal
from portal_kit.contracts.catalog import ResourceEvent
from portal_kit.db import SessionDep, utc_now
from portal_kit.errors import Conflict, Forbidden, NotFound, Unprocessable, field_error
from portal_kit.events.outbox import record
from sqlmodel.ext.asyncio.session import AsyncSession

from catalog import datasets as svc
from catalog.common import SOURCE, check_if_match, jsonable, unprocessable, with_etag
from catalog.models import Dataset, DatasetHistory, Organization, Resource, ResourceVersion
from catalog.schemas import (
    DatasetCreate,
    DatasetUpdate,
    NoteIn,
    PublishIn,
    RejectIn,
    ResourceCreate,
    ResourceNewVersion,
    ResourceUpdate,
    present,
)

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])


def _ctx(request: Request) -> ServiceContext:
    return request.state.ctx


async def _respond(
    session, ds: Dataset, principal: Principal | None, status_code: int = 200
) -> Response:
    doc = await svc.dataset_document(session, ds)
    return with_etag(svc.api_view(doc, ds, principal), ds.revision, status_code)


@router.get("/{ref}", summary="One dataset, by id or slug (published, or your organization's)")
async def get_dataset(ref: str, session: SessionDep, principal: OptionalPrincipal) -> Response:
    ds = await svc.visible_dataset(session, ref, principal)
    return await _respond(session, ds, principal)


@router.post("", status_code=201, summary="Create a draft dataset in your organization")
async def create_dataset(
    body: DatasetCreate, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> Response:
    org = await session.get(Organization, body.organization_id)
    if org is None or org.deleted:
        raise unprocessable(["body", "organization_id"], "organization not found")
    if not principal.can_edit(org.id):
        raise Forbidden("You may create datasets only in your own organizations")
    data = body.model_dump()
    for key in ("keywords", "themes"):
        data[key] = data.get(key) or []
    data["language"] = data.get("language") or ["uk"]
    data["license_id"] = data.get("license_id") or "CC-BY-4.0"
    data["access_rights"] = data.get("access_rights") or "PUBLIC"
    svc.check_dates(data)
    await svc.validate_links(session, data)
    ds = Dataset(**data, status="draft", created_by=principal.sub)
    session.add(ds)
    await svc.flush(session)
    await svc.refresh_search(session, ds)
    await svc.add_history(
        session,
        ds,
        principal,
        "created",
        {k: {"before": None, "after": jsonable(v)} for k, v in data.items() if v not in (None, [])},
    )
    await svc.emit(session, ds, "created")
    wake_relay(request)
    return await _respond(session, ds, principal, 201)


@router.patch(
    "/{ref}",
    summary="Change passport fields (If-Match); published datasets of "
    "moderated organizations keep the change pending until a moderator approves it",
)
async def update_dataset(
    ref: str,
    body: DatasetUpdate,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> Response:
    ds = await svc.editable_dataset(session, ref, principal)
    check_if_match(request, ds.revision)
    changes = present(body)
    for key in list(changes):
        if changes[key] is None and key in svc.NOT_NULL:
            raise unprocessable(["body", key], "may not be null")
    if ds.status == "archived":
        raise Conflict("An archived dataset cannot be changed")
    await svc.validate_links(session, changes)
    org = await session.get(Organization, ds.organization_id)
    if ds.status == "published" and org is not None and org.requires_update_moderation:
        pending = dict(ds.pending or {})
        current = {k: svc.from_json_value(k, v) for k, v in pending.items()}
        merged_view = {**{k: getattr(ds, k) for k in svc.EDITABLE}, **current, **changes}
        svc.check_dates(merged_view)
        history = {}
        for key, value in changes.items():
            before = current.get(key, getattr(ds, key))
            if before != value:
                history[key] = {"before": jsonable(before), "after": jsonable(value)}
            pending[key] = jsonable(value)
        if not history:
            return await _respond(session, ds, principal)
        ds.pending = pending
        ds.pending_status = "draft"
        ds.revision += 1
        session.add(ds)
        await svc.flush(session)
        await svc.add_history(session, ds, principal, "change_proposed", history)
        return await _respond(session, ds, principal)
    svc.check_dates({**{k: getattr(ds, k) for k in svc.EDITABLE}, **changes})
    history = svc.diff(ds, changes)
    if not history:
        return await _respond(session, ds, principal)
    for key in history:
        setattr(ds, key, changes[key])
    ds.revision += 1
    ds.modified_at = utc_now()
    if ds.status == "submitted":
        ds.status = "draft"  # changed after submission: it must be submitted again
    await svc.refresh_search(session, ds)
    await svc.add_history(session, ds, principal, "updated", history)
    await svc.emit(session, ds, "updated")
    wake_relay(request)
    return await _respond(session, ds, principal)


@router.delete(
    "/{ref}", status_code=204, summary="Delete a dataset that is not published (If-Match)"
)
async def delete_dataset(
    ref: str, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> Response:
    ds = await svc.editable_dataset(session, ref, principal)
    check_if_match(request, ds.revision)
    if ds.status == "published":
        raise Conflict("A published dataset is archived, not deleted")
    before = ds.status
    ds.status = "deleted"
    ds.revision += 1
    ds.modified_at = utc_now()
    ds.name = f"{ds.name[:60]}-deleted-{uuid.uuid4().hex[:8]}"
    session.add(ds)
    await svc.flush(session)
    await svc.add_history(
        session, ds, principal, "deleted", {"status": {"before": before, "after": "deleted"}}
    )
    await svc.emit(session, ds, "deleted")
    wake_relay(request)
    return Response(status_code=204)


# -- lifecycle


@router.post("/{ref}/submit", summary="Submit for moderation (If-Match)")
async def submit_dataset(
    ref: str,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    body: NoteIn | None = None,
) -> Response:
    ds = await svc.editable_dataset(session, ref, principal)
    check_if_match(request, ds.revision)
    note = {"note": body.note} if body and body.note else None
    if ds.status == "published" and ds.pending and ds.pending_status in ("draft", "rejected"):
        ds.pending_status = "submitted"
        ds.revision += 1
        session.add(ds)
        await svc.flush(session)
        await svc.add_history(session, ds, principal, "change_submitted", {}, note)
        return await _respond(session, ds, principal)
    if ds.status not in ("draft", "rejected"):
        raise Conflict(f"A {ds.status} dataset cannot be submitted", status=ds.status)
    missing = [f for f in svc.REQUIRED_TO_SUBMIT if not getattr(ds, f)]
    errors = [field_error(["body", f], "required before submitting", "missing") for f in missing]
    if not await svc.load_resources(session, ds.id):
        errors.append(
            field_error(["body", "resources"], "at least one resource is required", "missing")
        )
    if errors:
        raise Unprocessable("The passport is incomplete", errors=errors)
    return await _change_status(request, session, ds, principal, "submitted", note)


@router.post("/{ref}/publish", summary="Publish (moderators; If-Match; quality pre-check)")
async def publish_dataset(
    ref: str,
    request: Request,
    session: SessionDep,
    principal: Moderator,
    body: PublishIn | None = None,
) -> Response:
    body = body or PublishIn()
    ds = await svc.find_dataset(session, ref, lock=True)
    check_if_match(request, ds.revision)
    pending_update = ds.status == "published" and ds.pending and ds.pending_status == "submitted"
    if ds.status != "submitted" and not pending_update:
        raise Conflict(f"Only a submitted dataset or change can be published (status {ds.status})")
    history: dict[str, Any] = {}
    resource_events: list[tuple[Resource, str]] = []
    if pending_update:
        for key, value in (ds.pending or {}).items():
            if key == "resources":
                resource_events = await _apply_resource_ops(session, ds, value, history)
                continue
            new = svc.from_json_value(key, value)
            if getattr(ds, key) != new:
                history[key] = {"before": jsonable(getattr(ds, key)), "after": jsonable(new)}
                setattr(ds, key, new)
    # the document as it would be published, for the pre-check
    candidate = await svc.dataset_document(session, ds)
    candidate = candidate.model_copy(update={"status": "published"})
    findings = await svc.quality_precheck(_ctx(request), candidate, request)
    note: dict[str, Any] = {}
    if body.note:
        note["note"] = body.note
    if findings is None:
        if not body.override_reason:
            raise svc.quality_unavailable()
        note["quality"] = "unavailable"
    elif findings["blocking"]:
        if not body.override_reason:
            raise Conflict(
                "The quality pre-check found blocking problems",
                blocking=findings["blocking"],
                warnings=findings["warnings"],
            )
        note["quality"] = findings
    elif findings["warnings"]:
        note["quality"] = findings
    if body.override_reason:
        note["override_reason"] = body.override_reason
    now = utc_now()
    if not pending_update:
        history["status"] = {"before": ds.status, "after": "published"}
        ds.status = "published"
        if ds.first_published_at is None:
            ds.first_published_at = now
    ds.pending = None
    ds.pending_status = None
    ds.published_at = now
    ds.modified_at = now
    ds.moderation = {
        "decision": "published",
        "by": principal.email or principal.sub,
        "at": jsonable(now),
        **({"override_reason": body.override_reason} if body.override_reason else {}),
    }
    ds.revision += 1
    await svc.refresh_search(session, ds)
    await svc.add_history(
        session,
        ds,
        principal,
        "change_published" if pending_update else "published",
        history,
        note or None,
    )
    await svc.link_register(session, ds)
    doc = await svc.emit(session, ds, "updated" if pending_update else "published")
    for r, verb in resource_events:
        await record(
            session,
            source=SOURCE,
            type=f"catalog.resource.{verb}",
            data=ResourceEvent(resource=svc.resource_document(r), dataset=doc),
            subject=str(r.id),
        )
    wake_relay(request)
    return await _respond(session, ds, principal)


@router.post(
    "/{ref}/reject",
    summary="Reject with reasons, per field where they apply (moderators; If-Match)",
)
async def reject_dataset(
    ref: str, body: RejectIn, request: Request, session: SessionDep, principal: Moderator
) -> Response:
    ds = await svc.find_dataset(session, ref, lock=True)
    check_if_match(request, ds.revision)
    allowed = set(svc.EDITABLE) | {"resources", "organization_id"}
    bad = [k for k in body.field_reasons if k not in allowed]
    if bad:
        raise unprocessable(["body", "field_reasons", bad[0]], "not a dataset field")
    decision = {
        "decision": "rejected",
        "reason": body.reason,
        "field_reasons": body.field_reasons,
        "by": principal.email or principal.sub,
        "at": jsonable(utc_now()),
    }
    if ds.status == "published" and ds.pending and ds.pending_status == "submitted":
        ds.pending_status = "rejected"
        unreviewed = (ds.moderation or {}).get("unreviewed")
        ds.moderation = {**decision, **({"unreviewed": unreviewed} if unreviewed else {})}
        ds.revision += 1
        session.add(ds)
        await svc.flush(session)
        await svc.add_history(session, ds, principal, "change_rejected", {}, decision)
        return await _respond(session, ds, principal)
    if ds.status != "submitted":
        raise Conflict(f"Only a submitted dataset can be rejected (status {ds.status})")
    ds.moderation = decision
    return await _change_status(request, session, ds, principal, "rejected", decision)


@router.post("/{ref}/archive", summary="Archive a published dataset (If-Match)")
async def archive_dataset(
    ref: str,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    body: NoteIn | None = None,
) -> Response:
    ds = await svc.find_dataset(session, ref, lock=True)
    if not (principal.is_moderator or principal.can_edit(ds.organization_id)):
        raise Forbidden("Only the organization's editors or moderators may archive it")
    check_if_match(request, ds.revision)
    if ds.status != "published":
        raise Conflict(f"Only a published dataset can be archived (status {ds.status})")
    ds.pending = None
    ds.pending_status = None
    note = {"note": body.note} if body and body.note else None
    return await _change_status(request, session, ds, principal, "archived", note)


async def _change_status(
    request: Request,
    session: AsyncSession,
    ds: Dataset,
    principal: Principal,
    status: str,
    note: dict[str, Any] | None,
) -> Response:
    """Move a dataset to ``status``: a new revision, its history entry and its event, all in
    the request's transaction; the history action and the event verb are the status itself."""
    before = ds.status
    ds.status = status
    ds.revision += 1
    ds.modified_at = utc_now()
    session.add(ds)
    await svc.flush(session)
    await svc.add_history(
        session, ds, principal, status, {"status": {"before": before, "after": status}}, note
    )
    await svc.emit(session, ds, status)
    wake_relay(request)
    return await _respond(session, ds, principal)


@router.get("/{ref}/history", summary="Every change: who, when, which fields, before and after")
async def dataset_history(
    ref: str,
    session: SessionDep,
    principal: OptionalPrincipal,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict[str, Any]:
    ds = await svc.visible_dataset(session, ref, principal)
    cond = DatasetHistory.dataset_id == ds.id
    total = (
        await session.exec(sa.select(sa.func.count()).select_from(DatasetHistory).where(cond))
    ).scalar_one()  # type: ignore[call-overload]
    rows = (
        (
            await session.exec(  # type: ignore[call-overload]
                sa.select(DatasetHistory)
                .where(cond)
                .order_by(DatasetHistory.at, DatasetHistory.id)
                .limit(limit)
                .offset(offset)
            )
        )
        .scalars()
        .all()
    )
    insider = principal is not None and (
        principal.is_moderator or principal.is_member(ds.organization_id)
    )
    items = []
    for h in rows:
        item = jsonable(h.model_dump(exclude={"id"}))
        if not insider:
            item.pop("actor_email", None)
        items.append(item)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


# -- resource changes of a published dataset whose organization moderates updates
#
# Adding, changing and removing resources are held in ``pending["resources"]`` (``add``: resource
# documents with their future ids, ``update``: {resource id: changed fields}, ``delete``: [ids])
# and applied when a moderator publishes the change, like passport fields. A new *version* of a
# resource (the routine monthly file) applies at once and is listed in
# ``moderation["unreviewed"]`` until a moderator reviews it (``POST .../review``).


async def _held(session, ds: Dataset) -> bool:
    if ds.status != "published":
        return False
    org = await session.get(Organization, ds.organization_id)
    return bool(org is not None and org.requires_update_moderation)


def _ops(ds: Dataset) -> tuple[dict[str, Any], dict[str, Any]]:
    pending = copy.deepcopy(ds.pending or {})
    ops = pending.setdefault("resources", {})
    ops.setdefault("add", [])
    ops.setdefault("update", {})
    ops.setdefault("delete", [])
    return pending, ops


async def _propose(
    session, ds: Dataset, pending: dict[str, Any], principal: Principal, changes: dict[str, Any]
) -> None:
    ds.pending = pending
    ds.pending_status = "draft"
    ds.revision += 1
    session.add(ds)
    await svc.flush(session)
    await svc.add_history(session, ds, principal, "change_proposed", changes)


def _held_response(ds: Dataset, body: dict[str, Any]) -> JSONResponse:
    """202: held for moderation (the resource itself, and its ETag, did not change yet)."""
    return JSONResponse(
        jsonable({**body, "pending": True, "pending_status": ds.pending_status}), status_code=202
    )


def _apply_resource_changes(
    r: Resource, changes: dict[str, Any], history: dict[str, Any], now: datetime
) -> bool:
    """Set the fields of ``r`` that differ, noting each in ``history`` (before/after); a resource
    that changed gets a new revision. Returns whether anything changed."""
    changed = False
    for key, value in changes.items():
        if getattr(r, key) != value:
            history[f"resources.{r.id}.{key}"] = {
                "before": jsonable(getattr(r, key)),
                "after": jsonable(value),
            }
            setattr(r, key, value)
            changed = True
    if changed:
        r.revision += 1
        r.modified_at = now
    return changed


async def _apply_resource_ops(
    session, ds: Dataset, ops: dict[str, Any], history: dict[str, Any]
) -> list[tuple[Resource, str]]:
    """Publish held resource changes: returns (resource, verb) for the events."""
    out: list[tuple[Resource, str]] = []
    now = utc_now()
    existing = await svc.load_resources(session, ds.id)
    by_id = {str(r.id): r for r in existing}
    for rid in ops.get("delete") or []:
        r = by_id.pop(str(rid), None)
        if r is None:
            continue
        history[f"resources.{r.id}"] = {
            "before": jsonable(svc.resource_document(r)),
            "after": None,
        }
        r.deleted = True
        r.revision += 1
        r.modified_at = now
        session.add(r)
        out.append((r, "deleted"))
    for rid, changes in (ops.get("update") or {}).items():
        r = by_id.get(str(rid))
        if r is None:
            continue
        if _apply_resource_changes(r, changes, history, now):
            session.add(r)
            out.append((r, "updated"))
    for i, doc in enumerate(ops.get("add") or []):
        fields = {k: doc.get(k) for k in _RESOURCE_FIELDS if k in doc}
        r = Resource(
            **fields,
            id=uuid.UUID(str(doc["id"])),
            dataset_id=ds.id,
            position=doc.get("position") if doc.get("position") is not None else len(by_id) + i,
            created_at=now,
            modified_at=now,
        )
        if r.file_id is not None:
            r.file_id = uuid.UUID(str(r.file_id))
        session.add(r)
        history[f"resources.{r.id}"] = {"before": None, "after": jsonable(doc)}
        out.append((r, "created"))
    await svc.flush(session)
    return out


_RESOURCE_FIELDS = (
    "name",
    "name_en",
    "description",
    "format",
    "media_type",
    "file_id",
    "url",
    "download_url",
    "size",
    "sha256",
    "structure_url",
)


@router.post(
    "/{ref}/review",
    summary="Mark the file replacements made since the last review as seen (moderators; If-Match)",
)
async def review_dataset(
    ref: str,
    request: Request,
    session: SessionDep,
    principal: Moderator,
    body: NoteIn | None = None,
) -> Response:
    ds = await svc.find_dataset(session, ref, lock=True)
    check_if_match(request, ds.revision)
    seen = (ds.moderation or {}).get("unreviewed") or []
    if not seen:
        raise Conflict("Nothing to review")
    ds.moderation = {k: v for k, v in (ds.moderation or {}).items() if k != "unreviewed"}
    ds.revision += 1
    session.add(ds)
    await svc.flush(session)
    await svc.add_history(
        session,
        ds,
        principal,
        "replacements_reviewed",
        {},
        {"reviewed": seen, **({"note": body.note} if body and body.note else {})},
    )
    return await _respond(session, ds, principal)


# -- resources


async def _resource(session, ds: Dataset, rid: uuid.UUID, *, lock: bool = False) -> Resource:
    stmt = sa.select(Resource).where(
        Resource.id == rid, Resource.dataset_id == ds.id, Resource.deleted.is_(False)
    )  # type: ignore[attr-defined]
    if lock:
        stmt = stmt.with_for_update()
    r = (await session.exec(stmt)).scalars().first()  # type: ignore[call-overload]
    if r is None:
        raise NotFound("Resource not found")
    return r


def _check_source(file_id: Any, url: Any) -> None:
    if (file_id is None) == (url is None):
        raise Unprocessable(
            "Give exactly one of file_id and url",
            errors=[
                field_error(["body", "file_id"], "give exactly one of file_id and url"),
                field_error(["body", "url"], "give exactly one of file_id and url"),
            ],
        )


async def _apply_source(
    request: Request, session, ds: Dataset, r: Resource, file_id, url, loc_prefix
) -> None:
    if file_id is not None:
        info = await svc.resolve_file(
            _ctx(request), session, file_id, ds.organization_id, request, [*loc_prefix, "file_id"]
        )
        r.file_id = file_id
        r.url = info["download_url"]
        r.download_url = info["download_url"]
        r.size = info.get("size")
        r.sha256 = info.get("sha256")
        r.media_type = r.media_type or info.get("media_type")
        if not r.format:
            name = str(info.get("original_name") or "")
            if "." in name:
                r.format = name.rsplit(".", 1)[1].upper()[:20]
    else:
        r.file_id = None
        r.url = url
        r.download_url = url
        r.size = None
        r.sha256 = None


async def _resource_view(session, r: Resource, status_code: int = 200) -> Response:
    [doc] = await svc.resource_documents(session, [r])
    return with_etag(doc, r.revision, status_code)


async def _touch(session, ds: Dataset) -> None:
    ds.revision += 1
    ds.modified_at = utc_now()
    await svc.refresh_search(session, ds)


@router.get("/{ref}/resources", summary="The dataset's resources")
async def list_resources(
    ref: str, session: SessionDep, principal: OptionalPrincipal
) -> dict[str, Any]:
    ds = await svc.visible_dataset(session, ref, principal)
    docs = await svc.resource_documents(session, await svc.load_resources(session, ds.id))
    items = [jsonable(d) for d in docs]
    return {"items": items, "total": len(items), "limit": len(items), "offset": 0}


@router.get("/{ref}/resources/{rid}", summary="One resource")
async def get_resource(
    ref: str, rid: uuid.UUID, session: SessionDep, principal: OptionalPrincipal
) -> Response:
    ds = await svc.visible_dataset(session, ref, principal)
    return await _resource_view(session, await _resource(session, ds, rid))


@router.post(
    "/{ref}/resources",
    status_code=201,
    summary="Add a resource: an uploaded file (file_id) or an external url",
)
async def create_resource(
    ref: str,
    body: ResourceCreate,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> Response:
    ds = await svc.editable_dataset(session, ref, principal)
    if request.headers.get("if-match"):
        check_if_match(request, ds.revision)
    if ds.status == "archived":
        raise Conflict("An archived dataset cannot be changed")
    _check_source(body.file_id, body.url)
    existing = await svc.load_resources(session, ds.id)
    r = Resource(
        dataset_id=ds.id,
        name=body.name,
        name_en=body.name_en,
        description=body.description,
        format=body.format.upper() if body.format else None,
        media_type=body.media_type,
        structure_url=body.structure_url,
        position=body.position if body.position is not None else len(existing),
    )
    await _apply_source(request, session, ds, r, body.file_id, body.url, ["body"])
    if await _held(session, ds):
        r.id = uuid.uuid4()
        doc = jsonable(svc.resource_document(r))
        pending, ops = _ops(ds)
        ops["add"].append(doc)
        await _propose(
            session, ds, pending, principal, {f"resources.{r.id}": {"before": None, "after": doc}}
        )
        return _held_response(ds, doc)
    session.add(r)
    await svc.flush(session)
    await _touch(session, ds)
    await svc.add_history(
        session,
        ds,
        principal,
        "resource_created",
        {f"resources.{r.id}": {"before": None, "after": jsonable(svc.resource_document(r))}},
    )
    await svc.emit_resource(session, ds, r, "created")
    wake_relay(request)
    return await _resource_view(session, r, 201)


@router.patch(
    "/{ref}/resources/{rid}", summary="Change a resource's metadata (If-Match of the resource)"
)
async def update_resource(
    ref: str,
    rid: uuid.UUID,
    body: ResourceUpdate,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> Response:
    ds = await svc.editable_dataset(session, ref, principal)
    r = await _resource(session, ds, rid, lock=True)
    check_if_match(request, r.revision)
    if ds.status == "archived":
        raise Conflict("An archived dataset cannot be changed")
    changes = present(body)
    if "name" in changes and changes["name"] is None:
        raise unprocessable(["body", "name"], "may not be null")
    if changes.get("format"):
        changes["format"] = changes["format"].upper()
    if await _held(session, ds):
        pending, ops = _ops(ds)
        held = ops["update"].setdefault(str(r.id), {})
        proposal = {}
        for key, value in changes.items():
            before = held.get(key, jsonable(getattr(r, key)))
            if before != jsonable(value):
                proposal[f"resources.{r.id}.{key}"] = {"before": before, "after": jsonable(value)}
                held[key] = jsonable(value)
        view = {**jsonable(svc.resource_document(r)), **held}
        if proposal:
            await _propose(session, ds, pending, principal, proposal)
        return _held_response(ds, view)
    history: dict[str, Any] = {}
    if _apply_resource_changes(r, changes, history, utc_now()):
        session.add(r)
        await svc.flush(session)
        await _touch(session, ds)
        await svc.add_history(session, ds, principal, "resource_updated", history)
        await svc.emit_resource(session, ds, r, "updated")
        wake_relay(request)
    return await _resource_view(session, r)


@router.delete(
    "/{ref}/resources/{rid}",
    status_code=204,
    summary="Remove a resource (If-Match of the resource)",
)
async def delete_resource(
    ref: str, rid: uuid.UUID, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> Response:
    ds = await svc.editable_dataset(session, ref, principal)
    r = await _resource(session, ds, rid, lock=True)
    check_if_match(request, r.revision)
    if ds.status == "archived":
        raise Conflict("An archived dataset cannot be changed")
    if await _held(session, ds):
        pending, ops = _ops(ds)
        if str(r.id) not in ops["delete"]:
            ops["delete"].append(str(r.id))
            ops["update"].pop(str(r.id), None)
            before = jsonable(svc.resource_document(r))
            change = {f"resources.{r.id}": {"before": before, "after": None}}
            await _propose(session, ds, pending, principal, change)
        return _held_response(ds, {"id": str(r.id), "deleted": True})
    r.deleted = True
    r.revision += 1
    r.modified_at = utc_now()
    session.add(r)
    await svc.flush(session)
    await _touch(session, ds)
    await svc.add_history(
        session,
        ds,
        principal,
        "resource_deleted",
        {f"resources.{r.id}": {"before": jsonable(svc.resource_document(r)), "after": None}},
    )
    await svc.emit_resource(session, ds, r, "deleted")
    wake_relay(request)
    return Response(status_code=204)


@router.post(
    "/{ref}/resources/{rid}/versions",
    status_code=201,
    summary="Replace the resource's file or URL with a new version; the old one stays readable",
)
async def new_resource_version(
    ref: str,
    rid: uuid.UUID,
    body: ResourceNewVersion,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> Response:
    ds = await svc.editable_dataset(session, ref, principal)
    r = await _resource(session, ds, rid, lock=True)
    check_if_match(request, r.revision)
    if ds.status == "archived":
        raise Conflict("An archived dataset cannot be changed")
    _check_source(body.file_id, body.url)
    [old_doc] = await svc.resource_documents(session, [r])
    old = jsonable(old_doc)  # the old version keeps its copies
    session.add(
        ResourceVersion(resource_id=r.id, version=r.version, data=old, replaced_by=principal.sub)
    )
    if body.format:
        r.format = body.format.upper()
    r.media_type = body.media_type
    await _apply_source(request, session, ds, r, body.file_id, body.url, ["body"])
    r.version += 1
    r.revision += 1
    r.modified_at = utc_now()
    session.add(r)
    await svc.flush(session)
    if await _held(session, ds):
        # applied at once (a routine data update must not wait), but a moderator must see it
        moderation = copy.deepcopy(ds.moderation or {})
        moderation.setdefault("unreviewed", []).append(
            {
                "resource_id": str(r.id),
                "version": r.version,
                "at": jsonable(r.modified_at),
                "by": principal.email or principal.sub,
            }
        )
        ds.moderation = moderation
    await _touch(session, ds)
    await svc.add_history(
        session,
        ds,
        principal,
        "resource_replaced",
        {
            f"resources.{r.id}.version": {"before": old["version"], "after": r.version},
            f"resources.{r.id}.url": {"before": old["url"], "after": r.url},
        },
    )
    await svc.emit_resource(session, ds, r, "updated")
    wake_relay(request)
    return await _resource_view(session, r, 201)


@router.get("/{ref}/resources/{rid}/versions", summary="All versions of a resource, newest first")
async def resource_versions(
    ref: str, rid: uuid.UUID, session: SessionDep, principal: OptionalPrincipal
) -> dict[str, Any]:
    ds = await svc.visible_dataset(session, ref, principal)
    r = await _resource(session, ds, rid)
    rows = (
        (
            await session.exec(  # type: ignore[call-overload]
                sa.select(ResourceVersion)
                .where(ResourceVersion.resource_id == r.id)
                .order_by(ResourceVersion.version.desc())  # type: ignore[attr-defined]
            )
        )
        .scalars()
        .all()
    )
    [doc] = await svc.resource_documents(session, [r])
    items = [{**jsonable(doc), "current": True}]
    items += [{**v.data, "current": False, "replaced_at": jsonable(v.replaced_at)} for v in rows]
    return {"items": items, "total": len(items), "limit": len(items), "offset": 0}
