"""The S3 side: a minio client with short timeouts, streamed multipart writes, streamed reads.

The minio client is synchronous; every call runs in a worker thread. A streamed upload keeps at
most two parts in memory: one being filled from the request while the previous one is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import urllib3
from minio import Minio
from minio.datatypes import Part
from minio.error import MinioException, S3Error
from portal_kit.errors import AppError, ServiceUnavailable
from urllib3.exceptions import HTTPError as Urllib3Error

from storage.settings import Settings

log = logging.getLogger("storage.s3")


class StorageUnavailable(ServiceUnavailable):
    slug = "storage-unavailable"

    def __init__(self, detail: str = "The object storage is unavailable; try again later") -> None:
        super().__init__(detail, headers={"Retry-After": "10"})


S3_ERRORS = (MinioException, Urllib3Error, OSError, ValueError)


def make_client(settings: Settings) -> Minio:
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=settings.s3_connect_timeout, read=settings.s3_read_timeout),
        maxsize=32,
        retries=urllib3.Retry(
            total=settings.s3_retries, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
        ),
    )
    return Minio(
        settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=settings.s3_secure,
        region=settings.s3_region,
        http_client=http,
    )


async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a minio call in a thread; transport and server failures become a 503 problem."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except S3Error as exc:
        if exc.code in (
            "NoSuchKey",
            "NoSuchUpload",
            "NoSuchBucket",
            "EntityTooSmall",
            "InvalidPart",
        ):
            raise
        log.warning("S3 error %s: %s", exc.code, exc.message)
        raise StorageUnavailable() from exc
    except S3_ERRORS as exc:
        log.warning("S3 unreachable: %r", exc)
        raise StorageUnavailable() from exc


async def ensure_bucket(s3: Minio, bucket: str) -> None:
    if not await call(s3.bucket_exists, bucket):
        try:
            await call(s3.make_bucket, bucket)
        except S3Error as exc:  # created meanwhile by another replica
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise


class UploadRejected(AppError):
    """Raised from the ``check`` callback while streaming; the partial object is removed."""


@dataclass
class StreamResult:
    size: int
    sha256: str
    head: bytes
    etag: str | None = None
    key: str = ""


@dataclass
class _Multipart:
    upload_id: str | None = None
    parts: list[Part] = field(default_factory=list)
    pending: asyncio.Future[Any] | None = None
    next_number: int = 1


async def stream_to_s3(
    s3: Minio,
    bucket: str,
    key_: str | Callable[[], str],
    chunks: AsyncIterator[bytes],
    *,
    part_size: int,
    content_type: str = "application/octet-stream",
    on_head: Callable[[bytes], Any] | None = None,
    on_progress: Callable[[int], Any] | None = None,
    head_size: int = 8192,
) -> StreamResult:
    """Write ``chunks`` to ``bucket/key``; single PUT when small, multipart otherwise.

    ``on_head(first_bytes)`` runs once before anything is written (it may raise to refuse the
    file); ``on_progress(total)`` after each chunk (it may raise, e.g. size limit). On any error
    the multipart upload is aborted, so nothing is left behind.
    """
    digest = hashlib.sha256()
    size = 0
    head = b""
    head_done = on_head is None
    pieces: list[bytes] = []
    filled = 0
    mp = _Multipart()
    headers = {"Content-Type": content_type}
    key = ""

    def resolve() -> str:
        nonlocal key
        if not key:
            key = key_ if isinstance(key_, str) else key_()
        return key

    async def flush_part(data: bytes) -> None:
        if mp.upload_id is None:
            mp.upload_id = await call(s3._create_multipart_upload, bucket, resolve(), dict(headers))
        if mp.pending is not None:
            await mp.pending  # at most one part in flight while the next one fills
            mp.pending = None
        number = mp.next_number
        mp.next_number += 1

        async def send() -> None:
            etag = await call(s3._upload_part, bucket, key, data, None, mp.upload_id, number)
            mp.parts.append(Part(number, etag))

        mp.pending = asyncio.ensure_future(send())

    try:
        async for chunk in chunks:
            if not chunk:
                continue
            digest.update(chunk)
            size += len(chunk)
            if not head_done:
                head += chunk[: max(0, head_size - len(head))]
                if len(head) >= head_size:
                    head_done = True
                    assert on_head is not None
                    on_head(head)
            if on_progress is not None:
                on_progress(size)
            pieces.append(chunk)
            filled += len(chunk)
            if filled >= part_size:
                # one copy per part: the pieces are joined, then dropped
                over = filled - part_size
                rest = b""
                if over:
                    last = pieces[-1]
                    pieces[-1] = last[: len(last) - over]
                    rest = last[len(last) - over :]
                data = b"".join(pieces)
                pieces.clear()
                if rest:
                    pieces.append(rest)
                filled = len(rest)
                await flush_part(data)
                del data, rest
        if not head_done and on_head is not None:
            on_head(head)
        if mp.pending is not None:
            await mp.pending
            mp.pending = None
        if mp.upload_id is None:
            data = b"".join(pieces)
            pieces.clear()
            result = await call(
                s3.put_object,
                bucket,
                resolve(),
                io.BytesIO(data),
                len(data),
                content_type=content_type,
            )
            return StreamResult(size, digest.hexdigest(), head, result.etag, key)
        if pieces:
            last = b"".join(pieces)
            pieces.clear()
            await flush_part(last)
            del last
            assert mp.pending is not None
            await mp.pending
            mp.pending = None
        parts = sorted(mp.parts, key=lambda p: p.part_number)
        result = await call(s3._complete_multipart_upload, bucket, key, mp.upload_id, parts)
        return StreamResult(size, digest.hexdigest(), head, result.etag, key)
    except BaseException:
        if mp.pending is not None:
            mp.pending.cancel()
            with contextlib.suppress(BaseException):
                await mp.pending
        if mp.upload_id is not None:
            await abort_quietly(s3, bucket, key, mp.upload_id)
        raise


async def abort_quietly(s3: Minio, bucket: str, key: str, upload_id: str) -> None:
    try:
        await asyncio.shield(asyncio.to_thread(s3._abort_multipart_upload, bucket, key, upload_id))
    except S3Error as exc:
        if exc.code != "NoSuchUpload":
            log.warning("could not abort multipart upload %s: %s", key, exc.code)
    except Exception as exc:  # noqa: BLE001 - the cleanup loop retries
        log.warning("could not abort multipart upload %s: %r", key, exc)


async def remove_quietly(s3: Minio, bucket: str, key: str) -> bool:
    try:
        await asyncio.to_thread(s3.remove_object, bucket, key)
        return True
    except S3Error as exc:
        return exc.code == "NoSuchKey"
    except Exception as exc:  # noqa: BLE001
        log.warning("could not remove %s: %r", key, exc)
        return False


async def open_object(
    s3: Minio, bucket: str, key: str, offset: int = 0, length: int | None = None
) -> Any:
    """Start a GET (so a failure is known before any response header is sent)."""
    kwargs: dict[str, Any] = {"offset": offset}
    if length is not None:
        kwargs["length"] = length
    return await call(s3.get_object, bucket, key, **kwargs)


async def iter_object(resp: Any, chunk_size: int) -> AsyncIterator[bytes]:
    """Yield the body of an open GET response; always releases the connection."""
    try:
        while True:
            chunk = await asyncio.to_thread(resp.read, chunk_size)
            if not chunk:
                break
            yield chunk
    finally:
        resp.close()
        resp.release_conn()


async def read_back(
    s3: Minio, bucket: str, key: str, chunk_size: int, head_size: int = 8192
) -> StreamResult:
    """Hash an object by streaming it back (for objects assembled from client parts)."""
    resp = await open_object(s3, bucket, key)
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        async for chunk in iter_object(resp, chunk_size):
            digest.update(chunk)
            if len(head) < head_size:
                head += chunk[: head_size - len(head)]
            size += len(chunk)
    except S3_ERRORS as exc:
        raise StorageUnavailable() from exc
    return StreamResult(size, digest.hexdigest(), head)
