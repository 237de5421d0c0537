"""Upload and download through the gateway, on the real S3 server."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
import psutil
import pytest

from .conftest import Generated, MiB, Org, download_sha256, s3_keys


async def upload_raw(
    gw: httpx.AsyncClient, org: Org, content: Any, name: str, **headers: str
) -> httpx.Response:
    from urllib.parse import quote

    h = {**org.h, "X-File-Name": quote(name), "Content-Type": "application/octet-stream"}
    h.update(headers)
    return await gw.post(f"/api/v1/files?organization_id={org.id}", content=content, headers=h)


async def test_one_byte_roundtrip(gw: httpx.AsyncClient, org: Org) -> None:
    r = await upload_raw(gw, org, b"x", "один.txt")
    assert r.status_code == 201, r.text
    info = r.json()
    assert info["size"] == 1
    assert info["sha256"] == hashlib.sha256(b"x").hexdigest()
    assert info["name"] == "один.txt"
    assert info["visibility"] == "private"
    resp, size, sha = await download_sha256(gw, f"/api/v1/files/{info['id']}", org.h)
    assert resp.status_code == 200
    assert (size, sha) == (1, info["sha256"])
    assert resp.headers["content-length"] == "1"
    assert resp.headers["etag"] == f'"{info["sha256"]}"'


async def test_ten_mb_roundtrip_raw_and_multipart(
    gw: httpx.AsyncClient, org: Org, servers: Any
) -> None:
    gen = Generated(10 * MiB + 123)
    r = await upload_raw(gw, org, gen.achunks(), "бюджет 2026.bin")
    assert r.status_code == 201, r.text
    info = r.json()
    assert info["sha256"] == gen.sha256 and info["size"] == gen.size
    resp, size, sha = await download_sha256(gw, info["download_url"], org.h)
    assert resp.status_code == 200 and size == gen.size and sha == gen.sha256
    # the same bytes as a browser form (streamed multipart body)
    gen2 = Generated(10 * MiB, seed=gen.seed)
    boundary = "----zp-boundary-7d3a"

    async def form() -> Any:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f"filename*=UTF-8''%D0%97%D0%B0%D0%BF%D0%BE%D1%80%D1%96%D0%B6%D0%B6%D1%8F.bin\r\n"
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        async for c in gen2.achunks():
            yield c
        yield f"\r\n--{boundary}--\r\n".encode()

    r = await gw.post(
        f"/api/v1/files?organization_id={org.id}",
        content=form(),
        headers={**org.h, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status_code == 201, r.text
    info2 = r.json()
    assert info2["name"] == "Запоріжжя.bin"
    assert info2["sha256"] == gen2.sha256 and info2["size"] == 10 * MiB
    keys = s3_keys(servers, f"files/{org.id}/{info2['id']}/")
    assert keys == [f"files/{org.id}/{info2['id']}/Zaporizhzhia.bin"]
    resp, size, sha = await download_sha256(gw, f"/api/v1/files/{info2['id']}", org.h)
    assert (size, sha) == (10 * MiB, gen2.sha256)


@pytest.mark.slow
async def test_one_gb_roundtrip_bounded_memory(
    gw: httpx.AsyncClient, org: Org, system: Any
) -> None:
    proc = psutil.Process(system.procs["storage"].process.pid)
    base = proc.memory_info().rss
    peak = {"rss": base}
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            peak["rss"] = max(peak["rss"], proc.memory_info().rss)
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    try:
        gen = Generated(1024 * MiB)
        r = await upload_raw(gw, org, gen.achunks(), "великий.bin")
        assert r.status_code == 201, r.text
        info = r.json()
        assert info["size"] == gen.size and info["sha256"] == gen.sha256
        resp, size, sha = await download_sha256(gw, f"/api/v1/files/{info['id']}", org.h)
        assert resp.status_code == 200
        assert (size, sha) == (gen.size, gen.sha256)
    finally:
        done.set()
        await watcher
    print(f"storage RSS: idle {base / MiB:.0f} MiB, peak {peak['rss'] / MiB:.0f} MiB")
    assert peak["rss"] < 150 * MiB, (
        f"storage peaked at {peak['rss'] / MiB:.0f} MiB (idle {base / MiB:.0f})"
    )
