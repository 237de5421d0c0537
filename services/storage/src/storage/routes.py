"""HTTP routes: direct uploads, downloads, metadata, deletion, statistics, quotas."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from portal_kit.app import ServiceContext, wake_relay
from portal_kit.auth import Admin, CurrentPrincipal, OptionalPrincipal
from portal_kit.db import SessionDep
from portal_kit.errors import (
    BadRequest,
    Conflict,
    NotFound,
    PreconditionFailed,
    Unprocessable,
    field_error,
)
from sqlmodel import col, select

from storage import s3io, service
from storage.bodies import ClientGone, FormFile, form_file_chunks, raw_chunks
from storage.downloads import etag_of, serve
from storage.models import DownloadCount, FileReference, OrganizationQuota, StoredFile
from storage.names import ascii_name, clean_name, name_from_headers
from storage.schemas import (
    DayCount,
    DownloadRow,
    DownloadStats,
    FileInfo,
    FileList,
    FileStats,
    Quota,
    QuotaUpdate,
)
from storage.settings import Settings
from storage.sniff import SNIFF_BYTES, declared_type, is_mismatch, sniff

router = APIRouter(tags=["files"])


def ctx_of(request: Request) -> ServiceContext:
    return request.state.ctx  # type: ignore[no-any-return]


def settings_of(request: Request) -> Settings:
    return ctx_of(request).settings  # type: ignore[return-value]


def s3_of(request: Request) -> Any:
    s3 = ctx_of(request).extras.get("s3")
    if s3 is None:
        raise s3io.StorageUnavailable()
    return s3


def base_url(request: Request) -> str:
    return settings_of(request).public_base_url


class ClientClosed(BadRequest):
    slug = "upload-incomplete"


@router.post(
    "/api/v1/files",
    status_code=201,
    summary="Upload a file (raw body with X-File-Name / Content-Disposition, or multipart form)",
    response_model=FileInfo,
)
async def upload_file(
    request: Request,
    principal: CurrentPrincipal,
    organization_id: Annotated[uuid.UUID, Query()],
) -> JSONResponse:
    ctx = ctx_of(request)
    settings = settings_of(request)
    service.require_editor(principal, organization_id)
    s3 = s3_of(request)

    ctype = request.headers.get("content-type", "")
    length_header = request.headers.get("content-length")
    announced: int | None = None
    if length_header is not None:
        try:
            announced = int(length_header)
        except ValueError as exc:
            raise BadRequest("Content-Length is not a number") from exc

    async with ctx.sessionmaker() as session:
        limits = service.Limits(
            settings,
            await service.used_bytes(session, organization_id),
            await service.quota_of(session, settings, organization_id),
        )
    form: FormFile | None = None
    if ctype.lower().startswith("multipart/form-data"):
        form = FormFile()
        if announced is not None:
            limits.check(max(0, announced - 64 * 1024))  # the form's own framing is small
        chunks = form_file_chunks(request, form)
        raw_name = None
    else:
        limits.check_announced(announced)
        chunks = raw_chunks(request)
        raw_name = name_from_headers(
            request.headers.get("x-file-name"), request.headers.get("content-disposition")
        )

    file_id = uuid.uuid4()
    info: dict[str, Any] = {}

    def on_head(head: bytes) -> None:
        name = clean_name(form.filename if form is not None else raw_name)
        header_type = form.content_type if form is not None else ctype
        declared = declared_type(name, header_type)
        sniffed = sniff(head, name)
        service.check_type(settings, sniffed)
        info.update(name=name, declared=declared, sniffed=sniffed)

    def key() -> str:  # resolved after the first bytes, when the form part's name is known
        return service.object_key(organization_id, file_id, ascii_name(info["name"]))

    try:
        result = await s3io.stream_to_s3(
            s3,
            settings.s3_bucket,
            key,
            chunks,
            # S3 allows 10000 parts: larger parts only when the size limit needs them
            part_size=max(settings.part_size, -(-settings.max_file_size // 9000)),
            on_head=on_head,
            on_progress=limits.check,
            head_size=SNIFF_BYTES,
        )
    except ClientGone as exc:
        raise ClientClosed("The upload ended before the whole body arrived") from exc

    key_done = result.key
    f = StoredFile(
        id=file_id,
        organization_id=organization_id,
        bucket=settings.s3_bucket,
        key=key_done,
        name=info["name"],
        size=result.size,
        sha256=result.sha256,
        media_type=info["sniffed"],
        declared_media_type=info["declared"],
        type_mismatch=is_mismatch(info["declared"], info["sniffed"]),
        uploaded_by=principal.sub,
    )
    try:
        async with ctx.sessionmaker() as session:
            # re-check the quota now that the size is known and other uploads may have landed
            used = await service.used_bytes(session, organization_id)
            service.Limits(settings, used, limits.quota).check(result.size)
            await service.record_stored(session, f)
            await session.commit()
    except BaseException:
        await s3io.remove_quietly(s3, settings.s3_bucket, key_done)
        raise
    wake_relay(request)
    body = FileInfo.of(f, public=False, base_url=base_url(request))
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"/api/v1/files/{f.id}", "ETag": etag_of(f)},
    )


@router.get("/api/v1/files", summary="List files of an organization", response_model=FileList)
async def list_files(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    organization_id: Annotated[uuid.UUID, Query()],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> FileList:
    public = service.public_clause(col(StoredFile.id))
    where = [
        col(StoredFile.organization_id) == organization_id,
        col(StoredFile.deleted_at).is_(None),
    ]
    if not service.can_read_private(principal, organization_id):
        where.append(public)
    total = (
        await session.exec(select(sa.func.count()).select_from(StoredFile).where(*where))  # type: ignore[call-overload]
    ).one()
    rows = (
        await session.exec(  # type: ignore[call-overload]
            sa.select(StoredFile, public.label("public"))
            .where(*where)
            .order_by(col(StoredFile.created_at).desc(), col(StoredFile.id))
            .limit(limit)
            .offset(offset)
        )
    ).all()
    derived = await service.derived_of(session, [f.id for f, _ in rows])
    items = [
        FileInfo.of(f, public=bool(p), base_url=base_url(request), derived=derived.get(f.id))
        for f, p in rows
    ]
    return FileList(items=items, total=int(total), limit=limit, offset=offset)


@router.get(
    "/api/v1/files/quotas/{organization_id}",
    summary="An organization's storage quota and use",
    response_model=Quota,
)
async def get_quota(
    request: Request, session: SessionDep, principal: CurrentPrincipal, organization_id: uuid.UUID
) -> Quota:
    if not service.can_read_private(principal, organization_id):
        raise NotFound("Organization quota not found")
    return Quota(
        organization_id=organization_id,
        quota_bytes=await service.quota_of(session, settings_of(request), organization_id),
        used_bytes=await service.used_bytes(session, organization_id),
    )


@router.put(
    "/api/v1/files/quotas/{organization_id}",
    summary="Set an organization's storage quota (admin; 0 = unlimited)",
    response_model=Quota,
)
async def put_quota(
    session: SessionDep, principal: Admin, organization_id: uuid.UUID, body: QuotaUpdate
) -> Quota:
    row = await session.get(OrganizationQuota, organization_id)
    if row is None:
        row = OrganizationQuota(organization_id=organization_id, quota_bytes=body.quota_bytes)
    row.quota_bytes = body.quota_bytes
    row.modified_at = datetime.now(UTC)
    session.add(row)
    await session.flush()
    return Quota(
        organization_id=organization_id,
        quota_bytes=body.quota_bytes,
        used_bytes=await service.used_bytes(session, organization_id),
    )


def _counter(request: Request) -> service.DownloadCounter:
    return ctx_of(request).extras["downloads"]  # type: ignore[no-any-return]


async def _download(request: Request, session: Any, principal: Any, file_id: uuid.UUID) -> Response:
    f, public = await service.get_readable(session, file_id, principal)
    # the transaction is not needed while bytes flow: release the connection now
    await session.commit()
    return await serve(
        request,
        f,
        public=public,
        s3=s3_of(request),
        settings=settings_of(request),
        on_download=_counter(request).add,
    )


@router.get(
    "/api/v1/files/{file_id}",
    summary="Download a file (ranges, conditional GET; HEAD too)",
    response_class=Response,
)
async def download(
    request: Request, session: SessionDep, principal: OptionalPrincipal, file_id: uuid.UUID
) -> Response:
    return await _download(request, session, principal, file_id)


@router.get(
    "/files/{file_id}/{name}",
    summary="Public download URL (the name is for people and browsers; HEAD too)",
    response_class=Response,
)
async def public_download(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    file_id: uuid.UUID,
    name: str,
) -> Response:
    return await _download(request, session, principal, file_id)


router.add_api_route("/api/v1/files/{file_id}", download, methods=["HEAD"], include_in_schema=False)
router.add_api_route(
    "/files/{file_id}/{name}", public_download, methods=["HEAD"], include_in_schema=False
)


@router.get("/api/v1/files/{file_id}/info", summary="File metadata", response_model=FileInfo)
async def file_info(
    request: Request, session: SessionDep, principal: OptionalPrincipal, file_id: uuid.UUID
) -> JSONResponse:
    f, public = await service.get_readable(session, file_id, principal)
    derived = (await service.derived_of(session, [f.id])).get(f.id)
    body = FileInfo.of(f, public=public, base_url=base_url(request), derived=derived)
    return JSONResponse(body.model_dump(mode="json"), headers={"ETag": etag_of(f)})


@router.delete("/api/v1/files/{file_id}", status_code=204, summary="Delete a file")
async def delete_file(
    request: Request, session: SessionDep, principal: CurrentPrincipal, file_id: uuid.UUID
) -> Response:
    f = await session.get(StoredFile, file_id, with_for_update=True)
    if f is None:
        raise NotFound("File not found")
    if f.deleted_at is not None:
        if service.can_read_private(principal, f.organization_id):
            return Response(status_code=204)  # deleting twice is fine
        raise NotFound("File not found")
    if not service.can_read_private(principal, f.organization_id) and not (
        await service.is_public(session, f)
    ):
        raise NotFound("File not found")
    service.require_editor(principal, f.organization_id)
    if_match = request.headers.get("if-match")
    if (
        if_match
        and if_match.strip() != "*"
        and etag_of(f) not in [t.strip() for t in if_match.split(",")]
    ):
        raise PreconditionFailed("The file has changed", etag=etag_of(f))
    if await service.is_public(session, f):
        raise Conflict("The file belongs to a published dataset; remove it there first")
    gone = await service.delete_with_derived(session, f)  # its derived copies go with it
    await session.commit()
    wake_relay(request)
    s3 = ctx_of(request).extras.get("s3")
    for g in gone:
        if s3 is not None and await s3io.remove_quietly(s3, g.bucket, g.key):
            g.purged = True
            session.add(g)  # committed by the request; if not, the purge loop does it
    return Response(status_code=204)


@router.get(
    "/api/v1/files/{file_id}/stats", summary="Downloads of a file per day", response_model=FileStats
)
async def stats_of_file(
    request: Request, session: SessionDep, principal: OptionalPrincipal, file_id: uuid.UUID
) -> FileStats:
    await service.get_readable(session, file_id, principal)
    await _counter(request).flush(ctx_of(request).sessionmaker)
    days = await service.file_stats(session, file_id)
    return FileStats(
        file_id=file_id,
        total=sum(n for _, n in days),
        days=[DayCount(day=d, count=n) for d, n in days],
    )


@router.get(
    "/api/v1/stats/storage/downloads",
    summary="Downloads per file (and dataset) per day",
    response_model=DownloadStats,
)
async def download_stats(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: Annotated[date | None, Query()] = None,
    organization_id: Annotated[uuid.UUID | None, Query()] = None,
    dataset_id: Annotated[uuid.UUID | None, Query()] = None,
) -> JSONResponse:
    today = datetime.now(UTC).date()
    to = to or today
    from_ = from_ or (to - timedelta(days=29))
    if from_ > to:
        raise Unprocessable(
            "'from' is after 'to'",
            errors=[field_error(["query", "from"], "must not be after 'to'")],
        )
    if (to - from_).days > 366:
        raise Unprocessable(
            "At most 367 days at once",
            errors=[field_error(["query", "from"], "the range is longer than 367 days")],
        )
    await _counter(request).flush(ctx_of(request).sessionmaker)
    stmt = (
        sa.select(
            DownloadCount.day,
            DownloadCount.file_id,
            FileReference.dataset_id,
            StoredFile.organization_id,
            DownloadCount.count,
        )
        .join(StoredFile, col(StoredFile.id) == col(DownloadCount.file_id))
        .outerjoin(FileReference, col(FileReference.file_id) == col(DownloadCount.file_id))
        .where(col(DownloadCount.day) >= from_, col(DownloadCount.day) <= to)
        .order_by(col(DownloadCount.day), col(DownloadCount.file_id))
        .limit(10000)
    )
    if organization_id is not None:
        stmt = stmt.where(col(StoredFile.organization_id) == organization_id)
    if dataset_id is not None:
        stmt = stmt.where(col(FileReference.dataset_id) == dataset_id)
    if principal is None or not principal.is_moderator:
        public = service.public_clause(col(StoredFile.id))
        orgs = principal.organization_ids() if principal else []
        stmt = stmt.where(
            sa.or_(public, col(StoredFile.organization_id).in_(orgs)) if orgs else public
        )
    rows = (await session.exec(stmt)).all()  # type: ignore[call-overload]
    items = [
        DownloadRow(day=d, file_id=f, dataset_id=ds, organization_id=o, count=int(n))
        for d, f, ds, o, n in rows
    ]
    body = DownloadStats(from_=from_, to=to, total=sum(i.count for i in items), items=items)
    return JSONResponse(body.model_dump(mode="json", by_alias=True))
