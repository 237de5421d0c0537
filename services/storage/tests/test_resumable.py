"""Resumable uploads (S3-style multipart through the API) on the real S3 server."""

from __future__ import annotations

import asyncio
import hashlib
import os
from typing import Any

import httpx

from .conftest import MiB, Org, download_sha256, s3_keys, s3_multipart_uploads

PART = 5 * MiB


async def start(gw: httpx.AsyncClient, org: Org, name: str, size: int | None = None) -> dict:
    r = await gw.post(
        f"/api/v1/uploads?organization_id={org.id}",
        json={"name": name, "size": size},
        headers=org.h,
    )
    assert r.status_code == 201, r.text
    return r.json()


async def put(gw: httpx.AsyncClient, org: Org, uid: str, n: int, data: bytes) -> httpx.Response:
    return await gw.put(f"/api/v1/uploads/{uid}/parts/{n}", content=data, headers=org.h)


async def test_parts_twice_out_of_order_and_cut_mid_part(
    gw: httpx.AsyncClient, org: Org, system: Any
) -> None:
    parts = [os.urandom(PART), os.urandom(PART), os.urandom(1234)]
    whole = b"".join(parts)
    s = await start(gw, org, "реєстр договорів.csv", len(whole))
    uid = s["id"]
    assert s["min_part_size"] == PART
    # out of order: 3, 1
    assert (await put(gw, org, uid, 3, parts[2])).status_code == 200
    assert (await put(gw, org, uid, 1, parts[0])).status_code == 200
    # a connection killed mid-part: the service sees a short body and stores nothing of it
    host, port = system.gateway_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"PUT /api/v1/uploads/{uid}/parts/2 HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: {org.h['Authorization']}\r\nContent-Length: {PART}\r\n\r\n"
    ).encode()
    writer.write(head + parts[1][: PART // 2])
    await writer.drain()
    await asyncio.sleep(0.5)
    writer.transport.abort()
    await asyncio.sleep(0.5)
    listed = (await gw.get(f"/api/v1/uploads/{uid}", headers=org.h)).json()
    assert [p["part_number"] for p in listed["parts"]] == [1, 3]
    # the part again, twice (the second replaces the first)
    assert (await put(gw, org, uid, 2, b"garbage" * 1000)).status_code == 200
    r = await put(gw, org, uid, 2, parts[1])
    assert r.status_code == 200 and r.json()["size"] == PART
    r = await gw.post(f"/api/v1/uploads/{uid}/complete", headers=org.h)
    assert r.status_code == 201, r.text
    info = r.json()
    assert info["sha256"] == hashlib.sha256(whole).hexdigest() and info["size"] == len(whole)
    assert info["name"] == "реєстр договорів.csv"
    resp, size, sha = await download_sha256(gw, f"/api/v1/files/{info['id']}", org.h)
    assert (size, sha) == (len(whole), info["sha256"])
    # completing again is a conflict, not a second file
    assert (await gw.post(f"/api/v1/uploads/{uid}/complete", headers=org.h)).status_code == 409


async def test_abort_leaves_nothing(
    gw: httpx.AsyncClient, org: Org, servers: Any, outsider: dict
) -> None:
    s = await start(gw, org, "abort.bin")
    uid = s["id"]
    assert (await put(gw, org, uid, 1, os.urandom(PART))).status_code == 200
    assert (await put(gw, org, uid, 2, os.urandom(100))).status_code == 200
    assert (await gw.delete(f"/api/v1/uploads/{uid}", headers=outsider)).status_code == 404
    assert (await gw.delete(f"/api/v1/uploads/{uid}", headers=org.h)).status_code == 204
    assert (await gw.delete(f"/api/v1/uploads/{uid}", headers=org.h)).status_code == 204
    assert s3_keys(servers, f"files/{org.id}/") == []
    assert s3_multipart_uploads(servers, f"files/{org.id}/") == []
    assert (await put(gw, org, uid, 3, b"late")).status_code == 410


async def test_session_errors(gw: httpx.AsyncClient, org: Org, outsider: dict) -> None:
    r = await gw.post(
        f"/api/v1/uploads?organization_id={org.id}", json={"name": "x"}, headers=outsider
    )
    assert r.status_code == 403
    r = await gw.post(f"/api/v1/uploads?organization_id={org.id}", json={"size": 1}, headers=org.h)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "name"]
    r = await gw.post(
        f"/api/v1/uploads?organization_id={org.id}",
        json={"name": "big", "size": 3 * 1024**3},
        headers=org.h,
    )
    assert r.status_code == 413
    s = await start(gw, org, "small-parts.bin")
    uid = s["id"]
    assert (await put(gw, org, uid, 0, b"x")).status_code == 422
    assert (await put(gw, org, uid, 1, b"x" * 10)).status_code == 200
    assert (await put(gw, org, uid, 2, b"y" * 10)).status_code == 200
    r = await gw.post(f"/api/v1/uploads/{uid}/complete", headers=org.h)
    assert r.status_code == 422  # part 1 is smaller than the S3 minimum
    r = await gw.post(
        f"/api/v1/uploads/{uid}/complete",
        json={"parts": [{"part_number": 1, "etag": "nope"}]},
        headers=org.h,
    )
    assert r.status_code == 422
    assert (await gw.delete(f"/api/v1/uploads/{uid}", headers=org.h)).status_code == 204
