"""The read model: apply catalog and quality documents, rebuild and validate a dataset's export.

Idempotence comes from the inbox (portal_kit); reordering is handled here with ``revision``
(datasets, organizations) and ``(dataset_revision, assessed_at)`` (quality). ``metadata_modified``
is our own clock: it moves to now (and at least one microsecond past its previous value) whenever
the exported content hash changes, so it never goes backwards and never lies in the future.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from portal_kit.contracts.harvest import DCAT_AP_PROFILE, MAX_VIOLATIONS, DatasetValidated
from portal_kit.events import outbox
from prometheus_client import Counter
from sqlmodel.ext.asyncio.session import AsyncSession

from harvest_export import ckan, dcat
from harvest_export.models import HxDataset, HxOrganization, HxQuality
from harvest_export.settings import Settings

log = logging.getLogger("harvest_export.readmodel")

INVALID = Counter(
    "harvest_export_invalid_builds_total",
    "Dataset exports that failed DCAT-AP SHACL validation when built",
)
BUILDS = Counter("harvest_export_builds_total", "Dataset exports rebuilt", ["outcome"])

MICRO = timedelta(microseconds=1)


def now_naive() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


async def apply_organization(
    session: AsyncSession, doc: dict[str, Any], settings: Settings, *, deleted: bool = False
) -> bool:
    oid = _uuid(doc["id"])
    revision = int(doc.get("revision") or 1)
    row = await session.get(HxOrganization, oid, with_for_update=True)
    if row is not None and (revision < row.revision or (revision == row.revision and not deleted)):
        return False
    view = ckan.org_view(doc)
    if row is None:
        row = HxOrganization(
            id=oid,
            name=view["name"],
            title=view["title"],
            doc=doc,
            created=ckan.parse_dt(view["created"]) or now_naive(),
        )
        session.add(row)
    row.revision = revision
    row.name = view["name"]
    row.title = view["title"]
    row.doc = doc
    row.deleted = deleted
    await session.flush()
    ids = (
        (
            await session.exec(  # type: ignore[call-overload]
                sa.select(HxDataset.id).where(HxDataset.organization_id == oid)
            )
        )
        .scalars()
        .all()
    )
    for did in ids:
        ds = await session.get(HxDataset, did, with_for_update=True)
        if ds is not None:
            await rebuild(session, ds, settings)
    return True


async def apply_dataset(session: AsyncSession, doc: dict[str, Any], settings: Settings) -> bool:
    """Apply a full DatasetDocument; False when an equal or newer revision was applied already."""
    did = _uuid(doc["id"])
    revision = int(doc.get("revision") or 1)
    row = await session.get(HxDataset, did, with_for_update=True)
    if row is not None and revision <= row.revision:
        return False
    if row is None:
        row = HxDataset(id=did, name=doc["name"], organization_id=_uuid(doc["organization_id"]))
        session.add(row)
    row.revision = revision
    row.name = doc["name"]
    row.status = doc.get("status") or "draft"
    row.organization_id = _uuid(doc["organization_id"])
    row.doc = doc
    await rebuild(session, row, settings)
    return True


async def apply_quality(session: AsyncSession, data: dict[str, Any], settings: Settings) -> bool:
    did = _uuid(data["dataset_id"])
    key = (int(data.get("dataset_revision") or 0), ckan.parse_dt(data.get("assessed_at")))
    row = await session.get(HxQuality, did, with_for_update=True)
    if row is not None:
        old = (row.dataset_revision, row.assessed_at)
        if key[1] is None or (key[0], key[1]) <= (old[0], old[1]):
            return False
    if row is None:
        row = HxQuality(dataset_id=did, assessed_at=key[1] or datetime.now(UTC))
        session.add(row)
    row.dataset_revision = key[0]
    row.assessed_at = key[1] or datetime.now(UTC)
    row.data = data
    await session.flush()
    ds = await session.get(HxDataset, did, with_for_update=True)
    if ds is not None:
        await rebuild(session, ds, settings)
    return True


async def _org_for(session: AsyncSession, ds: HxDataset) -> dict[str, Any]:
    org = await session.get(HxOrganization, ds.organization_id)
    if org is not None:
        return {
            "id": str(org.id),
            "name": org.name,
            "title": org.title,
            "description": (org.doc or {}).get("description") or "",
            "created": ckan.ts(org.created),
            "doc": org.doc or {},
        }
    # the organization event has not arrived yet: the dataset document names it
    doc = ds.doc
    return ckan.org_view(
        {
            "id": str(ds.organization_id),
            "name": doc.get("organization_name") or str(ds.organization_id),
            "title": doc.get("organization_title") or doc.get("organization_name") or "",
            "created_at": doc.get("created_at"),
        }
    )


def dcat_inputs(doc: dict[str, Any]) -> dict[str, Any]:
    """The document fields the DCAT graph reads that the package dict does not carry verbatim."""
    keys = ("keywords", "language", "spatial_uri", "title_en", "description_en", "themes")
    return {k: doc.get(k) for k in keys}


async def _package(
    session: AsyncSession, ds: HxDataset, settings: Settings
) -> tuple[dict[str, Any], dict[str, Any], datetime]:
    """The CKAN package dict of the dataset as it stands now, its organization and creation time."""
    org = await _org_for(session, ds)
    quality_row = await session.get(HxQuality, ds.id)
    quality = quality_row.data if quality_row is not None else None
    created = ds.metadata_created or ckan.naive(
        ckan.parse_dt(ds.doc.get("first_published_at")) or now_naive()
    )
    pkg = ckan.package_dict(
        ds.doc,
        org,
        quality,
        base=settings.site_url,
        name_prefix=settings.name_prefix,
        metadata_created=created,
    )
    return pkg, org, created


async def rebuild(session: AsyncSession, ds: HxDataset, settings: Settings) -> str:
    """Rebuild one dataset's export; returns the outcome (hidden, unchanged, built, invalid)."""
    if ds.status != "published":
        ds.served = False
        await session.flush()
        BUILDS.labels("hidden").inc()
        return "hidden"
    pkg, org, created = await _package(session, ds, settings)
    digest = ckan.content_hash(pkg, dcat_inputs(ds.doc))
    if digest == ds.content_hash and ds.served:
        BUILDS.labels("unchanged").inc()
        return "unchanged"
    modified = now_naive()
    if ds.metadata_modified is not None and modified <= ds.metadata_modified:
        modified = ds.metadata_modified + MICRO
    pkg["metadata_modified"] = ckan.ts(modified)
    if settings.validate_shacl:
        violations = await asyncio.to_thread(
            _violations, pkg, ds.doc, org["doc"], settings.site_url
        )
        await _announce_validation(session, ds, violations)
    else:
        violations = []
    if violations:
        INVALID.inc()
        BUILDS.labels("invalid").inc()
        ds.valid = False
        ds.invalid_reason = "; ".join(violations)[:4000]
        # shown as it last validated (if ever); the hash stays old so the next change retries
        ds.served = ds.package is not None
        log.warning(
            "dataset export failed DCAT-AP validation; %s",
            "serving the last valid version" if ds.served else "left out",
            extra={"dataset_id": str(ds.id), "violations": violations[:5]},
        )
        await session.flush()
        return "invalid"
    ds.metadata_created = created
    ds.metadata_modified = modified
    ds.content_hash = digest
    ds.package = pkg
    ds.valid = True
    ds.invalid_reason = None
    ds.served = True
    if ds.first_served_at is None:
        ds.first_served_at = datetime.now(UTC)
    ds.title = pkg["title"]
    ds.org_name = pkg["organization"]["name"]
    ds.license_id = pkg["license_id"]
    ds.tags = [t["name"] for t in pkg["tags"]]
    ds.groups = [g["name"] for g in pkg["groups"]]
    ds.res_formats = sorted({r["format"] for r in pkg["resources"] if r["format"]})
    ds.search_text = " ".join(
        [
            pkg["name"],
            pkg["title"],
            pkg["notes"],
            *ds.tags,
            *(ds.doc.get("keywords") or []),
            ds.doc.get("title_en") or "",
            ds.doc.get("description_en") or "",
        ]
    ).lower()
    await session.flush()
    BUILDS.labels("built").inc()
    return "built"


async def announce_unvalidated(sessionmaker: Any, settings: Settings, batch: int = 20) -> int:
    """Validate and announce the published datasets that have no announced SHACL result yet
    (exports built before ``harvest.dataset.validated`` existed, or while validation was off);
    nothing else about them changes. Returns how many were announced."""
    if not settings.validate_shacl:
        return 0
    done = 0
    while True:
        async with sessionmaker() as session, session.begin():
            rows = (
                (
                    await session.exec(  # type: ignore[call-overload]
                        sa.select(HxDataset)
                        .where(HxDataset.status == "published", HxDataset.shacl_digest.is_(None))
                        .order_by(HxDataset.id)
                        .limit(batch)
                        .with_for_update(skip_locked=True)
                    )
                )
                .scalars()
                .all()
            )
            if not rows:
                return done
            for ds in rows:
                pkg, org, _ = await _package(session, ds, settings)
                if ds.metadata_modified is not None:
                    pkg["metadata_modified"] = ckan.ts(ds.metadata_modified)
                violations = await asyncio.to_thread(
                    _violations, pkg, ds.doc, org["doc"], settings.site_url
                )
                await _announce_validation(session, ds, violations)
                done += 1


async def _announce_validation(session: AsyncSession, ds: HxDataset, violations: list[str]) -> None:
    """Record ``harvest.dataset.validated`` in this transaction when the SHACL result changed."""
    found = sorted(set(violations))
    digest = hashlib.sha256(json.dumps(found, ensure_ascii=False).encode()).hexdigest()
    if digest == ds.shacl_digest:
        return
    ds.shacl_digest = digest
    await outbox.record(
        session,
        source="/harvest_export",
        type="harvest.dataset.validated",
        subject=str(ds.id),
        data=DatasetValidated(
            dataset_id=ds.id,
            revision=ds.revision,
            conforms=not found,
            violations=found[:MAX_VIOLATIONS],
            profile=DCAT_AP_PROFILE,
            validated_at=datetime.now(UTC),
        ),
    )


def _violations(
    pkg: dict[str, Any], doc: dict[str, Any], org_doc: dict[str, Any], base: str
) -> list[str]:
    g = dcat.new_graph()
    dcat.add_dataset(g, pkg, doc, org_doc, base=base)
    try:
        return dcat.validate(g)
    except Exception as exc:  # a validator crash must not block the consumer forever
        log.exception("SHACL validation crashed")
        return [f"validator error: {exc!r}"]
