"""Chaos on the real servers of the ``system`` fixture (issue 10, part 4).

PostgreSQL, NATS and S3 are stopped in turn while dataset writes, uploads and event flows
run, then started again; a service is killed mid-request; events are delivered twice and
out of order. Afterwards every accepted write is there, nothing half-written is visible,
every event was applied once (inbox), and the read models converge to the catalog
(``portal_dev.consistency``).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import httpx
import pytest
from gateway.testing import bearer, create_user, login
from portal_dev.consistency import converge

from .conftest import action, dataset_body, event_state, org_body

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
async def crew(system):
    async with httpx.AsyncClient(base_url=system.gateway_url, timeout=30) as client:
        admin = await login(client, system.admin_email, system.admin_password)
        r = await client.post(
            "/api/v1/organizations",
            headers=bearer(admin),
            json={
                **org_body("chaos", "Департамент інфраструктури"),
                "requires_update_moderation": False,
            },
        )
        assert r.status_code == 201, r.text
        org = r.json()
        editor = await create_user(client, admin, memberships={org["id"]: "editor"})
        moderator = await create_user(client, admin, roles=["moderator"])
        return {"org": org, "editor": editor["headers"], "moderator": moderator["headers"]}


async def _writer(url: str, crew, stop: asyncio.Event, accepted: dict, errors: list) -> None:
    """Create, fill and publish datasets and upload files until told to stop; record what
    the API accepted (2xx) and what it refused (any other answer or no answer)."""
    org = crew["org"]["id"]
    async with httpx.AsyncClient(base_url=url, timeout=15) as client:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                body = dataset_body(org, f"Ремонт доріг, черга {i} (п’ятниця)")
                r = await client.post("/api/v1/datasets", json=body, headers=crew["editor"])
                if r.status_code == 201:
                    ds = r.json()
                    accepted["datasets"][ds["id"]] = ds["title"]
                    data = f"вулиця;метри\nСоборний;{i}\n".encode()
                    f = await client.post(
                        f"/api/v1/files?organization_id={org}",
                        content=data,
                        headers={
                            **crew["editor"],
                            "X-File-Name": f"remont-{i}.csv",
                            "Content-Type": "application/octet-stream",
                        },
                    )
                    if f.status_code == 201:
                        accepted["files"][f.json()["id"]] = hashlib.sha256(data).hexdigest()
                        rr = await client.post(
                            f"/api/v1/datasets/{ds['id']}/resources",
                            headers=crew["editor"],
                            json={"name": "Ремонти", "format": "CSV", "file_id": f.json()["id"]},
                        )
                        if rr.status_code == 201 and i % 2 == 0:
                            s = await action(client, ds["id"], "submit", crew["editor"])
                            if s.status_code == 200:
                                p = await action(
                                    client,
                                    ds["id"],
                                    "publish",
                                    crew["moderator"],
                                    {"override_reason": "хаос-тест"},
                                )
                                if p.status_code == 200:
                                    accepted["published"].add(ds["id"])
                    else:
                        errors.append(f"upload {f.status_code}")
                else:
                    errors.append(f"create {r.status_code}")
            except (httpx.HTTPError, KeyError) as exc:
                errors.append(repr(exc)[:120])
                await asyncio.sleep(0.2)


async def _verify(system, crew, accepted: dict) -> None:
    url = system.gateway_url
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for ds_id, title in accepted["datasets"].items():
            r = await client.get(f"/api/v1/datasets/{ds_id}", headers=crew["editor"])
            assert r.status_code == 200, (ds_id, r.status_code)
            assert r.json()["title"] == title
        for ds_id in accepted["published"]:
            r = await client.get(f"/api/v1/datasets/{ds_id}")
            assert r.status_code == 200 and r.json()["status"] == "published"
        for fid, sha in accepted["files"].items():
            r = await client.get(f"/api/v1/files/{fid}/info", headers=crew["editor"])
            assert r.status_code == 200, (fid, r.status_code, r.text[:200])
            assert r.json().get("sha256") in (None, sha), fid
        rep = await converge(client, timeout=120)
        assert rep.ok, f"{rep}\n{await event_state(system)}"


async def _ready(system, timeout: float = 90) -> None:  # noqa: ASYNC109
    from portal_dev.testing import eventually

    async def all_ready() -> None:
        async with httpx.AsyncClient(timeout=5) as c:
            for name, url in system.service_urls.items():
                r = await c.get(f"{url}/readyz")
                assert r.status_code == 200, (name, r.status_code)

    await eventually(all_ready, timeout=timeout, interval=0.5)


@pytest.mark.parametrize("server", ["postgres", "nats", "s3"])
async def test_server_outage_during_writes(system, servers, crew, server) -> None:
    accepted = {"datasets": {}, "files": {}, "published": set()}
    errors: list[str] = []
    stop = asyncio.Event()
    task = asyncio.create_task(_writer(system.gateway_url, crew, stop, accepted, errors))
    await asyncio.sleep(2.0)
    before = len(accepted["datasets"])
    srv = getattr(servers, server)
    await asyncio.to_thread(srv.stop)
    await asyncio.sleep(3.0)
    await asyncio.to_thread(srv.start)
    await _ready(system)
    await asyncio.sleep(3.0)  # writes continue after recovery
    stop.set()
    await task
    assert before > 0, errors[:5]
    assert len(accepted["datasets"]) > before, ("no write succeeded after recovery", errors[-5:])
    await _verify(system, crew, accepted)


async def test_kill_service_mid_request(system, crew) -> None:
    accepted = {"datasets": {}, "files": {}, "published": set()}
    errors: list[str] = []
    stop = asyncio.Event()
    task = asyncio.create_task(_writer(system.gateway_url, crew, stop, accepted, errors))
    await asyncio.sleep(1.5)
    for name in ("catalog", "harvest"):
        await asyncio.to_thread(system.kill_service, name)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(system.start_service, name)
    await _ready(system)
    await asyncio.sleep(2.0)
    stop.set()
    await task
    # while a service was dead the gateway answered 502/503/504 (or the connection broke):
    # never a 4xx that would mean a half-applied write, never a 500
    bad = [
        e
        for e in errors
        if e.split()[0] in ("create", "upload") and e.split()[-1] not in ("502", "503", "504")
    ]
    assert not bad, bad
    await _verify(system, crew, accepted)


async def test_duplicate_and_reordered_events(system, servers, crew) -> None:
    """Copies of real catalog events under new Nats-Msg-Ids, newest first: consumers apply
    each event once (inbox rows unchanged) and keep the newest revision."""
    import nats

    async with httpx.AsyncClient(base_url=system.gateway_url, timeout=30) as client:
        body = dataset_body(crew["org"]["id"], "Зелені насадження")
        r = await client.post("/api/v1/datasets", json=body, headers=crew["editor"])
        ds = r.json()
        await client.post(
            f"/api/v1/datasets/{ds['id']}/resources",
            headers=crew["editor"],
            json={"name": "Дерева", "format": "CSV", "url": "https://data.zp.gov.ua/trees.csv"},
        )
        await action(client, ds["id"], "submit", crew["editor"])
        await action(client, ds["id"], "publish", crew["moderator"], {"override_reason": "тест"})
        g = await client.get(f"/api/v1/datasets/{ds['id']}", headers=crew["editor"])
        p = await client.patch(
            f"/api/v1/datasets/{ds['id']}",
            json={"title": "Зелені насадження 2026"},
            headers={**crew["editor"], "If-Match": g.headers["etag"]},
        )
        assert p.status_code == 200, p.text
        first = await converge(client, timeout=90)
        assert first.ok, f"{first}\n{await event_state(system)}"
    harvest_db = f"portal_harvest{system.db_suffix}"

    def inbox_count() -> int:
        return int(servers.postgres.psql("SELECT count(*) FROM inbox_message", harvest_db).stdout)

    before = inbox_count()
    nc = await nats.connect(servers.nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info("CATALOG")
        copies = []
        for seq in range(
            max(info.state.first_seq, info.state.last_seq - 40), info.state.last_seq + 1
        ):
            try:
                m = await js.get_msg("CATALOG", seq)
            except nats.js.errors.NotFoundError:
                continue
            if ds["id"] in (m.data or b"").decode("utf-8", "replace"):
                copies.append(m)
        assert len(copies) >= 3, len(copies)
        for m in reversed(copies):  # newest first: reordered
            for _ in range(2):  # and twice
                hdrs = dict(m.headers or {})
                hdrs["Nats-Msg-Id"] = str(uuid.uuid4())
                await js.publish(m.subject, m.data, headers=hdrs)
    finally:
        await nc.close()
    async with httpx.AsyncClient(base_url=system.gateway_url, timeout=30) as client:
        await asyncio.sleep(3.0)
        rep = await converge(client, timeout=60)
        assert rep.ok, f"{rep}\n{await event_state(system)}"
        r = await client.get("/api/3/action/package_show", params={"id": ds["id"]})
        assert r.json()["result"]["title"] == "Зелені насадження 2026"
    assert inbox_count() == before, "a duplicate event was applied again"
