"""With the real storage and quality services: a file really uploaded, the real quality gate,
resource changes of published datasets under update moderation, the search cache."""

from __future__ import annotations

import hashlib
import secrets
from urllib.parse import urlsplit

import asyncpg
from catalog import testing
from catalog.testing import uid

GOOD_DESCRIPTION = (
    "Показники виконання бюджету Запорізької міської територіальної громади: доходи та видатки "
    "за кодами бюджетної класифікації, помісячно, з поясненнями фінансового департаменту."
)
GOOD_PURPOSE = "Рішення міської ради № 12 від 01.02.2024 «Про відкриті дані»"
CSV = "Стаття,Сума\nОсвіта,1200.50\nМ’ясокомбінат,300\nОб'єкти благоустрою,42\n".encode()


async def upload(gw, headers, org_id, data: bytes, name: str) -> dict:
    return await testing.upload(gw, headers, org_id, data, name, "text/csv")


async def test_uploaded_file_attached_and_quality_gate_blocks_until_fixed(
    gw, api, moderator, eventually
):
    org = await api.org()
    editor = await api.editor(org["id"])
    other = await api.org()
    stranger = await api.editor(other["id"])
    f = await upload(gw, editor, org["id"], CSV, "бюджет 2026.csv")
    # the storage info route carries what the catalog reads when the event is late
    info = (await gw.get(f"/api/v1/files/{f['id']}/info", headers=editor)).json()
    for key in ("organization_id", "name", "size", "sha256", "media_type", "download_url"):
        assert info.get(key) is not None, key
    assert info["name"] == "бюджет 2026.csv" and info["organization_id"] == org["id"]

    ds = (await api.dataset(org["id"], editor, title="Бюджет громади 2026")).json()
    rpath = f"/api/v1/datasets/{ds['id']}/resources"
    # another organization's file is refused, naming the field
    foreign = await upload(gw, stranger, other["id"], CSV, "чужий.csv")
    r = await gw.post(rpath, json={"name": "Чужий", "file_id": foreign["id"]}, headers=editor)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "file_id"]
    r = await gw.post(rpath, json={"name": "Видатки", "file_id": f["id"]}, headers=editor)
    assert r.status_code == 201, r.text
    res = r.json()
    assert res["size"] == len(CSV) and res["sha256"] == hashlib.sha256(CSV).hexdigest()
    assert res["format"] == "CSV" and res["media_type"].startswith("text/csv")
    assert res["file_id"] == f["id"] and res["download_url"] == f["download_url"]

    # the real quality pre-check: a too short description and a purpose without the act
    assert (await api.action(ds["id"], "submit", editor)).status_code == 200
    r = await api.action(ds["id"], "publish", moderator)
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    blocking = {(b["code"], b["field"]) for b in r.json()["blocking"]}
    assert ("C1-description", "description") in blocking
    assert ("C1-purpose", "purpose") in blocking
    assert all(b["message"] for b in r.json()["blocking"])  # Ukrainian reasons for the editor
    assert (await gw.get(f"/api/v1/datasets/{ds['id']}")).status_code == 404  # not published

    tag = await api.etag(f"/api/v1/datasets/{ds['id']}", editor)
    r = await gw.patch(
        f"/api/v1/datasets/{ds['id']}",
        json={"description": GOOD_DESCRIPTION, "purpose": GOOD_PURPOSE},
        headers={**editor, "If-Match": tag},
    )
    assert r.status_code == 200, r.text
    assert (await api.action(ds["id"], "submit", editor)).status_code == 200

    async def published():
        r = await api.action(ds["id"], "publish", moderator)
        assert r.status_code == 200, r.text
        return r.json()

    pub = await eventually(published, timeout=20, interval=1)
    assert pub["status"] == "published"
    h = (await gw.get(f"/api/v1/datasets/{ds['id']}/history", headers=editor)).json()["items"]
    assert h[-1]["action"] == "published" and "override_reason" not in (h[-1]["note"] or {})

    # once published, anyone downloads the bytes through the resource's URL
    path = urlsplit(pub["resources"][0]["download_url"]).path

    async def public_bytes():
        r = await gw.get(path)
        assert r.status_code == 200, r.status_code
        return r.content

    assert await eventually(public_bytes, timeout=15, interval=0.5) == CSV


async def test_resource_changes_of_a_moderated_published_dataset_are_held(
    gw, api, moderator, events, eventually
):
    org = await api.org(requires_update_moderation=True)
    editor = await api.editor(org["id"])
    ds = await api.published(org["id"], editor, moderator, title="Перелік укриттів міста")
    dpath = f"/api/v1/datasets/{ds['id']}"
    old = ds["resources"][0]
    rpath = f"{dpath}/resources/{old['id']}"

    # adding, renaming and removing resources wait for a moderator
    r = await gw.post(
        f"{dpath}/resources",
        json={"name": "Укриття (GeoJSON)", "url": "https://data.zp.gov.ua/ukryttia.geojson"},
        headers=editor,
    )
    assert r.status_code == 202, r.text
    added = r.json()
    assert added["pending"] is True and added["name"] == "Укриття (GeoJSON)"
    rtag = await api.etag(rpath, editor)
    r = await gw.patch(rpath, json={"name": "Перейменовано"}, headers={**editor, "If-Match": rtag})
    assert r.status_code == 202 and r.json()["name"] == "Перейменовано"
    public = (await gw.get(dpath)).json()
    assert [x["name"] for x in public["resources"]] == [old["name"]] and "pending" not in public
    mine = (await gw.get(dpath, headers=editor)).json()
    held = mine["pending"]["resources"]
    assert [a["name"] for a in held["add"]] == ["Укриття (GeoJSON)"]
    assert held["update"] == {old["id"]: {"name": "Перейменовано"}}
    assert mine["pending_status"] == "draft"
    r = await gw.delete(rpath, headers={**editor, "If-Match": rtag})
    assert r.status_code == 202
    mine = (await gw.get(dpath, headers=editor)).json()
    assert mine["pending"]["resources"]["delete"] == [old["id"]]
    assert mine["pending"]["resources"]["update"] == {}
    assert len((await gw.get(f"{dpath}/resources")).json()["items"]) == 1

    # a new version of a file (the routine data update) applies at once, flagged for review
    r = await gw.post(
        f"{rpath}/versions",
        json={"url": "https://data.zp.gov.ua/files/data-2026-11.csv"},
        headers={**editor, "If-Match": rtag},
    )
    assert r.status_code == 201, r.text
    assert (await gw.get(rpath)).json()["url"].endswith("data-2026-11.csv")
    mine = (await gw.get(dpath, headers=editor)).json()
    assert [u["resource_id"] for u in mine["moderation"]["unreviewed"]] == [old["id"]]
    found = await gw.get("/api/v1/datasets", params={"needs_review": True}, headers=moderator)
    assert ds["id"] in [i["id"] for i in found.json()["items"]]
    anon = await gw.get("/api/v1/datasets", params={"needs_review": True})
    assert ds["id"] not in [i["id"] for i in anon.json()["items"]]
    tag = await api.etag(dpath, moderator)
    r = await gw.post(f"{dpath}/review", headers={**editor, "If-Match": tag})
    assert r.status_code == 403
    assert (await gw.post(f"{dpath}/review", headers={"If-Match": tag})).status_code == 401
    r = await gw.post(f"{dpath}/review", headers={**moderator, "If-Match": 'W/"1"'})
    assert r.status_code == 412
    r = await gw.get("/api/v1/datasets", params={"needs_review": "може"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][-1] == "needs_review"
    r = await gw.post(f"{dpath}/review", json={}, headers={**moderator, "If-Match": tag})
    assert r.status_code == 200, r.text
    assert "unreviewed" not in r.json()["moderation"]
    again = {**moderator, "If-Match": r.headers["etag"]}
    r = await gw.post(f"{dpath}/review", json={}, headers=again)
    assert r.status_code == 409

    # submitted and published: the held resource changes apply together
    assert (await api.action(ds["id"], "submit", editor)).json()["pending_status"] == "submitted"
    r = await api.action(ds["id"], "publish", moderator, {"override_reason": "перевірено"})
    assert r.status_code == 200, r.text
    pub = r.json()
    assert [x["name"] for x in pub["resources"]] == ["Укриття (GeoJSON)"]
    assert pub["resources"][0]["id"] == added["id"] and pub["pending"] is None
    assert (await gw.get(rpath)).status_code == 404
    h = (await gw.get(f"{dpath}/history", headers=editor)).json()["items"]
    actions = [i["action"] for i in h]
    assert actions.count("change_proposed") == 3 and "replacements_reviewed" in actions
    assert h[-1]["action"] == "change_published"
    assert h[-1]["changes"][f"resources.{old['id']}"]["after"] is None

    def seen():
        types = {(e["type"], e["subject"]) for e in events.items}
        assert ("catalog.resource.created", added["id"]) in types
        assert ("catalog.resource.deleted", old["id"]) in types

    await eventually(seen, timeout=15)


async def test_search_answers_follow_every_change(gw, api, admin, moderator):
    token = f"ukr{secrets.token_hex(4)}"
    org = await api.org()
    editor = await api.editor(org["id"])
    ds = await api.published(org["id"], editor, moderator, title=f"Реєстр об’єктів {token}")
    params = {"q": token}
    for _ in range(2):  # the second answer comes from the cache
        r = (await gw.get("/api/v1/datasets", params=params)).json()
        assert [i["id"] for i in r["items"]] == [ds["id"]] and r["total"] == 1
        assert r["facets"]["organization"][0]["title"] == org["title"]
    # renaming the organization shows in the facets at once
    otag = await api.etag(f"/api/v1/organizations/{org['id']}", admin)
    r = await gw.patch(
        f"/api/v1/organizations/{org['id']}",
        json={"title": "Управління з питань цивільного захисту"},
        headers={**admin, "If-Match": otag},
    )
    assert r.status_code == 200, r.text
    r = (await gw.get("/api/v1/datasets", params=params)).json()
    assert r["facets"]["organization"][0]["title"] == "Управління з питань цивільного захисту"
    # another spelling of the apostrophe and another case form hit the same answer
    r = (await gw.get("/api/v1/datasets", params={"q": f"обʼєкти {token.upper()}"})).json()
    assert [i["id"] for i in r["items"]] == [ds["id"]]
    # archived: gone from the public search at once
    r = await api.action(ds["id"], "archive", editor)
    assert r.status_code == 200
    r = (await gw.get("/api/v1/datasets", params=params)).json()
    assert r["total"] == 0 and r["items"] == []
    assert r["facets"]["organization"] == []
    # a new one with the same word appears at once
    ds2 = await api.published(org["id"], editor, moderator, title=f"Укриття {token}", name=uid())
    r = (await gw.get("/api/v1/datasets", params=params)).json()
    assert [i["id"] for i in r["items"]] == [ds2["id"]]
    # a new file version shows in the (cached) anonymous answer's documents at once
    rpath = f"/api/v1/datasets/{ds2['id']}/resources/{ds2['resources'][0]['id']}"
    rtag = await api.etag(rpath, editor)
    r = await gw.post(
        f"{rpath}/versions",
        json={"url": "https://data.zp.gov.ua/files/ukryttia-2026-12.csv"},
        headers={**editor, "If-Match": rtag},
    )
    assert r.status_code == 201, r.text
    r = (await gw.get("/api/v1/datasets", params=params)).json()
    assert r["items"][0]["resources"][0]["url"].endswith("ukryttia-2026-12.csv")
    # a member sees the held change in the list; the public answer does not carry it
    r = await gw.post(
        f"/api/v1/datasets/{ds2['id']}/resources",
        json={"name": "Додаток", "url": "https://data.zp.gov.ua/files/dodatok.csv"},
        headers=editor,
    )
    assert r.status_code == 202
    mine = (await gw.get("/api/v1/datasets", params=params, headers=editor)).json()
    assert mine["items"][0]["pending"]["resources"]["add"][0]["name"] == "Додаток"
    public = (await gw.get("/api/v1/datasets", params=params)).json()
    assert "pending" not in public["items"][0] and len(public["items"][0]["resources"]) == 1
    # relevance: a title match ranks above a newer dataset that has the word only in its text
    ds3 = await api.published(
        org["id"], editor, moderator, title="Рішення виконкому", description=f"Див. також {token}."
    )
    r = (await gw.get("/api/v1/datasets", params=params)).json()
    assert [i["id"] for i in r["items"]] == [ds2["id"], ds3["id"]] and r["sort"] == "relevance"
    r = (await gw.get("/api/v1/datasets", params={**params, "sort": "modified"})).json()
    assert [i["id"] for i in r["items"]] == [ds3["id"], ds2["id"]]


async def test_draft_work_leaves_the_public_search_cache_alone(gw, api, admin, moderator, system):
    """Editors saving drafts neither empty the public search cache nor queue on its generation
    row; a write the public can see (publish, then archive) moves it."""
    conn = await asyncpg.connect(system.servers.postgres.dsn("portal_catalog" + system.db_suffix))
    try:

        async def gen() -> int:
            return await conn.fetchval("SELECT gen FROM search_state WHERE id = 1")

        org = await api.org()
        editor = await api.editor(org["id"])
        before = await gen()
        r = await api.dataset(org["id"], editor, title="Чернетка: графік вивезення сміття")
        assert r.status_code == 201, r.text
        ds = r.json()
        tag = await api.etag(f"/api/v1/datasets/{ds['id']}", editor)
        r = await gw.patch(
            f"/api/v1/datasets/{ds['id']}",
            json={"title": "Чернетка: графік вивезення твердих побутових відходів"},
            headers={**editor, "If-Match": tag},
        )
        assert r.status_code == 200, r.text
        await api.resource(ds["id"], editor, name="Графік", format="csv")
        assert await gen() == before  # (organization writes by other tests could move it)
        assert (await api.action(ds["id"], "submit", editor)).status_code == 200
        assert await gen() == before
        r = await api.action(ds["id"], "publish", moderator, {"override_reason": "перевірено"})
        assert r.status_code == 200, r.text
        published = await gen()
        assert published > before
        assert (await api.action(ds["id"], "archive", editor)).status_code == 200
        assert await gen() > published
    finally:
        await conn.close()
