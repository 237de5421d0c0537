import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from portal_kit.app import ServiceContext, ServiceSpec, create_service_app
from portal_kit.events.worker import StreamSpec
from sqlmodel import col, select

from storage import s3io
from storage.handlers import subscriptions
from storage.models import StoredFile
from storage.routes import router as files_router
from storage.service import DownloadCounter
from storage.settings import Settings
from storage.uploads import expire_sessions
from storage.uploads import router as uploads_router

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

log = logging.getLogger("storage")


async def purge_deleted(ctx: ServiceContext, limit: int = 100) -> int:
    """Remove objects of deleted files that the DELETE request could not remove."""
    s3 = ctx.extras.get("s3")
    if s3 is None:
        return 0
    async with ctx.sessionmaker() as db:
        rows = (
            await db.exec(
                select(StoredFile)
                .where(col(StoredFile.deleted_at).is_not(None), col(StoredFile.purged).is_(False))
                .limit(limit)
            )
        ).all()
        n = 0
        for f in rows:
            if await s3io.remove_quietly(s3, f.bucket, f.key):
                f.purged = True
                db.add(f)
                n += 1
        await db.commit()
    return n


def _bound_malloc() -> None:
    """Buffers of a part (MiBs) come from mmap and go back to the OS when freed; glibc's
    dynamic threshold would otherwise keep them on the heap and the RSS only grows."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1024 * 1024)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 4 * 1024 * 1024)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


async def startup(ctx: ServiceContext) -> None:
    settings: Settings = ctx.settings  # type: ignore[assignment]
    _bound_malloc()
    s3 = s3io.make_client(settings)
    ctx.s3 = s3  # readiness checks the bucket with this client
    ctx.extras["s3"] = s3
    ctx.extras["downloads"] = DownloadCounter()
    ctx.extras["part_slots"] = asyncio.Semaphore(max(1, settings.upload_part_concurrency))
    ctx.extras["bucket_ready"] = False

    async def ensure_bucket() -> bool:
        try:
            await s3io.ensure_bucket(s3, settings.s3_bucket)
            ctx.extras["bucket_ready"] = True
            return True
        except Exception as exc:  # noqa: BLE001 - S3 may start after us
            log.warning("bucket %s not ready: %r", settings.s3_bucket, exc)
            return False

    if not await ensure_bucket():

        async def retry_bucket() -> None:
            while not await ensure_bucket() and await ctx.sleep(2.0):
                pass

        ctx.spawn(retry_bucket(), "bucket")

    async def flush_loop() -> None:
        counter: DownloadCounter = ctx.extras["downloads"]
        while await ctx.sleep(settings.stats_flush_interval):
            await counter.flush(ctx.sessionmaker)

    async def cleanup_loop() -> None:
        while await ctx.sleep(settings.upload_cleanup_interval):
            try:
                await expire_sessions(ctx)
                await purge_deleted(ctx)
            except Exception:
                log.exception("cleanup failed at %s", datetime.now(UTC))

    ctx.spawn(flush_loop(), "download-counts")
    ctx.spawn(cleanup_loop(), "cleanup")


async def shutdown(ctx: ServiceContext) -> None:
    counter: DownloadCounter | None = ctx.extras.get("downloads")
    if counter is not None:
        await counter.flush(ctx.sessionmaker)


SPEC = ServiceSpec(
    name="storage",
    title="Storage",
    description="Files in S3: streamed uploads, resumable uploads, downloads with ranges",
    routers=[uploads_router, files_router],
    stream=StreamSpec(name="STORAGE", subjects=["storage.>"]),
    subscriptions=subscriptions,
    uses_s3=True,
    on_startup=[startup],
    on_shutdown=[shutdown],
)


def create_app(settings: Settings | None = None, *, with_routes: bool = True) -> FastAPI:
    return create_service_app(SPEC, settings or Settings(), with_routes=with_routes)
