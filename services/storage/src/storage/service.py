"""Use cases: visibility, quotas, recording files and their events, download counts.

Never commits: the caller owns the transaction.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from datetime import UTC, date, datetime

import sqlalchemy as sa
from portal_kit.auth import Principal
from portal_kit.contracts.catalog import DatasetDocument
from portal_kit.contracts.storage import FileDeleted, FileStored
from portal_kit.errors import Forbidden, NotFound, PayloadTooLarge, UnsupportedMediaType
from portal_kit.events import outbox
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    DatasetSeen,
    DownloadCount,
    FileReference,
    OrganizationQuota,
    StoredFile,
)
from storage.settings import Settings

log = logging.getLogger("storage.service")

SOURCE = "/storage"


# -- access


def public_clause(file_id_col: sa.ColumnElement) -> sa.ColumnElement:  # type: ignore[type-arg]
    """EXISTS: a published dataset of the file's own organization references the file."""
    return sa.exists(
        sa.select(1)
        .select_from(FileReference)
        .join(DatasetSeen, col(DatasetSeen.dataset_id) == col(FileReference.dataset_id))
        .where(
            col(FileReference.file_id) == file_id_col,
            col(FileReference.public).is_(True),
            col(DatasetSeen.organization_id) == col(StoredFile.organization_id),
        )
    )


async def is_public(session: AsyncSession, f: StoredFile) -> bool:
    result = await session.exec(  # type: ignore[call-overload]
        sa.select(
            sa.exists(
                sa.select(1)
                .select_from(FileReference)
                .join(DatasetSeen, col(DatasetSeen.dataset_id) == col(FileReference.dataset_id))
                .where(
                    col(FileReference.file_id) == f.id,
                    col(FileReference.public).is_(True),
                    col(DatasetSeen.organization_id) == f.organization_id,
                )
            )
        )
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
