"""Resumable uploads: S3-style multipart exposed through the API.

Create a session, PUT parts (any order, each retryable: a part sent again replaces the earlier
copy), list what arrived, complete or abort. Parts go through this service (bounded: at most
``upload_part_concurrency`` part bodies in memory) or straight to S3 with presigned part URLs.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from minio.error import S3Error
from portal_kit.app import ServiceContext, wake_relay
from portal_kit.auth import CurrentPrincipal, Principal
from portal_kit.db import SessionDep
from portal_kit.errors import (
    AppError,
    BadRequest,
    Conflict,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    field_error,
)
from sqlmodel import col, select

from storage import s3io, service
from storage.bodies import ClientGone, raw_chunks
from storage.downloads import etag_of
from storage.models import StoredFile, UploadSession
from storage.names import ascii_name, clean_name
from storage.routes import base_url, ctx_of, s3_of, settings_of
from storage.schemas import (
    FileInfo,
    PartInfo,
    PresignedPart,
    UploadComplete,
    UploadCreate,
    UploadInfo,
)
from storage.sniff import declared_type, is_mismatch, sniff

router = APIRouter(tags=["uploads"])

PartNumber = Annotated[int, Path(ge=1, le=10000)]


class LengthRequired(AppError):
    status = 411


class UploadGone(AppError):
    status = 410


def _info(s: UploadSession, settings: Any, parts: list[PartInfo] | None = None) -> UploadInfo:
    return UploadInfo(
        id=s.id,
        organization_id=s.organization_id,
        name=s.name,
        size=s.size,
        status=s.status,
        created_at=s.created_at,
        expires_at=s.expires_at,
        part_size=max(
            settings.upload_min_part_size, min(settings.part_size, settings.upload_max_part_size)
        ),
        min_part_size=settings.upload_min_part_size,
        max_part_size=settings.upload_max_part_size,
        parts=parts or [],
        file_id=s.file_id,
    )


async def _session_for(
    session: Any, upload_id: uuid.UUID, principal: Principal, *, lock: bool = False
) -> UploadSession:
    s = await session.get(UploadSession, upload_id, with_for_update=lock)
    if s is None or not principal.can_edit(s.organization_id):
        raise NotFound("Upload session not found")
    return s


def _open(s: UploadSession) -> None:
    if s.status == "completed":
        raise Conflict("The upload is already complete", file_id=str(s.file_id))
    if s.status != "open" or s.expires_at <= datetime.now(UTC):
        raise UploadGone("The upload session was aborted or has expired")


async def _list_parts(s3: Any, s: UploadSession) -> list[PartInfo]:
    parts, stamps = await _list_all(s3, s)
    return resolve_parts(parts, stamps, s.parts or {})


async def _list_all(s3: Any, s: UploadSession) -> tuple[list[PartInfo], list[Any]]:
    """Every part copy S3 lists, with its last-modified time."""
    parts: list[PartInfo] = []
    stamps: list[Any] = []
    marker: str | None = None
    while True:
        try:
            result = await s3io.call(
                s3._list_parts, s.bucket, s.key, s.s3_upload_id, part_number_marker=marker
            )
        except S3Error as exc:
            if exc.code == "NoSuchUpload":
                raise UploadGone("The upload session is gone from storage") from exc
            raise
        for p in result.parts:
            parts.append(PartInfo(part_number=p.part_number, etag=p.etag.strip('"'), size=p.size))
            stamps.append(p.last_modified)
        if not result.is_truncated or not result.next_part_number_marker:
            break
        marker = str(result.next_part_number_marker)
    return parts, stamps


def resolve_parts(
    parts: list[PartInfo], stamps: list[Any], recorded: dict[str, str]
) -> list[PartInfo]:
    """One entry per part number: the copy this service recorded last, else the newest listed."""
    latest: dict[int, tuple[float, int, PartInfo]] = {}
    for i, (p, ts) in enumerate(zip(parts, stamps, strict=True)):
        want = recorded.get(str(p.part_number))
        if want is not None and p.etag == want:
            rank = (float("inf"), i)
        else:
            rank = (ts.timestamp() if ts is not None else 0.0, i)
        if p.part_number not in latest or rank > latest[p.part_number][:2]:
            latest[p.part_number] = (*rank, p)
    return [latest[n][2] for n in sorted(latest)]


@router.post(
    "/api/v1/uploads",
    status_code=201,
    response_model=UploadInfo,
    summary="Start a resumable upload",
)
async def create_upload(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    organization_id: Annotated[uuid.UUID, Query()],
    body: UploadCreate,
) -> JSONResponse:
    settings = settings_of(request)
    service.require_editor(principal, organization_id)
    limits = service.Limits(
        settings,
        await service.used_bytes(session, organization_id),
        await service.quota_of(session, settings, organization_id),
    )
    limits.check_announced(body.size)
    name = clean_name(body.name)
    upload_id = uuid.uuid4()
    key = service.object_key(organization_id, upload_id, ascii_name(name))
    s3 = s3_of(request)
    s3_upload_id = await s3io.call(
        s3._create_multipart_upload,
        settings.s3_bucket,
        key,
        {"Content-Type": "application/octet-stream"},
    )
    now = datetime.now(UTC)
    s = UploadSession(
        id=upload_id,
        organization_id=organization_id,
        bucket=settings.s3_bucket,
        key=key,
        s3_upload_id=s3_upload_id,
        name=name,
        declared_media_type=declared_type(name, body.media_type),
        size=body.size,
        created_by=principal.sub,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.upload_session_ttl_seconds),
    )
    session.add(s)
    await session.flush()
    return JSONResponse(
        _info(s, settings).model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"/api/v1/uploads/{s.id}"},
    )


@router.get(
    "/api/v1/uploads/{upload_id}",
    response_model=UploadInfo,
    summary="A session and the parts received",
)
async def get_upload(
    request: Request, session: SessionDep, principal: CurrentPrincipal, upload_id: uuid.UUID
) -> UploadInfo:
    s = await _session_for(session, upload_id, principal)
    parts = await _list_parts(s3_of(request), s) if s.status == "open" else []
    return _info(s, settings_of(request), parts)


@router.put(
    "/api/v1/uploads/{upload_id}/parts/{part_number}",
    response_model=PartInfo,
    summary="Send one part",
)
async def put_part(
    request: Request,
    principal: CurrentPrincipal,
    upload_id: uuid.UUID,
    part_number: PartNumber,
) -> PartInfo:
    ctx: ServiceContext = ctx_of(request)
    settings = settings_of(request)
    async with ctx.sessionmaker() as db:
        s = await _session_for(db, upload_id, principal)
        _open(s)
    length_header = request.headers.get("content-length")
    if length_header is None:
        raise LengthRequired("A part needs a Content-Length")
    try:
        length = int(length_header)
    except ValueError as exc:
        raise BadRequest("Content-Length is not a number") from exc
    if length > settings.upload_max_part_size:
        raise PayloadTooLarge(
            f"A part may be at most {settings.upload_max_part_size} bytes",
            max_part_size=settings.upload_max_part_size,
        )
    if length < 1:
        raise Unprocessable(
            "A part must not be empty", errors=[field_error(["body"], "empty part")]
        )
    sem: asyncio.Semaphore = ctx.extras["part_slots"]
    async with sem:
        buf = bytearray()
        try:
            async for chunk in raw_chunks(request):
                buf += chunk
                if len(buf) > length:
                    raise BadRequest("The body is longer than its Content-Length")
        except ClientGone as exc:
            # a connection cut mid-part: nothing of it reaches S3; the client sends it again
            raise BadRequest("The part ended before Content-Length bytes arrived") from exc
        if len(buf) != length:
            raise BadRequest("The part ended before Content-Length bytes arrived")
        s3 = s3_of(request)
        try:
            etag = await s3io.call(
                s3._upload_part, s.bucket, s.key, bytes(buf), None, s.s3_upload_id, part_number
            )
        except S3Error as exc:
            if exc.code == "NoSuchUpload":
                raise UploadGone("The upload session is gone from storage") from exc
            raise
        finally:
            buf.clear()
    etag = etag.strip('"')
    async with ctx.sessionmaker() as db:
        await db.exec(  # type: ignore[call-overload]
            sa.update(UploadSession)
            .where(col(UploadSession.id) == s.id)
            .values(
                parts=UploadSession.parts.op("||")(
                    sa.func.jsonb_build_object(str(part_number), etag)
                )
            )  # type: ignore[union-attr]
        )
        await db.commit()
    return PartInfo(part_number=part_number, etag=etag, size=length)


@router.get(
    "/api/v1/uploads/{upload_id}/parts/{part_number}/presigned",
    response_model=PresignedPart,
    summary="A short-lived URL to PUT one part straight to S3",
)
async def presign_part(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    upload_id: uuid.UUID,
    part_number: PartNumber,
) -> PresignedPart:
    settings = settings_of(request)
    if not settings.presign_parts:
        raise NotFound("Presigned part URLs are switched off")
    s = await _session_for(session, upload_id, principal)
    _open(s)
    ttl = timedelta(seconds=min(settings.presign_ttl_seconds * 4, 3600))
    url = await s3io.call(
        s3_of(request).get_presigned_url,
        "PUT",
        s.bucket,
        s.key,
        expires=ttl,
        extra_query_params={"partNumber": str(part_number), "uploadId": s.s3_upload_id},
    )
    return PresignedPart(url=url, part_number=part_number, expires_at=datetime.now(UTC) + ttl)


@router.post(
    "/api/v1/uploads/{upload_id}/complete",
    status_code=201,
    response_model=FileInfo,
    summary="Assemble the parts into a file",
)
async def complete_upload(
    request: Request,
    principal: CurrentPrincipal,
    upload_id: uuid.UUID,
    body: UploadComplete | None = None,
) -> JSONResponse:
    ctx = ctx_of(request)
    settings = settings_of(request)
    s3 = s3_of(request)
    async with ctx.sessionmaker() as db:
        s = await _session_for(db, upload_id, principal)
        _open(s)
        used = await service.used_bytes(db, s.organization_id)
        quota = await service.quota_of(db, settings, s.organization_id)
    every, stamps = await _list_all(s3, s)
    listed = resolve_parts(every, stamps, s.parts or {})
    copies = {(p.part_number, p.etag): p for p in every}
    if body is not None and body.parts:
        chosen = []
        for i, p in enumerate(sorted(body.parts, key=lambda p: p.part_number)):
            have = copies.get((p.part_number, p.etag.strip('"')))
            if have is None:
                raise Unprocessable(
                    f"Part {p.part_number} was not received with that ETag",
                    errors=[field_error(["body", "parts", i], "unknown part or ETag")],
                )
            chosen.append(have)
    else:
        chosen = listed
    if not chosen:
        raise Unprocessable(
            "No parts were sent", errors=[field_error(["body", "parts"], "no parts")]
        )
    for p in chosen[:-1]:
        if (p.size or 0) < settings.upload_min_part_size:
            raise Unprocessable(
                f"Part {p.part_number} is smaller than {settings.upload_min_part_size} bytes",
                errors=[field_error(["body", "parts", p.part_number], "part too small")],
            )
    total = sum(p.size or 0 for p in chosen)
    limits = service.Limits(settings, used, quota)
    try:
        limits.check(total)
    except PayloadTooLarge:
        await _abort(ctx, s3, s, status="aborted")
        raise
    from minio.datatypes import Part

    try:
        await s3io.call(
            s3._complete_multipart_upload,
            s.bucket,
            s.key,
            s.s3_upload_id,
            [Part(p.part_number, p.etag) for p in chosen],
        )
    except S3Error as exc:
        if exc.code in ("InvalidPart", "EntityTooSmall"):
            raise Unprocessable(f"S3 refused the parts: {exc.code}") from exc
        if exc.code == "NoSuchUpload":
            raise UploadGone("The upload session is gone from storage") from exc
        raise
    result = await s3io.read_back(s3, s.bucket, s.key, settings.download_chunk_size)
    sniffed = sniff(result.head, s.name)
    try:
        service.check_type(settings, sniffed)
    except AppError:
        await s3io.remove_quietly(s3, s.bucket, s.key)
        await _mark(ctx, s.id, "aborted")
        raise
    f = StoredFile(
        id=s.id,
        organization_id=s.organization_id,
        bucket=s.bucket,
        key=s.key,
        name=s.name,
        size=result.size,
        sha256=result.sha256,
        media_type=sniffed,
        declared_media_type=s.declared_media_type,
        type_mismatch=is_mismatch(s.declared_media_type, sniffed),
        uploaded_by=principal.sub,
    )
    async with ctx.sessionmaker() as db:
        row = await db.get(UploadSession, s.id, with_for_update=True)
        assert row is not None
        if row.status == "completed":
            raise Conflict("The upload is already complete", file_id=str(row.file_id))
        row.status = "completed"
        row.file_id = f.id
        db.add(row)
        await service.record_stored(db, f)
        await db.commit()
    wake_relay(request)
    return JSONResponse(
        FileInfo.of(f, public=False, base_url=base_url(request)).model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"/api/v1/files/{f.id}", "ETag": etag_of(f)},
    )


async def _mark(ctx: ServiceContext, upload_id: uuid.UUID, status: str) -> None:
    async with ctx.sessionmaker() as db:
        row = await db.get(UploadSession, upload_id)
        if row is not None and row.status == "open":
            row.status = status
            db.add(row)
            await db.commit()


async def _abort(ctx: ServiceContext, s3: Any, s: UploadSession, *, status: str) -> None:
    await s3io.abort_quietly(s3, s.bucket, s.key, s.s3_upload_id)
    await _mark(ctx, s.id, status)


@router.delete("/api/v1/uploads/{upload_id}", status_code=204, summary="Abort: remove every part")
async def abort_upload(
    request: Request, session: SessionDep, principal: CurrentPrincipal, upload_id: uuid.UUID
) -> Response:
    s = await _session_for(session, upload_id, principal, lock=True)
    if s.status == "completed":
        raise Conflict("The upload is complete; delete the file instead", file_id=str(s.file_id))
    if s.status == "open":
        try:
            await s3io.call(s3_of(request)._abort_multipart_upload, s.bucket, s.key, s.s3_upload_id)
        except S3Error as exc:
            if exc.code != "NoSuchUpload":
                raise
        s.status = "aborted"
        session.add(s)
    return Response(status_code=204)


async def expire_sessions(ctx: ServiceContext, limit: int = 100) -> int:
    """Abort open sessions past their expiry (the background loop calls this)."""
    s3 = ctx.extras.get("s3")
    if s3 is None:
        return 0
    async with ctx.sessionmaker() as db:
        rows = (
            await db.exec(
                select(UploadSession)
                .where(
                    UploadSession.status == "open",
                    col(UploadSession.expires_at) <= datetime.now(UTC),
                )
                .limit(limit)
            )
        ).all()
    n = 0
    for s in rows:
        try:
            await s3io.call(s3._abort_multipart_upload, s.bucket, s.key, s.s3_upload_id)
        except S3Error as exc:
            if exc.code != "NoSuchUpload":
                continue
        except AppError:
            continue  # S3 down: next round
        await _mark(ctx, s.id, "expired")
        n += 1
    return n
