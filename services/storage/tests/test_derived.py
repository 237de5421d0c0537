"""Derived files: ``quality.file.derived`` published to the real NATS becomes a storage file
``derived_from`` its source (the system's consumer), as visible as the source, idempotent on
redelivery, retried while the object is missing, dead-lettered when it cannot be recorded."""

from __future__ import annotations

import asyncio
import hashlib
import io
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import nats
import sqlalchemy as sa
from portal_kit.events.envelope import CloudEvent, make_event
from portal_kit.events.tables import DeadLetter
from storage.models import StoredFile
from storage.service import derived_id

from .conftest import Org, dataset_event, publish_events, s3_keys

CSV = "Адреса зупинки,,Кількість маршрутів\nвул. Соборна,12,5\nпросп. Металургів,3а,7\n".encode()


def put(servers: Any, key: str, data: bytes) -> None:
    servers.s3.client().put_object(servers.s3.bucket, key, io.BytesIO(data), len(data))


def derived_event(servers: Any, source: dict[str, Any], data: bytes, **kw: Any) -> CloudEvent:
    sha = hashlib.sha256(data).hexdigest()
    body = {
        "source_file_id": source["id"],
        "source_sha256": source["sha256"],
        "organization_id": source["organization_id"],
        "bucket": servers.s3.bucket,
        "key": f"derived/{source['id']}/{sha}.csv",
        "size": len(data),
        "sha256": sha,
        "media_type": "text/csv; charset=utf-8",
        "name": "Зупинки ’24.csv",
        "derived_at": datetime.now(UTC).isoformat(),
        **kw,
    }
    return make_event(
        source="/quality", type="quality.file.derived", data=body, subject=source["id"]
    )


async def upload_source(gw: httpx.AsyncClient, org: Org) -> dict[str, Any]:
    r = await gw.post(
        f"/api/v1/files?organization_id={org.id}",
        content=b"PK\x03\x04 not really a workbook, storage does not care",
        headers={**org.h, "X-File-Name": "%D0%97%D1%83%D0%BF%D0%B8%D0%BD%D0%BA%D0%B8.xlsx"},
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_derived_file_follows_its_source(
    gw: httpx.AsyncClient, org: Org, servers: Any, outsider: dict, eventually: Any
) -> None:
    src = await upload_source(gw, org)
    ev = derived_event(servers, src, CSV)
    put(servers, ev.data["key"], CSV)
    again = ev.model_copy(update={"id": str(uuid.uuid4())})  # quality re-validated: same CSV
    await publish_events(servers, ev, ev, again)
    did = str(derived_id(uuid.UUID(src["id"]), ev.data["sha256"]))

    async def listed() -> dict[str, Any]:
        r = await gw.get(f"/api/v1/files/{src['id']}/info", headers=org.h)
        assert r.status_code == 200, r.text
        assert [d["id"] for d in r.json()["derived"]] == [did], r.json()
        return r.json()

    info = await eventually(listed, timeout=30, interval=0.3)
    [d] = info["derived"]
    assert d["media_type"] == "text/csv; charset=utf-8" and d["url"] == f"/api/v1/files/{did}"
    assert d["download_url"].endswith(
        f"/files/{did}/%D0%97%D1%83%D0%BF%D0%B8%D0%BD%D0%BA%D0%B8%20%E2%80%9924.csv"
    )
    r = await gw.get(f"/api/v1/files/{did}/info", headers=org.h)
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["derived_from"] == src["id"] and info["derived"] == []
    assert (info["organization_id"], info["visibility"]) == (str(org.id), "private")
    assert (info["size"], info["sha256"], info["name"]) == (
        len(CSV),
        ev.data["sha256"],
        "Зупинки ’24.csv",
    )
    # one file however often the event came: the redeliveries and the re-validation
    await asyncio.sleep(1.0)
    r = await gw.get(f"/api/v1/files?organization_id={org.id}", headers=org.h)
    assert r.json()["total"] == 2, r.json()

    # the normal download route: bytes, type, ranges
    r = await gw.get(f"/api/v1/files/{did}", headers=org.h)
    assert r.status_code == 200 and r.content == CSV
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.content.decode("utf-8").splitlines()[2] == "просп. Металургів,3а,7"
    r = await gw.get(f"/api/v1/files/{did}", headers={**org.h, "Range": "bytes=0-9"})
    assert r.status_code == 206 and r.content == CSV[:10]
    for who in ({}, outsider):  # private like its source
        assert (await gw.get(f"/api/v1/files/{did}", headers=who)).status_code == 404

    # the source is published by a dataset of its organization: the copy becomes public with it
    ds = uuid.uuid4()
    await publish_events(
        servers, dataset_event("catalog.dataset.published", ds, org.id, src["id"], 2, "published")
    )

    async def public() -> None:
        r = await gw.get(f"/api/v1/files/{did}")
        assert r.status_code == 200 and r.content == CSV

    await eventually(public, timeout=20)
    assert (await gw.get(f"/api/v1/files/{did}/info")).json()["visibility"] == "public"
    r = await gw.delete(f"/api/v1/files/{did}", headers=org.h)
    assert r.status_code == 409  # public with its source

    await publish_events(
        servers, dataset_event("catalog.dataset.archived", ds, org.id, src["id"], 3, "archived")
    )

    async def private() -> None:
        assert (await gw.get(f"/api/v1/files/{did}")).status_code == 404

    await eventually(private, timeout=20)

    # deleting the source deletes its copies (and their objects)
    r = await gw.delete(f"/api/v1/files/{src['id']}", headers=org.h)
    assert r.status_code == 204, r.text
    assert (await gw.get(f"/api/v1/files/{did}", headers=org.h)).status_code == 404
    assert s3_keys(servers, f"derived/{src['id']}/") == []
    assert (await gw.get(f"/api/v1/files?organization_id={org.id}", headers=org.h)).json()[
        "total"
    ] == 0


async def test_missing_object_is_retried_until_it_appears(
    gw: httpx.AsyncClient, org: Org, servers: Any, eventually: Any
) -> None:
    src = await upload_source(gw, org)
    ev = derived_event(servers, src, CSV)
    did = derived_id(uuid.UUID(src["id"]), ev.data["sha256"])
    await publish_events(servers, ev)
    await asyncio.sleep(2.0)  # delivered at least once by now: nothing recorded without the object
    assert (await gw.get(f"/api/v1/files/{did}/info", headers=org.h)).status_code == 404
    put(servers, ev.data["key"], CSV)

    async def recorded() -> None:
        r = await gw.get(f"/api/v1/files/{did}/info", headers=org.h)
        assert r.status_code == 200, r.text
        assert r.json()["derived_from"] == src["id"]

    await eventually(recorded, timeout=40, interval=0.5)


async def test_unrecordable_events_are_dead_lettered(
    small_app: Any, gw: httpx.AsyncClient, org: Org, servers: Any
) -> None:
    """The real handler under the consumer framework, on a private stream so that the system's
    consumer does not see these events; one delivery allowed, so the first failure is final."""
    from portal_kit.events.consumer import Subscription, handle_message
    from storage.handlers import derived_handler

    _, state = small_app
    ctx = state["ctx"]
    src = await upload_source(gw, org)
    wrong_size = derived_event(servers, src, CSV)
    put(servers, wrong_size.data["key"], CSV + b"extra")
    other = hashlib.sha256(b"x").hexdigest()
    unknown = derived_event(
        servers, {**src, "id": str(uuid.uuid4())}, CSV, key=f"derived/x/{other}.csv"
    )
    tag = secrets.token_hex(4)
    stream, subject = f"DERIVEDTEST{tag}", f"derivedtest{tag}.events"
    sub = Subscription(
        stream=stream,
        durable="storage__derived",
        handlers={"quality.file.derived": derived_handler(ctx)},
        max_deliver=1,
    )
    nc = await nats.connect(servers.nats_url)
    js = nc.jetstream()
    try:
        await js.add_stream(name=stream, subjects=[subject])
        try:
            for ev in (wrong_size, unknown):
                await js.publish(subject, ev.to_json())
            psub = await js.pull_subscribe(subject, durable=f"t{tag}", stream=stream)
            msgs = await psub.fetch(2, timeout=5)
            outcomes = [
                await handle_message(m, sub=sub, sessionmaker=ctx.sessionmaker, service="storage")
                for m in msgs
            ]
        finally:
            await js.delete_stream(stream)
    finally:
        await nc.close()
    assert outcomes == ["dead", "dead"]
    async with ctx.sessionmaker() as session:
        rows = (
            await session.exec(  # type: ignore[call-overload]
                sa.select(DeadLetter.event_id, DeadLetter.error).where(
                    DeadLetter.event_id.in_([wrong_size.id, unknown.id])  # type: ignore[attr-defined]
                )
            )
        ).all()
        errors = dict(rows)
        assert "object has" in errors[wrong_size.id] and "unknown source" in errors[unknown.id]
        assert (
            await session.get(
                StoredFile, derived_id(uuid.UUID(src["id"]), wrong_size.data["sha256"])
            )
            is None
        )
