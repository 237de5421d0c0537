"""Use cases: apply catalog/storage documents, validate files, score datasets, monitor.

Never commits; the caller (request, consumer or background job) owns the transaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from portal_kit.contracts.harvest import DatasetValidated
from portal_kit.contracts.quality import (
    DatasetAssessed,
    DatasetOverdue,
    FileDerived,
    ResourceAssessed,
)
from portal_kit.contracts.quality import Finding as FindingDoc
from portal_kit.db import utc_now
from portal_kit.events.outbox import record
from sqlmodel.ext.asyncio.session import AsyncSession

from quality.methodology import methodology, structure_tables, version
from quality.models import (
    QDataset,
    QDatasetScore,
    QDcatValidation,
    QFile,
    QOrganization,
    QOverdueNotice,
    QRegisterEntry,
    QResource,
    QUrlCheck,
)
from quality.scoring import ResourceState, norm_format, score_dataset

log = logging.getLogger("quality.service")
SOURCE = "/quality"


def _uuid(v: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(v)) if v else None
    except ValueError:
        return None


def _dt(v: Any) -> datetime | None:
    if not v:
        return None
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=UTC)
    try:
        d = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


# ---------------------------------------------------------------- catalog documents
async def apply_organization(
    session: AsyncSession, doc: dict[str, Any], deleted: bool = False
) -> bool:
    oid = _uuid(doc.get("id"))
    if oid is None:
        return False
    rev = int(doc.get("revision") or 1)
    row = await session.get(QOrganization, oid)
    if row is not None and row.revision > rev:
        return False  # an older revision arrived late
    if row is None:
        row = QOrganization(id=oid)
        session.add(row)
    row.revision, row.doc, row.deleted, row.updated_at = rev, doc, deleted, utc_now()
    return True


async def apply_register(session: AsyncSession, doc: dict[str, Any], deleted: bool = False) -> bool:
    rid = _uuid(doc.get("id"))
    if rid is None:
        return False
    rev = int(doc.get("revision") or 1)
    row = await session.get(QRegisterEntry, rid)
    if row is not None and row.revision > rev:
        return False
    if row is None:
        row = QRegisterEntry(id=rid)
        session.add(row)
    row.organization_id = _uuid(doc.get("organization_id"))
    row.dataset_id = _uuid(doc.get("dataset_id"))
    row.status = "withdrawn" if deleted else str(doc.get("status") or "planned")
    row.revision, row.doc = rev, doc
    return True


async def apply_dataset(
    session: AsyncSession,
    doc: dict[str, Any],
    *,
    deleted: bool = False,
    event_time: datetime | None = None,
) -> bool:
    """Keep the newest revision of a dataset and its resources; recompute its score."""
    did = _uuid(doc.get("id"))
    oid = _uuid(doc.get("organization_id"))
    if did is None or oid is None:
        return False
    rev = int(doc.get("revision") or 1)
    row = await session.get(QDataset, did)
    if row is not None and (row.revision > rev or (row.revision == rev and not deleted)):
        return False
    if row is None:
        row = QDataset(id=did, organization_id=oid)
        session.add(row)
    row.organization_id, row.revision, row.doc = oid, rev, doc
    row.status = "deleted" if deleted else str(doc.get("status") or "draft")
    row.deleted = deleted or row.status == "deleted"
    row.updated_at = utc_now()
    # resources: content changes move last_data_update, metadata edits do not
    existing = {
        r.id: r
        for r in (
            await session.exec(  # type: ignore[call-overload]
                sa.select(QResource).where(QResource.dataset_id == did)
            )
        )
        .scalars()
        .all()
    }
    seen = set()
    for rd in doc.get("resources") or []:
        rid = _uuid(rd.get("id"))
        if rid is None:
            continue
        seen.add(rid)
        r = existing.get(rid)
        fid = _uuid(rd.get("file_id"))
        sha = rd.get("sha256")
        url = rd.get("url") if not fid else None
        changed_at = _dt(rd.get("modified_at")) or event_time or utc_now()
        if r is None:
            r = QResource(
                id=rid,
                dataset_id=did,
                file_id=fid,
                sha256=sha,
                url=url,
                content_changed_at=changed_at,
            )
            session.add(r)
        else:
            if (sha and sha != r.sha256) or (fid != r.file_id and not (sha and sha == r.sha256)):
                r.content_changed_at = changed_at
            r.file_id, r.sha256, r.url, r.active = fid, sha or r.sha256, url, True
        if url:
            await ensure_url_check(session, url)
    for rid, r in existing.items():
        if rid not in seen:
            r.active = False
    if structure_tables(doc.get("list_code")):
        # a file validated before its dataset named the published structure: validate again
        for rd in doc.get("resources") or []:
            f = (
                await session.get(QFile, _uuid(rd.get("file_id")))
                if _uuid(rd.get("file_id"))
                else None
            )
            if (
                f is not None
                and f.status == "done"
                and f.schema_source == "inferred"
                and f.attempts < 3
            ):
                f.status = "pending"
    await session.flush()
    await recompute_dataset(session, did)
    return True


async def apply_dcat_validation(session: AsyncSession, data: dict[str, Any]) -> bool:
    """Keep harvest-export's newest SHACL result of a dataset (by ``(revision, validated_at)``:
    the same revision is re-validated when its organization or assessment changes the export);
    False when it is not newer than the stored one. Rescores the dataset."""
    ev = DatasetValidated.model_validate(data)
    row = await session.get(QDcatValidation, ev.dataset_id, with_for_update=True)
    if row is not None and (ev.revision, ev.validated_at) <= (row.revision, row.validated_at):
        return False
    if row is None:
        row = QDcatValidation(dataset_id=ev.dataset_id)
        session.add(row)
    row.revision, row.conforms, row.profile = ev.revision, ev.conforms, ev.profile
    row.violations, row.validated_at = list(ev.violations), ev.validated_at
    await session.flush()
    await recompute_dataset(session, ev.dataset_id)
    return True


async def dcat_validation(session: AsyncSession, dataset_id: Any) -> dict[str, Any] | None:
    """The stored SHACL result of a dataset's export, or None (never built: drafts, or not yet)."""
    did = _uuid(dataset_id)
    row = await session.get(QDcatValidation, did) if did else None
    if row is None:
        return None
    return {
        "conforms": row.conforms,
        "violations": row.violations,
        "revision": row.revision,
        "profile": row.profile,
        "validated_at": row.validated_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


async def ensure_url_check(session: AsyncSession, url: str) -> None:
    url = url[:2000]
    if await session.get(QUrlCheck, url) is None:
        from urllib.parse import urlsplit

        session.add(QUrlCheck(url=url, host=(urlsplit(url).hostname or "")[:255]))


# ---------------------------------------------------------------- files
async def record_file(session: AsyncSession, data: dict[str, Any]) -> bool:
    fid = _uuid(data.get("id"))
    if fid is None:
        return False
    source_id = _uuid(data.get("derived_from"))
    if source_id is not None:
        # storage recorded the CSV we derived: the source's report now names the storage file
        # (only the current CSV of the source: an older one announced late is not taken)
        src = await session.get(QFile, source_id, with_for_update=True)
        if src is not None and src.derived_sha256 and src.derived_sha256 == data.get("sha256"):
            src.derived_file_id = fid
    row = await session.get(QFile, fid)
    if row is not None:
        return False
    session.add(
        QFile(
            id=fid,
            organization_id=_uuid(data.get("organization_id")),
            bucket=str(data.get("bucket")),
            key=str(data.get("key")),
            size=int(data.get("size") or 0),
            sha256=data.get("sha256"),
            media_type=data.get("media_type"),
            original_name=data.get("original_name"),
            created_at=_dt(data.get("created_at")),
            status="pending",
            derived_from=source_id,
        )
    )
    return True


def schema_for_file(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for d in docs:
        tables = structure_tables(d.get("list_code"))
        if tables:
            return tables
    return []


async def datasets_for_file(session: AsyncSession, file_id: uuid.UUID) -> list[QDataset]:
    res = await session.exec(  # type: ignore[call-overload]
        sa.select(QDataset)
        .join(QResource, QResource.dataset_id == QDataset.id)
        .where(QResource.file_id == file_id, QResource.active.is_(True))
    )  # type: ignore[attr-defined]
    return list(res.scalars().unique().all())


def summarize(report: dict[str, Any]) -> dict[str, Any]:
    return {
        k: report.get(k)
        for k in (
            "detected_format",
            "declared_format",
            "encoding",
            "delimiter",
            "tabular",
            "schema_source",
            "structure_table",
            "rows",
            "columns",
            "fields",
            "bad_rows",
            "err_rate",
            "fatal",
            "valid",
            "error_count",
            "error_counts",
            "errors_truncated",
            "bytes_read",
            "sha256",
            "sheet",
            "sheets",
            "parse_check",
            "note",
            "derived_csv",
        )
    } | {"errors": report.get("errors", [])}


@dataclass(frozen=True)
class DerivedObject:
    """The UTF-8 CSV written to S3 for a spreadsheet (content-addressed key)."""

    bucket: str
    key: str
    size: int
    sha256: str


def derived_name(name: str | None) -> str:
    """The source's name with ``.csv`` in place of its extension (Unicode kept)."""
    base = (name or "").strip() or "data"
    stem, dot, ext = base.rpartition(".")
    if dot and stem.strip() and 0 < len(ext) <= 5:
        base = stem
    return base + ".csv"


async def _announce_derived(
    session: AsyncSession, row: QFile, d: DerivedObject, sheet: Any
) -> None:
    """``quality.file.derived`` in the report's transaction: storage records it as a file."""
    await record(
        session,
        source=SOURCE,
        type="quality.file.derived",
        subject=str(row.id),
        data=FileDerived(
            source_file_id=row.id,
            source_sha256=row.sha256,
            organization_id=row.organization_id,
            bucket=d.bucket,
            key=d.key,
            size=d.size,
            sha256=d.sha256,
            media_type=DERIVED_MEDIA_TYPE,
            name=derived_name(row.original_name),
            sheet=sheet if isinstance(sheet, str) else None,
            derived_at=utc_now(),
        ),
    )


async def store_file_report(
    session: AsyncSession,
    file_id: uuid.UUID,
    report: dict[str, Any],
    derived: DerivedObject | None,
) -> None:
    from quality.scoring import data_score

    row = await session.get(QFile, file_id)
    if row is None:
        return
    row.status = "done"
    row.report = summarize(report)
    row.detected_format = report.get("detected_format")
    row.encoding = report.get("encoding")
    row.valid = bool(report.get("valid"))
    row.error_count = int(report.get("error_count") or 0)
    row.d_score = data_score(report)
    row.schema_source = report.get("schema_source")
    if derived is None:
        row.derived_key = row.derived_sha256 = row.derived_file_id = None
    else:
        if derived.sha256 != row.derived_sha256 or row.derived_file_id is None:
            # a new CSV (or one storage has not announced yet); the same CSV again is not
            row.derived_file_id = None
            await _announce_derived(session, row, derived, report.get("sheet"))
        row.derived_key, row.derived_sha256 = derived.key, derived.sha256
    row.methodology_version = version()
    row.checked_at = utc_now()
    datasets = await datasets_for_file(session, file_id)
    res_ids = (
        await session.exec(  # type: ignore[call-overload]
            sa.select(QResource.id, QResource.dataset_id).where(QResource.file_id == file_id)
        )
    ).all()
    ev = ResourceAssessed(
        resource_id=res_ids[0][0] if res_ids else None,
        dataset_id=res_ids[0][1] if res_ids else None,
        file_id=file_id,
        methodology_version=version(),
        stars=None,
        valid=row.valid,
        error_count=row.error_count,
        encoding=row.encoding,
        media_type=row.media_type,
        assessed_at=utc_now(),
    )
    await record(
        session, source=SOURCE, type="quality.resource.assessed", data=ev, subject=str(file_id)
    )
    await session.flush()
    for d in datasets:
        await recompute_dataset(session, d.id)


# ---------------------------------------------------------------- scoring
async def resource_states(session: AsyncSession, doc: dict[str, Any]) -> list[ResourceState]:
    out = []
    file_ids = [_uuid(r.get("file_id")) for r in doc.get("resources") or []]
    files = {}
    ids = [f for f in file_ids if f]
    if ids:
        res = await session.exec(sa.select(QFile).where(QFile.id.in_(ids)))  # type: ignore[call-overload,attr-defined]
        files = {f.id: f for f in res.scalars().all()}
    urls = [
        r.get("url") for r in doc.get("resources") or [] if r.get("url") and not r.get("file_id")
    ]
    checks = {}
    if urls:
        res = await session.exec(sa.select(QUrlCheck).where(QUrlCheck.url.in_(urls)))  # type: ignore[call-overload,attr-defined]
        checks = {c.url: c for c in res.scalars().all()}
    for rd, fid in zip(doc.get("resources") or [], file_ids, strict=True):
        f = files.get(fid) if fid else None
        report = f.report if (f is not None and f.status == "done") else None
        if fid is None:
            c = checks.get(rd.get("url") or "")
            fails = methodology()["url_check"]["failures_before_broken"]
            status = (
                "UNKNOWN"
                if c is None
                else (
                    "BROKEN" if c.failures >= fails else ("OK" if c.status == "OK" else "UNKNOWN")
                )
            )
        else:
            status = "OK"
        out.append(
            ResourceState(
                id=str(rd.get("id")),
                name=str(rd.get("name") or ""),
                format=norm_format(rd.get("format")),
                file_id=str(fid) if fid else None,
                url=rd.get("url"),
                size=rd.get("size") or (f.size if f else None),
                media_type=rd.get("media_type") or (f.media_type if f else None),
                structure_url=rd.get("structure_url"),
                report=report,
                url_status=status,
                derived_csv=bool(f and f.derived_key),
            )
        )
    return out


async def last_data_update(session: AsyncSession, dataset_id: uuid.UUID | None) -> datetime | None:
    if dataset_id is None:
        return None
    res = await session.exec(  # type: ignore[call-overload]
        sa.select(sa.func.max(QResource.content_changed_at)).where(
            QResource.dataset_id == dataset_id, QResource.active.is_(True)
        )
    )  # type: ignore[attr-defined]
    return res.scalar_one_or_none()


async def organization_doc(session: AsyncSession, oid: Any) -> dict[str, Any] | None:
    o = _uuid(oid)
    row = await session.get(QOrganization, o) if o else None
    return row.doc if row is not None and not row.deleted else None


async def evaluate(
    session: AsyncSession,
    doc: dict[str, Any],
    now: datetime | None = None,
    stored_dataset: bool = True,
) -> Any:
    now = now or utc_now()
    res = await resource_states(session, doc)
    org = await organization_doc(session, doc.get("organization_id"))
    if stored_dataset:
        last = await last_data_update(session, _uuid(doc.get("id")))
    else:
        last = None
    if last is None:
        # a document not applied yet (pre-check): its resources' own modification times
        times = [
            _dt(r.get("modified_at"))
            for r in doc.get("resources") or []
            if r.get("file_id") or r.get("url")
        ]
        times = [t for t in times if t]
        last = max(times) if times else None
    shacl = await dcat_validation(session, doc.get("id"))
    return score_dataset(doc, org, res, last, now, shacl=shacl)


def in_scope(doc: dict[str, Any], now: datetime) -> bool:
    if doc.get("status") != "published":
        return False
    first = _dt(doc.get("first_published_at") or doc.get("published_at"))
    days = methodology()["compliance"]["in_scope_min_days_published"]
    return (
        bool(first and first <= now - timedelta(days=days))
        and (doc.get("access_rights") or "PUBLIC") == "PUBLIC"
    )


async def recompute_dataset(
    session: AsyncSession, dataset_id: uuid.UUID, now: datetime | None = None
) -> QDatasetScore | None:
    now = now or utc_now()
    # Lock and re-read the dataset: the consumer and the background jobs (file validation,
    # link checks, the schedule) recompute in their own transactions, and a job holding a
    # snapshot from before the consumer's commit would otherwise write a stale score over
    # the fresh one (seen in the chaos suite: a published dataset scored as "submitted").
    ds = await session.get(QDataset, dataset_id, with_for_update=True, populate_existing=True)
    if ds is None:
        return None
    row = await session.get(QDatasetScore, dataset_id, with_for_update=True, populate_existing=True)
    if ds.deleted:
        if row is not None:
            await session.delete(row)
        return None
    sc = await evaluate(session, ds.doc, now)
    rep = sc.as_dict()
    fp_src = {k: v for k, v in rep.items() if k not in ("resources",)}
    fp_src["t"] = round(sc.t)  # timeliness drifts with time alone; publish on whole-point changes
    fingerprint = hashlib.sha256(
        json.dumps(fp_src, sort_keys=True, default=str).encode()
    ).hexdigest()
    if row is None:
        row = QDatasetScore(
            dataset_id=dataset_id, organization_id=ds.organization_id, methodology_version=version()
        )
        session.add(row)
    changed = row.fingerprint != fingerprint
    row.organization_id = ds.organization_id
    row.dataset_revision, row.status = ds.revision, ds.status
    row.methodology_version, row.computed_at = sc.methodology_version, now
    row.dqi, row.band, row.mqa_points, row.mqa_band = sc.dqi, sc.band, sc.mqa_points, sc.mqa_band
    row.compliant, row.is_timely, row.due_at = sc.compliant, sc.is_timely, sc.due_at
    row.in_scope = in_scope(ds.doc, now)
    row.report, row.fingerprint = rep, fingerprint
    if changed:
        await record(
            session,
            source=SOURCE,
            type="quality.dataset.assessed",
            subject=str(dataset_id),
            data=DatasetAssessed(
                dataset_id=dataset_id,
                organization_id=ds.organization_id,
                dataset_revision=ds.revision,
                methodology_version=sc.methodology_version,
                score=sc.dqi,
                band=sc.band,
                mqa_points=round(sc.mqa_points),
                mqa_band=sc.mqa_band,
                compliant=sc.compliant,
                findings=[FindingDoc(**f.as_dict()) for f in sc.findings],
                assessed_at=now,
            ),
        )
    return row


async def recompute_all(session: AsyncSession, now: datetime | None = None) -> int:
    ids = (
        (await session.exec(sa.select(QDataset.id).where(QDataset.deleted.is_(False))))
        .scalars()
        .all()
    )  # type: ignore[call-overload,attr-defined]
    for did in ids:
        await recompute_dataset(session, did, now)
    return len(ids)


def precheck_result(sc: Any) -> dict[str, Any]:
    blocking = [f.as_dict() for f in sc.findings if f.severity == "blocking"]
    warnings = [f.as_dict() for f in sc.findings if f.severity != "blocking"]
    for f in blocking + warnings:
        f.pop("severity", None)
    return {
        "blocking": blocking,
        "warnings": warnings,
        "methodology_version": sc.methodology_version,
        "compliant": sc.compliant,
        "gates": sc.gates,
        "dqi": sc.dqi,
        "band": sc.band,
        "mqa_points": sc.mqa_points,
        "mqa_band": sc.mqa_band,
    }


# ---------------------------------------------------------------- freshness
async def freshness(
    session: AsyncSession, now: datetime, organization_id: uuid.UUID | None = None
) -> dict[str, Any]:
    soon = timedelta(days=methodology()["timeliness"]["due_soon_days"])
    q = sa.select(QDatasetScore).where(
        QDatasetScore.status == "published", QDatasetScore.due_at.is_not(None)
    )  # type: ignore[union-attr]
    if organization_id:
        q = q.where(QDatasetScore.organization_id == organization_id)
    rows = (await session.exec(q)).scalars().all()  # type: ignore[call-overload]
    overdue, due_soon = [], []
    for r in rows:
        ds = await session.get(QDataset, r.dataset_id)
        title = (ds.doc.get("title") if ds else None) or ""
        freq = ds.doc.get("update_frequency") if ds else None
        item = {
            "dataset_id": str(r.dataset_id),
            "organization_id": str(r.organization_id),
            "title": title,
            "update_frequency": freq,
            "due_at": r.due_at.isoformat().replace("+00:00", "Z") if r.due_at else None,
        }
        if r.due_at and r.due_at < now:
            item["days_overdue"] = (now - r.due_at).days
            overdue.append(item)
        elif r.due_at and r.due_at <= now + soon:
            item["days_left"] = (r.due_at - now).days
            due_soon.append(item)
    overdue.sort(key=lambda i: -i["days_overdue"])
    due_soon.sort(key=lambda i: i["days_left"])
    by_org: dict[str, dict[str, int]] = {}
    for i in overdue:
        by_org.setdefault(i["organization_id"], {"overdue": 0, "due_soon": 0})["overdue"] += 1
    for i in due_soon:
        by_org.setdefault(i["organization_id"], {"overdue": 0, "due_soon": 0})["due_soon"] += 1
    return {
        "overdue": overdue,
        "due_soon": due_soon,
        "by_organization": by_org,
        "methodology_version": version(),
    }


async def emit_overdue(session: AsyncSession, now: datetime) -> int:
    """One ``quality.dataset.overdue`` per dataset and missed due date."""
    rows = (
        (
            await session.exec(
                sa.select(QDatasetScore).where(  # type: ignore[call-overload]
                    QDatasetScore.status == "published", QDatasetScore.due_at < now
                )
            )
        )
        .scalars()
        .all()
    )  # type: ignore[operator]
    sent = 0
    for r in rows:
        if await session.get(QOverdueNotice, (r.dataset_id, r.due_at)) is not None:
            continue
        ds = await session.get(QDataset, r.dataset_id)
        session.add(QOverdueNotice(dataset_id=r.dataset_id, due_at=r.due_at))
        await record(
            session,
            source=SOURCE,
            type="quality.dataset.overdue",
            subject=str(r.dataset_id),
            data=DatasetOverdue(
                dataset_id=r.dataset_id,
                organization_id=r.organization_id,
                update_frequency=(ds.doc.get("update_frequency") if ds else None),
                due_at=r.due_at,
                days_overdue=(now - r.due_at).days,
            ),
        )
        sent += 1
    return sent


DERIVED_PREFIX = "derived"
DERIVED_MEDIA_TYPE = "text/csv; charset=utf-8"


def derived_key_for(file_id: uuid.UUID, sha256: str) -> str:
    """Content-addressed: writing the same CSV again changes nothing storage recorded."""
    return f"{DERIVED_PREFIX}/{file_id}/{sha256}.csv"


def tmp_dir() -> Path:
    import tempfile

    return Path(tempfile.gettempdir())
