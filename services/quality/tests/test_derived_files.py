"""The derived CSV of a spreadsheet becomes a storage file: quality writes it, announces it with
``quality.file.derived`` (outbox, same transaction as the report), and links the storage file
that ``storage.file.stored`` (``derived_from``) announces back. In-process on the real servers."""

from __future__ import annotations

import hashlib
import io
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from openpyxl import Workbook
from portal_kit.events.tables import OutboxMessage

from quality import service
from quality.models import QFile
from quality.testing import Q, dataset_doc, org_doc, resource_doc


def workbook() -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(["Адреса зупинки", None, "Кількість маршрутів"])
    ws.merge_cells("A1:B1")
    ws.append(["вул. Соборна", "12", 5])
    ws.append(["просп. Металургів", "3а", 7])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


async def derived_events(q: Q) -> list[dict[str, Any]]:
    async with q.ctx.sessionmaker() as session:
        rows = (
            (
                await session.exec(  # type: ignore[call-overload]
                    sa.select(OutboxMessage)
                    .where(OutboxMessage.type == "quality.file.derived")
                    .order_by(OutboxMessage.created_at)
                )
            )
            .scalars()
            .all()
        )
    return [r.payload for r in rows]


async def resource(q: Q, rid: uuid.UUID) -> dict[str, Any]:
    r = await q.client.get(f"/api/v1/quality/resources/{rid}", headers=q.token(roles=["moderator"]))
    assert r.status_code == 200, r.text
    return r.json()


async def test_xlsx_derived_csv_is_announced_and_linked(q: Q) -> None:
    org = org_doc()
    await q.feed("catalog.organization.created", org)
    content = workbook()
    fid = await q.upload(content, "Зупинки ’24 (Дніпровський).xlsx", uuid.UUID(org["id"]))
    ds_id, rid = uuid.uuid4(), uuid.uuid4()
    ds = dataset_doc(
        org["id"], id=ds_id, resources=[resource_doc(ds_id, id=rid, file_id=fid, fmt="XLSX")]
    )
    await q.feed("catalog.dataset.updated", ds)
    await q.validate_all()

    # one event, with what storage needs to record the object as a file
    [ev] = await derived_events(q)
    data = ev["data"]
    obj = q.ctx.s3.get_object(q.bucket, data["key"]).read()
    assert data["source_file_id"] == str(fid) and ev["subject"] == str(fid)
    assert data["source_sha256"] == hashlib.sha256(content).hexdigest()
    assert data["organization_id"] == org["id"] and data["bucket"] == q.bucket
    assert (data["size"], data["sha256"]) == (len(obj), hashlib.sha256(obj).hexdigest())
    assert data["media_type"] == "text/csv; charset=utf-8"
    assert data["name"] == "Зупинки ’24 (Дніпровський).csv"
    assert data["key"] == f"derived/{fid}/{data['sha256']}.csv"
    assert obj.decode("utf-8").splitlines()[1] == "вул. Соборна,12,5"

    rep = await resource(q, rid)
    assert rep["stars"] == 3 and rep["derived_csv_key"] == data["key"]
    assert rep["derived_file_id"] is None  # storage has not announced it yet

    # storage announces the file it recorded
    derived_id = uuid.uuid4()
    announced = {
        "id": str(derived_id),
        "organization_id": org["id"],
        "bucket": q.bucket,
        "key": data["key"],
        "size": data["size"],
        "sha256": data["sha256"],
        "media_type": data["media_type"],
        "original_name": data["name"],
        "created_at": datetime.now(UTC).isoformat(),
        "derived_from": str(fid),
    }
    await q.feed("storage.file.stored", announced)
    await q.feed("storage.file.stored", announced)  # a replay changes nothing
    rep = await resource(q, rid)
    assert rep["derived_file_id"] == str(derived_id)
    assert rep["derived_file_url"] == f"/api/v1/files/{derived_id}"
    assert rep["stars"] == 3  # the 3-star rule still holds

    # the derived CSV is validated like any file and never derives again (no loop)
    await q.validate_all()
    async with q.ctx.sessionmaker() as session:
        d = await session.get(QFile, derived_id)
        assert d is not None and d.derived_from == fid
        assert (d.status, d.detected_format, d.derived_key) == ("done", "CSV", None)
    assert len(await derived_events(q)) == 1

    # re-validating the source (same bytes, same CSV) announces nothing new
    async with q.ctx.sessionmaker() as session, session.begin():
        src = await session.get(QFile, fid)
        assert src is not None
        src.status = "pending"
    await q.validate_all()
    assert len(await derived_events(q)) == 1
    assert (await resource(q, rid))["derived_file_id"] == str(derived_id)


async def test_late_announcement_of_an_older_csv_is_not_linked(q: Q) -> None:
    org = org_doc()
    await q.feed("catalog.organization.created", org)
    fid = await q.upload(workbook(), "table.xlsx", uuid.UUID(org["id"]))
    await q.validate_all()
    await q.feed(
        "storage.file.stored",
        {
            "id": str(uuid.uuid4()),
            "organization_id": org["id"],
            "bucket": q.bucket,
            "key": f"derived/{fid}/{'0' * 64}.csv",
            "size": 3,
            "sha256": "0" * 64,  # not the CSV quality wrote last
            "media_type": "text/csv; charset=utf-8",
            "original_name": "table.csv",
            "created_at": datetime.now(UTC).isoformat(),
            "derived_from": str(fid),
        },
    )
    async with q.ctx.sessionmaker() as session:
        src = await session.get(QFile, fid)
        assert src is not None and src.derived_sha256 and src.derived_file_id is None


def test_derived_name() -> None:
    assert service.derived_name("Звіт 2024.xlsx") == "Звіт 2024.csv"
    assert service.derived_name("дані.ods") == "дані.csv"
    assert service.derived_name("без розширення") == "без розширення.csv"
    assert service.derived_name(".xlsx") == ".xlsx.csv"
    assert service.derived_name(None) == "data.csv"


async def test_deleted_files_unlink_the_copy_and_mark_the_source_gone(q: Q) -> None:
    org = org_doc()
    await q.feed("catalog.organization.created", org)
    fid = await q.upload(workbook(), "Зупинки.xlsx", uuid.UUID(org["id"]))
    ds_id, rid = uuid.uuid4(), uuid.uuid4()
    ds = dataset_doc(
        org["id"], id=ds_id, resources=[resource_doc(ds_id, id=rid, file_id=fid, fmt="XLSX")]
    )
    await q.feed("catalog.dataset.updated", ds)
    await q.validate_all()
    async with q.ctx.sessionmaker() as session:
        src = await session.get(QFile, fid)
        assert src is not None and src.derived_key and src.derived_sha256
        key, sha = src.derived_key, src.derived_sha256
    copy_id = uuid.uuid4()
    copy = {
        "id": str(copy_id),
        "organization_id": org["id"],
        "bucket": q.bucket,
        "key": key,
        "size": 10,
        "sha256": sha,
        "media_type": "text/csv; charset=utf-8",
        "original_name": "Зупинки.csv",
        "created_at": datetime.now(UTC).isoformat(),
        "derived_from": str(fid),
    }
    await q.feed("storage.file.stored", copy)
    rep = await resource(q, rid)
    assert rep["derived_file_id"] == str(copy_id) and rep["stars"] == 3

    # the copy deleted in storage: unlinked, and no longer counted as the 3-star CSV
    gone = {"id": str(copy_id), "organization_id": org["id"], "bucket": q.bucket, "key": key}
    await q.feed("storage.file.deleted", gone)
    await q.feed("storage.file.deleted", gone)  # a replay changes nothing
    rep = await resource(q, rid)
    assert rep["derived_file_id"] is None and rep["derived_csv_key"] is None
    assert rep["stars"] < 3 and rep["status"] == "done"

    # the source deleted: its report is gone (no verdict counted, never validated again)
    await q.feed(
        "storage.file.deleted",
        {"id": str(fid), "organization_id": org["id"], "bucket": q.bucket, "key": "x"},
    )
    rep = await resource(q, rid)
    assert rep["status"] == "gone"
    await q.validate_all()
    assert (await resource(q, rid))["status"] == "gone"

    # a deletion seen before the file: the late storage.file.stored queues nothing
    late = uuid.uuid4()
    await q.feed(
        "storage.file.deleted",
        {"id": str(late), "organization_id": org["id"], "bucket": q.bucket, "key": "k"},
    )
    await q.feed("storage.file.stored", {**copy, "id": str(late), "derived_from": None})
    async with q.ctx.sessionmaker() as session:
        row = await session.get(QFile, late)
        assert row is not None and row.status == "gone"
