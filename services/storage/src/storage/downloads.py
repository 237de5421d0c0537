"""Serving bytes: conditional GET, single and multiple byte ranges, HEAD, presigned redirects."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from minio import Minio
from portal_kit.errors import AppError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from storage import s3io
from storage.models import StoredFile
from storage.names import content_disposition
from storage.settings import Settings

MAX_RANGES = 50


class RangeNotSatisfiable(AppError):
    status = 416


def etag_of(f: StoredFile) -> str:
    return f'"{f.sha256}"'


def http_date(dt: datetime) -> str:
    return format_datetime(dt.astimezone(UTC).replace(microsecond=0), usegmt=True)


def _etags(header: str) -> list[str]:
    return [t.strip().removeprefix("W/") for t in header.split(",") if t.strip()]


def not_modified(request: Request, f: StoredFile) -> bool:
    inm = request.headers.get("if-none-match")
    if inm is not None:
        tags = _etags(inm)
        return "*" in tags or etag_of(f) in tags
    ims = request.headers.get("if-modified-since")
    if ims:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return f.created_at.replace(microsecond=0) <= since
    return False


def parse_ranges(header: str | None, size: int) -> list[tuple[int, int]] | None:
    """Inclusive (start, end) ranges; None = serve the whole file; 416 when none is satisfiable."""
    if not header or size == 0:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not spec.strip():
        return None
    ranges: list[tuple[int, int]] = []
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) > MAX_RANGES:
        return None
    for part in parts:
        first, dash, last = part.partition("-")
        if not dash:
            return None
        first, last = first.strip(), last.strip()
        try:
            if first == "":
                n = int(last)
                if n < 0 or not last.isdigit():
                    return None
                if n == 0:
                    continue
                ranges.append((max(0, size - n), size - 1))
                continue
            if not first.isdigit() or (last and not last.isdigit()):
                return None
            start = int(first)
            end = int(last) if last else size - 1
        except ValueError:
            return None
        if start >= size:
            continue
        if end < start:
            return None
        ranges.append((start, min(end, size - 1)))
    if not ranges:
        raise RangeNotSatisfiable(
            "None of the requested ranges is inside the file",
            headers={"Content-Range": f"bytes */{size}"},
            size=size,
        )
    return ranges


def if_range_ok(request: Request, f: StoredFile) -> bool:
    value = request.headers.get("if-range")
    if not value:
        return True
    value = value.strip()
    if value.startswith('"') or value.startswith("W/"):
        return value == etag_of(f)  # strong comparison only
    try:
        return parsedate_to_datetime(value) >= f.created_at.replace(microsecond=0)
    except (TypeError, ValueError, IndexError):
        return False


def base_headers(f: StoredFile, public: bool) -> dict[str, str]:
    return {
        "ETag": etag_of(f),
        "Last-Modified": http_date(f.created_at),
        "Accept-Ranges": "bytes",
        "Cache-Control": "public, max-age=300" if public else "private, no-cache",
        "Vary": "Authorization",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }


def _content_type(f: StoredFile) -> str:
    if f.media_type.startswith("text/") and f.media_type != "text/html":
        return f"{f.media_type}"
    if f.media_type == "text/html":
        return "text/plain"  # never let a user's upload render as a page of ours
    return f.media_type


async def serve(
    request: Request,
    f: StoredFile,
    *,
    public: bool,
    s3: Minio,
    settings: Settings,
    on_download: Any,
) -> Response:
    headers = base_headers(f, public)
    if not_modified(request, f):
        return Response(status_code=304, headers=headers)
    headers["Content-Disposition"] = content_disposition(f.name)
    ctype = _content_type(f)
    ranges = parse_ranges(request.headers.get("range"), f.size) if if_range_ok(request, f) else None
    head = request.method == "HEAD"
    headers["Content-Type"] = ctype

    if settings.redirect_downloads and not head:
        url = await s3io.call(
            s3.presigned_get_object,
            f.bucket,
            f.key,
            expires=timedelta(seconds=settings.presign_ttl_seconds),
            response_headers={
                "response-content-type": ctype,
                "response-content-disposition": headers["Content-Disposition"],
            },
        )
        on_download(f.id)
        return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})

    if ranges is None:
        headers["Content-Length"] = str(f.size)
        if head:
            return Response(status_code=200, headers=headers)
        resp = await s3io.open_object(s3, f.bucket, f.key) if f.size else None
        on_download(f.id)
        return StreamingResponse(_body(resp, settings.download_chunk_size), headers=headers)

    if len(ranges) == 1:
        start, end = ranges[0]
        headers["Content-Range"] = f"bytes {start}-{end}/{f.size}"
        headers["Content-Length"] = str(end - start + 1)
        if head:
            return Response(status_code=206, headers=headers)
        resp = await s3io.open_object(s3, f.bucket, f.key, start, end - start + 1)
        if start == 0:
            on_download(f.id)
        return StreamingResponse(
            _body(resp, settings.download_chunk_size),
            status_code=206,
            headers=headers,
        )

    boundary = secrets.token_hex(16)
    preambles = [
        (
            f"--{boundary}\r\nContent-Type: {ctype}\r\n"
            f"Content-Range: bytes {s}-{e}/{f.size}\r\n\r\n"
        ).encode()
        for s, e in ranges
    ]
    closing = f"--{boundary}--\r\n".encode()
    length = sum(len(p) + (e - s + 1) + 2 for p, (s, e) in zip(preambles, ranges, strict=True))
    headers["Content-Length"] = str(length + len(closing))
    headers["Content-Type"] = f"multipart/byteranges; boundary={boundary}"
    if head:
        return Response(status_code=206, headers=headers)
    first = await s3io.open_object(
        s3, f.bucket, f.key, ranges[0][0], ranges[0][1] - ranges[0][0] + 1
    )

    async def body() -> AsyncIterator[bytes]:
        for i, (pre, (s, e)) in enumerate(zip(preambles, ranges, strict=True)):
            yield pre
            resp = first if i == 0 else await s3io.open_object(s3, f.bucket, f.key, s, e - s + 1)
            async for chunk in s3io.iter_object(resp, settings.download_chunk_size):
                yield chunk
            yield b"\r\n"
        yield closing

    return StreamingResponse(body(), status_code=206, headers=headers)


async def _body(resp: Any, chunk_size: int) -> AsyncIterator[bytes]:
    if resp is None:
        return
    async for chunk in s3io.iter_object(resp, chunk_size):
        yield chunk
    await asyncio.sleep(0)
