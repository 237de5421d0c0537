"""Use cases: visibility, quotas, recording files and their events, download counts.

Never commits: the caller owns the transaction.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from portal_kit.auth import Principal
from portal_kit.contracts.catalog import DatasetDocument
from portal_kit.contracts.quality import FileDerived
from portal_kit.contracts.storage import FileDeleted, FileStored
from portal_kit.errors import Conflict, Forbidden, NotFound, PayloadTooLarge, UnsupportedMediaType
from portal_kit.events import outbox
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import s3io
from storage.models import (
    DatasetSeen,
    DownloadCount,
    FileReference,
    OrganizationQuota,
    StoredFile,
)
from storage.names import clean_name
from storage.settings import Settings

log = logging.getLogger("storage.service")

SOURCE = "/storage"


# -- access


def _referenced(file_id: Any, derived_from: Any, organization_id: Any) -> sa.ColumnElement:  # type: ignore[type-arg]
    """EXISTS: a published dataset of the file's organization references the file, or the file
    it was derived from (a derived copy is exactly as visible as its source, at every moment)."""
    return sa.exists(
        sa.select(1)
        .select_from(FileReference)
        .join(DatasetSeen, col(DatasetSeen.dataset_id) == col(FileReference.dataset_id))
        .where(
            sa.or_(
                col(FileReference.file_id) == file_id,
                col(FileReference.file_id) == derived_from,
            ),
            col(FileReference.public).is_(True),
            col(DatasetSeen.organization_id) == organization_id,
        )
    )


def public_clause(file_id_col: sa.ColumnElement) -> sa.ColumnElement:  # type: ignore[type-arg]
    """Correlated to the outer ``files`` row (see ``_referenced``)."""
    return _referenced(file_id_col, col(StoredFile.derived_from), col(StoredFile.organization_id))


async def is_public(session: AsyncSession, f: StoredFile) -> bool:
    result = await session.exec(  # type: ignore[call-overload]
        sa.select(_referenced(f.id, f.derived_from, f.organization_id))
    )
    return bool(result.scalar_one())


def can_read_private(principal: Principal | None, organization_id: uuid.UUID) -> bool:
    return principal is not None and (
        principal.is_moderator or principal.is_member(organization_id)
    )


async def get_readable(
    session: AsyncSession, file_id: uuid.UUID, principal: Principal | None
) -> tuple[StoredFile, bool]:
    """The file and whether it is public; 404 when missing, deleted or not visible to the caller."""
    f = await session.get(StoredFile, file_id)
    if f is None or f.deleted_at is not None:
        raise NotFound("File not found")
    public = await is_public(session, f)
    if not public and not can_read_private(principal, f.organization_id):
        raise NotFound("File not found")
    return f, public


def require_editor(principal: Principal, organization_id: uuid.UUID) -> None:
    if not principal.can_edit(organization_id):
        raise Forbidden("Only editors of the organization may upload or delete its files")


# -- limits


async def used_bytes(session: AsyncSession, organization_id: uuid.UUID) -> int:
    result = await session.exec(  # type: ignore[call-overload]
        sa.select(sa.func.coalesce(sa.func.sum(StoredFile.size), 0)).where(
            col(StoredFile.organization_id) == organization_id,
            col(StoredFile.deleted_at).is_(None),
        )
    )
    return int(result.scalar_one())


async def quota_of(session: AsyncSession, settings: Settings, organization_id: uuid.UUID) -> int:
    row = await session.get(OrganizationQuota, organization_id)
    return row.quota_bytes if row is not None else settings.organization_quota


class QuotaExceeded(PayloadTooLarge):
    slug = "quota-exceeded"


class Limits:
    """Checks made while bytes stream in: maximum file size and the organization's quota."""

    def __init__(self, settings: Settings, used: int, quota: int) -> None:
        self.max_size = settings.max_file_size
        self.used = used
        self.quota = quota

    def check_announced(self, size: int | None) -> None:
        if size is not None:
            self.check(size)

    def check(self, size: int) -> None:
        if size > self.max_size:
            raise PayloadTooLarge(
                f"The file is larger than the maximum of {self.max_size} bytes",
                max_size=self.max_size,
            )
        if self.quota and self.used + size > self.quota:
            raise QuotaExceeded(
                "The organization's storage quota would be exceeded",
                quota_bytes=self.quota,
                used_bytes=self.used,
            )


def check_type(settings: Settings, sniffed: str) -> None:
    if sniffed in settings.denied_media_types or sniffed not in settings.allowed_media_types:
        raise UnsupportedMediaType(f"Files of type {sniffed} are not accepted", media_type=sniffed)


# -- recording


async def record_stored(session: AsyncSession, f: StoredFile) -> None:
    session.add(f)
    await session.flush()
    await outbox.record(
        session,
        source=SOURCE,
        type="storage.file.stored",
        data=FileStored(
            id=f.id,
            organization_id=f.organization_id,
            bucket=f.bucket,
            key=f.key,
            size=f.size,
            sha256=f.sha256,
            media_type=f.media_type,
            original_name=f.name,
            uploaded_by=f.uploaded_by,
            created_at=f.created_at,
            declared_media_type=f.declared_media_type,
            type_mismatch=f.type_mismatch,
            derived_from=f.derived_from,
        ),
        subject=str(f.id),
    )


async def record_deleted(session: AsyncSession, f: StoredFile) -> None:
    f.deleted_at = datetime.now(UTC)
    session.add(f)
    await outbox.record(
        session,
        source=SOURCE,
        type="storage.file.deleted",
        data=FileDeleted(id=f.id, organization_id=f.organization_id, bucket=f.bucket, key=f.key),
        subject=str(f.id),
    )


def object_key(organization_id: uuid.UUID, file_id: uuid.UUID, ascii: str) -> str:
    return f"files/{organization_id}/{file_id}/{ascii}"


# -- derived copies (quality's UTF-8 CSV of a spreadsheet)

# uuid5(DERIVED_NAMESPACE, "<source id>:<sha256>"): the same CSV of the same source is one file,
# however often the event is delivered or the source re-validated
DERIVED_NAMESPACE = uuid.UUID("6f1d3c0e-5b7a-4e0c-9a51-2d6f7c1b8e40")
DERIVED_TYPES = ("text/csv",)


class DerivedRejected(ValueError):
    """The event cannot be recorded as it is (the consumer retries, then dead-letters it)."""


def derived_id(source_id: uuid.UUID, sha256: str) -> uuid.UUID:
    return uuid.uuid5(DERIVED_NAMESPACE, f"{source_id}:{sha256.lower()}")


async def record_derived(
    session: AsyncSession, s3: Any, settings: Settings, ev: FileDerived
) -> StoredFile | None:
    """Record the derived object as a file of the source's organization and emit
    ``storage.file.stored``; None when it is already recorded or the source is gone."""
    fid = derived_id(ev.source_file_id, ev.sha256)
    existing = await session.get(StoredFile, fid, with_for_update=True)
    if existing is not None:
        if existing.deleted_at is not None and existing.purged:
            existing.purged = False  # the object was written again: the purge loop removes it
            session.add(existing)
        return None
    # the lock orders this against a concurrent DELETE of the source
    source = await session.get(StoredFile, ev.source_file_id, with_for_update=True)
    if source is None:
        raise DerivedRejected(f"unknown source file {ev.source_file_id}")
    if source.derived_from is not None:
        raise DerivedRejected("a derived file is never derived again")
    if ev.organization_id is not None and ev.organization_id != source.organization_id:
        raise DerivedRejected("the event's organization is not the source's")
    if ev.bucket != settings.s3_bucket or ev.key.startswith("files/") or len(ev.key) > 1024:
        raise DerivedRejected(f"refusing object {ev.bucket}/{ev.key}")
    media = ev.media_type.strip()[:255]
    if media.split(";", 1)[0].strip().lower() not in DERIVED_TYPES:
        raise DerivedRejected(f"a derived file of type {media} is not expected")
    if len(ev.sha256) != 64 or ev.size < 0:
        raise DerivedRejected("size or sha256 malformed")
    if source.deleted_at is not None:  # deleted meanwhile: the copy goes with it
        await s3io.remove_quietly(s3, ev.bucket, ev.key)
        return None
    stat = await s3io.call(s3.stat_object, ev.bucket, ev.key)  # missing: S3Error -> retried
    if stat.size != ev.size:
        raise DerivedRejected(f"object has {stat.size} bytes, the event says {ev.size}")
    f = StoredFile(
        id=fid,
        organization_id=source.organization_id,
        bucket=ev.bucket,
        key=ev.key,
        name=clean_name(ev.name, fallback="derived.csv"),
        size=ev.size,
        sha256=ev.sha256.lower(),
        media_type=media,
        declared_media_type=media,
        uploaded_by=source.uploaded_by,
        derived_from=source.id,
    )
    await record_stored(session, f)
    return f


async def derived_of(
    session: AsyncSession, source_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[StoredFile]]:
    """The live derived copies of each source, oldest first."""
    if not source_ids:
        return {}
    rows = (
        await session.exec(
            select(StoredFile)
            .where(
                col(StoredFile.derived_from).in_(source_ids), col(StoredFile.deleted_at).is_(None)
            )
            .order_by(col(StoredFile.created_at), col(StoredFile.id))
        )
    ).all()
    out: dict[uuid.UUID, list[StoredFile]] = {}
    for f in rows:
        out.setdefault(f.derived_from, []).append(f)  # type: ignore[arg-type]
    return out


async def delete_with_derived(session: AsyncSession, f: StoredFile) -> list[StoredFile]:
    """Delete a file and its derived copies (one event each); returns every file deleted.
    409 when a copy is itself named by a published dataset."""
    copies = (await derived_of(session, [f.id])).get(f.id, [])
    for c in copies:
        if await is_public(session, c):
            raise Conflict(
                "A CSV derived from this file belongs to a published dataset; remove it there first"
            )
    for c in [f, *copies]:
        await record_deleted(session, c)
    return [f, *copies]


# -- visibility from catalog events


async def apply_dataset(
    session: AsyncSession, doc: DatasetDocument, *, without_resource: uuid.UUID | None = None
) -> bool:
    """Replace the dataset's file references if ``doc`` is newer than what was applied."""
    seen = await session.get(DatasetSeen, doc.id, with_for_update=True)
    if seen is not None and seen.revision >= doc.revision:
        return False
    if seen is None:
        seen = DatasetSeen(dataset_id=doc.id)
    seen.revision = doc.revision
    seen.status = doc.status
    seen.organization_id = doc.organization_id
    session.add(seen)
    await session.exec(  # type: ignore[call-overload]
        sa.delete(FileReference).where(col(FileReference.dataset_id) == doc.id)
    )
    if doc.status != "deleted":
        public = doc.status == "published"
        file_ids = {
            r.file_id for r in doc.resources if r.file_id is not None and r.id != without_resource
        }
        for fid in file_ids:
            session.add(FileReference(file_id=fid, dataset_id=doc.id, public=public))
    await session.flush()
    return True


# -- download counts


class DownloadCounter:
    """Counts downloads in memory; ``flush`` adds them to the table in one statement."""

    def __init__(self) -> None:
        self.pending: Counter[tuple[uuid.UUID, date]] = Counter()
        self._lock = asyncio.Lock()

    def add(self, file_id: uuid.UUID) -> None:
        self.pending[(file_id, datetime.now(UTC).date())] += 1

    async def flush(self, sessionmaker: async_sessionmaker[AsyncSession]) -> int:
        async with self._lock:
            if not self.pending:
                return 0
            batch, self.pending = self.pending, Counter()
            rows = [{"file_id": f, "day": d, "count": n} for (f, d), n in batch.items()]
            try:
                async with sessionmaker() as session:
                    stmt = insert(DownloadCount).values(rows)
                    stmt = stmt.on_conflict_do_update(
                        index_elements=["file_id", "day"],
                        set_={"count": DownloadCount.count + stmt.excluded["count"]},  # type: ignore[operator]
                    )
                    await session.exec(stmt)  # type: ignore[call-overload]
                    await session.commit()
            except Exception:
                self.pending.update(batch)  # try again next time
                log.exception("could not flush download counts")
                return 0
            return len(rows)


async def file_stats(session: AsyncSession, file_id: uuid.UUID) -> list[tuple[date, int]]:
    result = await session.exec(  # type: ignore[call-overload]
        select(DownloadCount.day, DownloadCount.count)
        .where(DownloadCount.file_id == file_id)
        .order_by(col(DownloadCount.day))
    )
    return [(d, int(n)) for d, n in result.all()]
