"""Dataset requests: votes, accept -> catalog register entry -> dataset published -> fulfilled,
with the emails received by the real SMTP server."""

from __future__ import annotations

import httpx
from gateway.testing import create_user, login
from portal_dev.testing import eventually

from .conftest import World, publish_dataset


async def test_request_votes_accept_register_publish_fulfil(
    gw: httpx.AsyncClient, world: World, fb_system, mailbox
):
    box, _ = mailbox
    admin_token = await login(gw, fb_system.admin_email, fb_system.admin_password)
    voter = await create_user(gw, admin_token, full_name="Виборець")
    r = await gw.post(
        "/api/v1/requests",
        headers=world.citizen["headers"],
        json={
            "title": "Графік руху тролейбусів",
            "description": "Розклад у форматі GTFS",
            "why": "Для застосунку «Зупинка»",
            "suggested_organization_id": world.org["id"],
        },
    )
    assert r.status_code == 201, r.text
    req = r.json()
    assert (await gw.post("/api/v1/requests", json={"title": "x"})).status_code == 401

    # one vote per user, retractable
    url = f"/api/v1/requests/{req['id']}"
    for _ in range(2):
        r = await gw.put(f"{url}/vote", headers=voter["headers"])
        assert r.status_code == 200 and r.json()["votes"] == 1 and r.json()["voted"] is True
    r = await gw.put(f"{url}/vote", headers=world.steward["headers"])
    assert r.json()["votes"] == 2
    r = await gw.delete(f"{url}/vote", headers=world.steward["headers"])
    assert r.json()["votes"] == 1 and r.json()["voted"] is False
    r = await gw.post(
        f"{url}/comments",
        headers=voter["headers"],
        json={"body": "<img src=x onerror=alert(1)> дуже потрібно"},
    )
    assert r.status_code == 201
    assert r.json()["comments"][0]["body"] == "<img src=x onerror=alert(1)> дуже потрібно"

    # only moderators accept, with the current ETag
    r = await gw.post(f"{url}/accept", headers=world.steward["headers"], json={})
    assert r.status_code == 403
    cur = await gw.get(url)
    r = await gw.post(
        f"{url}/accept", json={}, headers={**world.moderator["headers"], "If-Match": 'W/"999"'}
    )
    assert r.status_code == 412
    r = await gw.post(
        f"{url}/accept",
        json={},
        headers={**world.moderator["headers"], "If-Match": cur.headers["etag"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted"
    assert r.json()["organization_id"] == world.org["id"]

    # the catalog turns it into a planned register entry and tells us which one
    async def entry() -> str:
        value = (await gw.get(url)).json()["register_entry_id"]
        assert value, "no register entry yet"
        return str(value)

    await eventually(entry, timeout=20)
    entry_id = await entry()

    # publishing the dataset of that entry fulfils the request
    ds = await publish_dataset(
        gw, world.steward, world.moderator, world.org["id"], register_entry_id=entry_id
    )

    async def fulfilled() -> bool:
        body = (await gw.get(url)).json()
        # the register entry may say "published" before the dataset event brings the name
        return (
            body["status"] == "fulfilled"
            and body["dataset_id"] == ds["id"]
            and body["dataset_name"] == ds["name"]
        )

    await eventually(fulfilled, timeout=20)
    body = (await gw.get(url)).json()
    assert body["dataset_name"] == ds["name"] and body["fulfilled_at"]
    # requester and voter are told by email
    for who in (world.citizen["email"], voter["email"]):
        await eventually(
            lambda who=who: [m for m in box.to(who) if m["kind"] == "request.fulfilled"], timeout=15
        )
    assert world.steward["email"].lower() not in {
        t for m in box.messages for t in m["to"] if m["kind"] == "request.fulfilled"
    }
    r = await gw.put(f"{url}/vote", headers=world.steward["headers"])
    assert r.status_code == 409


async def test_decline_and_merge(gw: httpx.AsyncClient, world: World):
    mk = {"description": "Опис", "why": "Потрібно"}
    a = (
        await gw.post(
            "/api/v1/requests", headers=world.citizen["headers"], json={"title": "Паркування", **mk}
        )
    ).json()
    b = (
        await gw.post(
            "/api/v1/requests",
            headers=world.steward["headers"],
            json={"title": "Паркування (дубль)", **mk},
        )
    ).json()
    c = (
        await gw.post(
            "/api/v1/requests",
            headers=world.steward["headers"],
            json={"title": "Нерелевантне", **mk},
        )
    ).json()
    mod = world.moderator["headers"]
    r = await gw.post(
        f"/api/v1/requests/{b['id']}/merge",
        json={"into": a["id"]},
        headers={**mod, "If-Match": f'W/"{b["revision"]}"'},
    )
    assert r.status_code == 200 and r.json()["status"] == "merged"
    assert (await gw.get(f"/api/v1/requests/{a['id']}")).json()["votes"] == 1
    r = await gw.post(
        f"/api/v1/requests/{c['id']}/decline",
        json={"reason": ""},
        headers={**mod, "If-Match": f'W/"{c["revision"]}"'},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][-1] == "reason"
    r = await gw.post(
        f"/api/v1/requests/{c['id']}/decline",
        json={"reason": "Дані не належать міській раді"},
        headers={**mod, "If-Match": f'W/"{c["revision"]}"'},
    )
    assert r.status_code == 200 and r.json()["decline_reason"] == "Дані не належать міській раді"
    listed = (await gw.get("/api/v1/requests", params={"status": "declined"})).json()
    assert c["id"] in [i["id"] for i in listed["items"]]
