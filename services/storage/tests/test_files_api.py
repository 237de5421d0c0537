"""Behaviour of the files API through the gateway: names, types, ranges, caching, access."""

from __future__ import annotations

import hashlib
import io
import uuid
import zipfile
from typing import Any
from urllib.parse import quote

import httpx

from .conftest import Org, s3_keys

CSV_UK = (
    "назва;сума\nШкола №1 «Дзвіночок»;100\n"
    "Комунальне підприємство 'Водоканал';200\nм. Запоріжжя ʼ’;300\n"
)


async def up(
    gw: httpx.AsyncClient, org: Org, data: bytes, name: str, headers: dict | None = None
) -> httpx.Response:
    h = {
        **org.h,
        "X-File-Name": quote(name),
        "Content-Type": "application/octet-stream",
        **(headers or {}),
    }
    return await gw.post(f"/api/v1/files?organization_id={org.id}", content=data, headers=h)


async def test_csv_with_ukrainian_name_and_content(gw: httpx.AsyncClient, org: Org) -> None:
    data = CSV_UK.replace("ʼ", "").encode("cp1251")
    r = await up(gw, org, data, "../../etc/Бюджет\x00 м. Запоріжжя’2026.csv")
    assert r.status_code == 201, r.text
    info = r.json()
    assert info["name"] == "Бюджет м. Запоріжжя’2026.csv"  # no path, no control characters
    assert info["media_type"] == "text/csv" and info["type_mismatch"] is False
    r = await gw.get(f"/api/v1/files/{info['id']}", headers=org.h)
    assert r.status_code == 200 and r.content == data
    cd = r.headers["content-disposition"]
    assert "filename*=UTF-8''" + quote(info["name"], safe="") in cd
    assert 'filename="Biudzhet_m._Zaporizhzhia2026.csv"' in cd
    assert r.headers["content-type"].startswith("text/csv")
    meta = (await gw.get(f"/api/v1/files/{info['id']}/info", headers=org.h)).json()
    assert set(meta) >= {
        "id",
        "organization_id",
        "name",
        "size",
        "sha256",
        "media_type",
        "created_at",
        "visibility",
    }
    assert meta["created_at"].endswith("Z")


async def test_csv_that_is_a_zip_is_flagged(gw: httpx.AsyncClient, org: Org) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("data.csv", CSV_UK)
    r = await up(gw, org, buf.getvalue(), "дані.csv")
    assert r.status_code == 201, r.text
    info = r.json()
    assert info["media_type"] == "application/zip"
    assert info["declared_media_type"] == "text/csv"
    assert info["type_mismatch"] is True
    html = b"<!DOCTYPE html><html><script>alert(1)</script></html>"
    r = await up(gw, org, html, "table.csv")
    assert r.json()["media_type"] == "text/html" and r.json()["type_mismatch"] is True
    got = await gw.get(f"/api/v1/files/{r.json()['id']}", headers=org.h)
    assert got.headers["content-type"].startswith("text/plain")  # never rendered as a page
    assert got.headers["x-content-type-options"] == "nosniff"


async def test_executable_is_refused_and_nothing_stored(
    gw: httpx.AsyncClient, org: Org, servers: Any
) -> None:
    r = await up(gw, org, b"MZ\x90\x00" + b"\x00" * 5000, "звіт.xlsx")
    assert r.status_code == 415
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["media_type"] == "application/x-msdownload"
    assert s3_keys(servers, f"files/{org.id}/") == []


async def test_auth_and_input_errors(
    gw: httpx.AsyncClient, org: Org, outsider: dict, admin: dict
) -> None:
    url = f"/api/v1/files?organization_id={org.id}"
    r = await gw.post(url, content=b"abc", headers={"X-File-Name": "a.txt"})
    assert r.status_code == 401
    r = await gw.post(url, content=b"abc", headers={**outsider, "X-File-Name": "a.txt"})
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    r = await gw.post("/api/v1/files?organization_id=not-a-uuid", content=b"abc", headers=org.h)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["query", "organization_id"]
    r = await gw.post("/api/v1/files", content=b"abc", headers=org.h)
    assert r.status_code == 422
    r = await gw.post(url, content=b"abc", headers={**org.h, "Content-Type": "multipart/form-data"})
    assert r.status_code == 400  # no boundary
    # admins may upload for any organization
    r = await gw.post(url, content=b"abc", headers={**admin, "X-File-Name": "admin.txt"})
    assert r.status_code == 201
    fid = r.json()["id"]
    # private: outsiders and anonymous get 404, members see it
    for h in ({}, outsider):
        assert (await gw.get(f"/api/v1/files/{fid}", headers=h)).status_code == 404
        assert (await gw.get(f"/api/v1/files/{fid}/info", headers=h)).status_code == 404
    assert (await gw.get(f"/api/v1/files/{fid}", headers=org.h)).status_code == 200
    assert (await gw.get(f"/api/v1/files/{uuid.uuid4()}", headers=admin)).status_code == 404
    assert (await gw.get("/api/v1/files/nope", headers=admin)).status_code == 422
    # delete: outsiders 404, members 204, again 204, then gone
    assert (await gw.delete(f"/api/v1/files/{fid}", headers=outsider)).status_code == 404
    r = await gw.delete(f"/api/v1/files/{fid}", headers={**org.h, "If-Match": '"stale"'})
    assert r.status_code == 412
    assert (await gw.delete(f"/api/v1/files/{fid}", headers=org.h)).status_code == 204
    assert (await gw.delete(f"/api/v1/files/{fid}", headers=org.h)).status_code == 204
    assert (await gw.get(f"/api/v1/files/{fid}", headers=org.h)).status_code == 404


async def test_ranges_conditional_and_head(gw: httpx.AsyncClient, org: Org) -> None:
    data = bytes(range(256)) * 40  # 10240 bytes
    info = (await up(gw, org, data, "ranges.bin")).json()
    url = f"/api/v1/files/{info['id']}"
    r = await gw.get(url, headers={**org.h, "Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == data[10:20]
    assert r.headers["content-range"] == f"bytes 10-19/{len(data)}"
    r = await gw.get(url, headers={**org.h, "Range": "bytes=-5"})
    assert r.status_code == 206 and r.content == data[-5:]
    r = await gw.get(url, headers={**org.h, "Range": "bytes=10240-"})
    assert r.status_code == 416 and r.headers["content-range"] == "bytes */10240"
    r = await gw.get(url, headers={**org.h, "Range": "bytes=0-1,100-103,10000-"})
    assert r.status_code == 206
    assert r.headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert int(r.headers["content-length"]) == len(r.content)
    boundary = r.headers["content-type"].split("boundary=")[1]
    parts = r.content.split(f"--{boundary}".encode())[1:-1]
    bodies = [p.split(b"\r\n\r\n", 1)[1][:-2] for p in parts]
    assert bodies == [data[0:2], data[100:104], data[10000:]]
    assert b"Content-Range: bytes 100-103/10240" in parts[1]
    r = await gw.get(url, headers={**org.h, "Range": "bytes=abc"})
    assert r.status_code == 200 and len(r.content) == len(data)  # malformed: ignored
    etag = r.headers["etag"]
    assert etag == f'"{hashlib.sha256(data).hexdigest()}"'
    r = await gw.get(url, headers={**org.h, "If-None-Match": etag})
    assert r.status_code == 304 and r.content == b""
    r = await gw.get(url, headers={**org.h, "If-Modified-Since": r.headers["last-modified"]})
    assert r.status_code == 304
    r = await gw.get(url, headers={**org.h, "If-Range": '"other"', "Range": "bytes=0-0"})
    assert r.status_code == 200
    r = await gw.head(url, headers=org.h)
    assert (
        r.status_code == 200 and r.headers["content-length"] == str(len(data)) and r.content == b""
    )


async def test_download_counts(gw: httpx.AsyncClient, org: Org) -> None:
    info = (await up(gw, org, b"a,b\n1,2\n", "count.csv")).json()
    for _ in range(3):
        assert (await gw.get(f"/api/v1/files/{info['id']}", headers=org.h)).status_code == 200
    await gw.head(f"/api/v1/files/{info['id']}", headers=org.h)  # not a download
    r = await gw.get(f"/api/v1/files/{info['id']}/stats", headers=org.h)
    assert r.status_code == 200 and r.json()["total"] == 3
    r = await gw.get(f"/api/v1/stats/storage/downloads?organization_id={org.id}", headers=org.h)
    assert r.status_code == 200
    rows = [i for i in r.json()["items"] if i["file_id"] == info["id"]]
    assert sum(i["count"] for i in rows) == 3
    r = await gw.get("/api/v1/stats/storage/downloads?from=2026-02-01&to=2026-01-01")
    assert r.status_code == 422
    # anonymous callers see only public files' counts
    r = await gw.get(f"/api/v1/stats/storage/downloads?organization_id={org.id}")
    assert r.status_code == 200 and r.json()["items"] == []


async def test_quota(gw: httpx.AsyncClient, org: Org, admin: dict, servers: Any) -> None:
    r = await gw.put(f"/api/v1/files/quotas/{org.id}", json={"quota_bytes": 100}, headers=org.h)
    assert r.status_code == 403
    r = await gw.put(f"/api/v1/files/quotas/{org.id}", json={"quota_bytes": 100}, headers=admin)
    assert r.status_code == 200 and r.json()["quota_bytes"] == 100
    assert (await up(gw, org, b"x" * 60, "a.txt")).status_code == 201
    r = await up(gw, org, b"y" * 60, "b.txt")
    assert r.status_code == 413 and r.json()["type"].endswith("/quota-exceeded")
    # streamed without Content-Length: refused while streaming, nothing left behind

    async def body() -> Any:
        yield b"z" * 30
        yield b"z" * 30

    r = await gw.post(
        f"/api/v1/files?organization_id={org.id}",
        content=body(),
        headers={**org.h, "X-File-Name": "c.txt"},
    )
    assert r.status_code == 413
    assert len(s3_keys(servers, f"files/{org.id}/")) == 1
    q = (await gw.get(f"/api/v1/files/quotas/{org.id}", headers=org.h)).json()
    assert q["used_bytes"] == 60
