"""A stopped S3 server, and limits enforced while streaming (in-process app on the real servers)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from .conftest import (
    Generated,
    MiB,
    Org,
    dataset_event,
    publish_events,
    s3_keys,
    s3_multipart_uploads,
)


async def test_s3_down_gives_503(
    gw: httpx.AsyncClient, org: Org, servers: Any, eventually: Any
) -> None:
    r = await gw.post(
        f"/api/v1/files?organization_id={org.id}",
        content=b"a,b\n1,2\n",
        headers={**org.h, "X-File-Name": "x.csv"},
    )
    fid = r.json()["id"]
    servers.s3.stop()
    try:
        r = await gw.post(
            f"/api/v1/files?organization_id={org.id}",
            content=b"a,b\n1,2\n",
            headers={**org.h, "X-File-Name": "y.csv"},
        )
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/storage-unavailable")
        r = await gw.get(f"/api/v1/files/{fid}", headers=org.h)
        assert r.status_code == 503
    finally:
        servers.s3.start()

    async def back() -> None:  # recovers by itself once S3 answers again
        r = await gw.get(f"/api/v1/files/{fid}", headers=org.h)
        assert r.status_code == 200 and r.content == b"a,b\n1,2\n"

    await eventually(back, timeout=30, interval=0.5)


async def test_oversize_streamed_is_refused_and_aborted(
    small_app: Any, org: Org, servers: Any
) -> None:
    app, state = small_app

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        scope["state"] = dict(state)
        await app(scope, receive, send)

    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://storage") as c:
        gen = Generated(20 * MiB)  # no Content-Length: found out while streaming, after 2 parts
        r = await c.post(
            f"/api/v1/files?organization_id={org.id}",
            content=gen.achunks(),
            headers={**org.h, "X-File-Name": "%D0%B7%D0%B0.bin"},
        )
        assert r.status_code == 413, r.text
        assert r.json()["max_size"] == 12 * MiB
        r = await c.post(
            f"/api/v1/files?organization_id={org.id}",
            content=b"x" * 100,
            headers={**org.h, "X-File-Name": "ok.txt", "Content-Length": str(13 * MiB)},
        )
        assert r.status_code == 413  # announced too large: refused before reading
    await asyncio.sleep(0.2)
    assert s3_keys(servers, f"files/{org.id}/") == []
    assert s3_multipart_uploads(servers, f"files/{org.id}/") == []


async def test_visibility_follows_catalog_events(
    gw: httpx.AsyncClient, org: Org, servers: Any, eventually: Any
) -> None:
    r = await gw.post(
        f"/api/v1/files?organization_id={org.id}",
        content=b"a;b\n1;2\n",
        headers={**org.h, "X-File-Name": "pub.csv"},
    )
    fid = r.json()["id"]
    ds = uuid.uuid4()

    def event(t: str, revision: int, status: str) -> Any:
        return dataset_event(t, ds, org.id, fid, revision, status)

    await publish_events(
        servers,
        event("catalog.dataset.published", 3, "published"),
        event("catalog.dataset.updated", 2, "draft"),  # older, arrives late: ignored
    )

    async def public() -> None:
        r = await gw.get(f"/api/v1/files/{fid}")
        assert r.status_code == 200 and r.content == b"a;b\n1;2\n"

    await eventually(public, timeout=20)
    assert (await gw.get(f"/api/v1/files/{fid}/info")).json()["visibility"] == "public"
    assert (await gw.delete(f"/api/v1/files/{fid}", headers=org.h)).status_code == 409
    await publish_events(servers, event("catalog.dataset.archived", 4, "archived"))

    async def private() -> None:
        assert (await gw.get(f"/api/v1/files/{fid}")).status_code == 404

    await eventually(private, timeout=20)


async def test_expired_sessions_are_aborted(
    small_app: Any, gw: httpx.AsyncClient, org: Org, servers: Any
) -> None:
    import sqlalchemy as sa
    from storage.models import UploadSession
    from storage.uploads import expire_sessions

    _, state = small_app
    ctx = state["ctx"]
    r = await gw.post(
        f"/api/v1/uploads?organization_id={org.id}", json={"name": "stale.bin"}, headers=org.h
    )
    uid = r.json()["id"]
    put = await gw.put(f"/api/v1/uploads/{uid}/parts/1", content=b"x" * 1000, headers=org.h)
    assert put.status_code == 200
    async with ctx.sessionmaker() as db:
        await db.exec(
            sa.update(UploadSession)
            .where(UploadSession.id == uuid.UUID(uid))
            .values(expires_at=sa.func.now() - sa.text("interval '1 minute'"))
        )
        await db.commit()
    assert await expire_sessions(ctx) >= 1
    assert (await gw.get(f"/api/v1/uploads/{uid}", headers=org.h)).json()["status"] == "expired"
    assert s3_multipart_uploads(servers, f"files/{org.id}/") == []
    r = await gw.put(f"/api/v1/uploads/{uid}/parts/2", content=b"y", headers=org.h)
    assert r.status_code == 410
