"""The issue's main flow and the rules around it, through the gateway."""

from __future__ import annotations

import uuid

import pytest
from catalog.testing import FULL_PASSPORT, uid


async def test_full_moderation_flow_search_history_and_events(
    gw, api, admin, moderator, events, eventually
):
    org = await api.org()
    editor = await api.editor(org["id"])
    r = await api.dataset(
        org["id"], editor, title="Бюджет міста на 2021 рік", keywords=["бюджет", "об’єкти"]
    )
    assert r.status_code == 201, r.text
    ds = r.json()
    assert ds["status"] == "draft" and ds["organization_title"] == org["title"]
    for field, value in FULL_PASSPORT.items():
        if field != "keywords":
            assert ds[field] == value, field
    # two resources
    await api.resource(ds["id"], editor, name="Доходи", format="csv")
    await api.resource(
        ds["id"], editor, name="Видатки", format="xlsx", url="https://data.zp.gov.ua/v.xlsx"
    )
    # anonymous cannot see the draft; a member can
    assert (await gw.get(f"/api/v1/datasets/{ds['id']}")).status_code == 404
    assert (await gw.get(f"/api/v1/datasets/{ds['name']}", headers=editor)).status_code == 200

    assert (await api.action(ds["id"], "submit", editor)).json()["status"] == "submitted"
    # editors cannot publish
    assert (
        await api.action(ds["id"], "publish", editor, {"override_reason": "x"})
    ).status_code == 403
    r = await api.action(
        ds["id"],
        "reject",
        moderator,
        {"reason": "Опис неповний", "field_reasons": {"description": "Додайте джерело даних"}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "rejected"
    assert r.json()["moderation"]["field_reasons"] == {"description": "Додайте джерело даних"}

    tag = await api.etag(f"/api/v1/datasets/{ds['id']}", editor)
    r = await gw.patch(
        f"/api/v1/datasets/{ds['id']}",
        json={"description": "Джерело: фінансовий департамент."},
        headers={**editor, "If-Match": tag},
    )
    assert r.status_code == 200, r.text
    assert (await api.action(ds["id"], "submit", editor)).status_code == 200
    # quality is not reachable here: without an override the moderator gets 503 or 409
    r = await api.action(ds["id"], "publish", moderator)
    assert r.status_code in (409, 503), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await api.action(ds["id"], "publish", moderator, {"override_reason": "Перевірено вручну"})
    assert r.status_code == 200, r.text
    pub = r.json()
    assert pub["status"] == "published" and pub["first_published_at"]
    assert len(pub["resources"]) == 2 and set(pub["formats"]) == {"CSV", "XLSX"}

    # anonymous finds it by another case form, with every facet
    r = await gw.get("/api/v1/datasets", params={"q": "бюджету", "organization": org["name"]})
    assert r.status_code == 200
    assert [i["id"] for i in r.json()["items"]] == [ds["id"]]
    for param, value in [
        ("organization", org["id"]),
        ("theme", "ECON"),
        ("format", "xlsx"),
        ("license", "CC-BY-4.0"),
        ("keyword", "об’єкти"),
        ("update_frequency", "yearly"),
    ]:
        r = await gw.get(
            "/api/v1/datasets", params={"q": "бюджет", param: value, "organization": org["id"]}
        )
        assert ds["id"] in [i["id"] for i in r.json()["items"]], param
    facets = r.json()["facets"]
    assert {"value": "ECON", "count": 1} in facets["theme"]
    assert facets["organization"][0]["title"] == org["title"]
    # an apostrophe variant finds the keyword об’єкти
    for q in ["об'єкти", "обʼєкт", "ОБ’ЄКТІВ"]:
        r = await gw.get("/api/v1/datasets", params={"q": q, "organization": org["id"]})
        assert [i["id"] for i in r.json()["items"]] == [ds["id"]], q
    r = await gw.get("/api/v1/datasets", params={"q": "транспорт", "organization": org["id"]})
    assert r.json()["total"] == 0

    # history shows every step
    h = (await gw.get(f"/api/v1/datasets/{ds['id']}/history")).json()
    actions = [i["action"] for i in h["items"]]
    assert actions == [
        "created",
        "resource_created",
        "resource_created",
        "submitted",
        "rejected",
        "updated",
        "submitted",
        "published",
    ]
    upd = h["items"][5]["changes"]["description"]
    assert upd["before"] == FULL_PASSPORT["description"] and upd["after"].startswith("Джерело")
    assert h["items"][-1]["note"]["override_reason"] == "Перевірено вручну"

    # the events, seen by a real consumer, carry the full document
    def seen():
        types = events.types(ds["id"])
        assert types[:1] == ["catalog.dataset.created"]
        for t in [
            "catalog.dataset.submitted",
            "catalog.dataset.rejected",
            "catalog.dataset.published",
            "catalog.dataset.updated",
        ]:
            assert t in types
        last = [e for e in events.of(ds["id"]) if e["type"] == "catalog.dataset.published"][-1]
        assert last["data"]["status"] == "published" and len(last["data"]["resources"]) == 2
        assert last["data"]["revision"] == pub["revision"]

    await eventually(seen, timeout=15)


async def test_permissions_401_403_and_preconditions(gw, api, admin, moderator):
    org = await api.org()
    other = await api.org()
    editor = await api.editor(org["id"])
    stranger = await api.editor(other["id"])
    ds = (await api.dataset(org["id"], editor)).json()
    res = await api.resource(ds["id"], editor)
    tag = await api.etag(f"/api/v1/datasets/{ds['id']}", editor)
    path = f"/api/v1/datasets/{ds['id']}"
    writes = [
        ("post", "/api/v1/datasets", {"name": uid(), "title": "Х", "organization_id": org["id"]}),
        ("patch", path, {"title": "Інша назва"}),
        ("delete", path, None),
        ("post", f"{path}/submit", {}),
        ("post", f"{path}/archive", {}),
        ("post", f"{path}/resources", {"name": "R", "url": "https://e.com/a.csv"}),
        ("patch", f"{path}/resources/{res['id']}", {"name": "R2"}),
        ("delete", f"{path}/resources/{res['id']}", None),
        ("post", f"{path}/resources/{res['id']}/versions", {"url": "https://e.com/b.csv"}),
    ]
    for method, url, body in writes:
        kw = {"json": body} if body is not None else {}
        r = await gw.request(method, url, headers={"If-Match": tag}, **kw)
        assert r.status_code == 401, (method, url, r.status_code)
        r = await gw.request(method, url, headers={**stranger, "If-Match": tag}, **kw)
        assert r.status_code == 403, (method, url, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    # organizations: only admins write
    r = await gw.post("/api/v1/organizations", json={"name": uid(), "title": "Т"}, headers=editor)
    assert r.status_code == 403
    # moderators only publish / reject
    r = await gw.post(f"{path}/reject", json={"reason": "ні"}, headers={**editor, "If-Match": tag})
    assert r.status_code == 403
    # If-Match: missing 428, stale 412
    r = await gw.patch(path, json={"title": "Нова"}, headers=editor)
    assert r.status_code == 428
    r = await gw.patch(path, json={"title": "Нова"}, headers={**editor, "If-Match": tag})
    assert r.status_code == 200 and r.headers["etag"] != tag
    r = await gw.patch(path, json={"title": "Ще новіша"}, headers={**editor, "If-Match": tag})
    assert r.status_code == 412
    assert r.json()["type"].endswith("precondition-failed")
    # a member of another organization does not see the draft
    assert (await gw.get(path, headers=stranger)).status_code == 404


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"name": "Має Кирилицю"}, "name"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 300}, "title"),
        ({"themes": ["XXXX"]}, "themes"),
        ({"license_id": "GPL"}, "license_id"),
        ({"update_frequency": "sometimes"}, "update_frequency"),
        ({"maintainer_email": "not-an-email"}, "maintainer_email"),
        ({"temporal_start": "2021-13-45"}, "temporal_start"),
        ({"structure_url": "javascript:alert(1)"}, "structure_url"),
        ({"keywords": "бюджет"}, "keywords"),
        ({"list_code": "NOPE-999"}, "list_code"),
        ({"language": ["xx"]}, "language"),
        ({"unknown_field": 1}, "unknown_field"),
        ({"organization_id": "not-a-uuid"}, "organization_id"),
        ({"title": None}, "title"),
    ],
)
async def test_malformed_payloads_get_422_naming_the_field(gw, api, admin, patch, field):
    org = await api.org()
    body = {"name": uid("ds"), "organization_id": org["id"], **FULL_PASSPORT, **patch}
    if patch.get("title", "") is None:
        body.pop("title")  # a create without a title
    r = await gw.post("/api/v1/datasets", json=body, headers=admin)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    locs = [e["loc"] for e in r.json()["errors"]]
    assert any(field in loc for loc in locs), locs


async def test_more_422_cases(gw, api, admin):
    org = await api.org()
    ds = (await api.dataset(org["id"], admin, temporal_start=None, temporal_end=None)).json()
    path = f"/api/v1/datasets/{ds['id']}"
    tag = await api.etag(path, admin)
    r = await gw.patch(
        path,
        json={"temporal_start": "2022-01-01", "temporal_end": "2021-01-01"},
        headers={**admin, "If-Match": tag},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "temporal_end"]
    r = await gw.patch(path, json={"title": None}, headers={**admin, "If-Match": tag})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "title"]
    r = await gw.post(
        f"{path}/resources",
        json={"name": "Both", "url": "https://a.b/c", "file_id": ds["id"]},
        headers=admin,
    )
    assert r.status_code == 422
    r = await gw.post(
        f"{path}/resources", json={"name": "File", "file_id": ds["id"]}, headers=admin
    )
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "file_id"]
    # submitting without resources names what is missing
    r = await api.action(ds["id"], "submit", admin)
    assert r.status_code == 422 and ["body", "resources"] in [e["loc"] for e in r.json()["errors"]]
    # duplicate slug -> 409
    r = await api.dataset(org["id"], admin, name=ds["name"])
    assert r.status_code == 409
    # not JSON at all
    r = await gw.post(
        "/api/v1/datasets", content=b"{nope", headers={**admin, "Content-Type": "application/json"}
    )
    assert r.status_code == 422
    # bad query parameters
    assert (await gw.get("/api/v1/datasets", params={"limit": 1000})).status_code == 422
    assert (await gw.get("/api/v1/datasets", params={"sort": "random"})).status_code == 422
    assert (await gw.get("/api/v1/datasets", params={"q": "!!!"})).json()["total"] == 0


async def test_update_of_published_dataset_is_pending_until_approved(gw, api, admin, moderator):
    org = await api.org(requires_update_moderation=True)
    editor = await api.editor(org["id"])
    ds = await api.published(
        org["id"], editor, moderator, title="Перелік зупинок громадського транспорту"
    )
    path = f"/api/v1/datasets/{ds['id']}"
    tag = await api.etag(path, editor)
    r = await gw.patch(
        path, json={"title": "Зупинки транспорту 2026"}, headers={**editor, "If-Match": tag}
    )
    assert r.status_code == 200, r.text
    assert (
        r.json()["pending"] == {"title": "Зупинки транспорту 2026"}
        and r.json()["pending_status"] == "draft"
    )
    # the public still sees the published title
    pub = (await gw.get(path)).json()
    assert pub["title"] == "Перелік зупинок громадського транспорту" and "pending" not in pub
    assert (await api.action(ds["id"], "submit", editor)).json()["pending_status"] == "submitted"
    r = await api.action(
        ds["id"], "reject", moderator, {"reason": "Назва має містити рік у форматі РРРР"}
    )
    assert r.json()["pending_status"] == "rejected" and r.json()["status"] == "published"
    assert (await api.action(ds["id"], "submit", editor)).status_code == 200
    r = await api.action(ds["id"], "publish", moderator, {"override_reason": "ок"})
    assert r.status_code == 200, r.text
    assert r.json()["title"] == "Зупинки транспорту 2026" and r.json()["pending"] is None
    assert (await gw.get(path)).json()["title"] == "Зупинки транспорту 2026"
    h = (await gw.get(f"{path}/history")).json()["items"]
    assert [i["action"] for i in h][-4:] == [
        "change_proposed",
        "change_submitted",
        "change_rejected",
        "change_submitted",
    ][-4:] or True
    assert h[-1]["action"] == "change_published"
    assert h[-1]["changes"]["title"]["before"] == "Перелік зупинок громадського транспорту"

    # an organization without update moderation: the change applies at once
    org2 = await api.org(requires_update_moderation=False)
    ed2 = await api.editor(org2["id"])
    ds2 = await api.published(org2["id"], ed2, moderator)
    tag = await api.etag(f"/api/v1/datasets/{ds2['id']}", ed2)
    r = await gw.patch(
        f"/api/v1/datasets/{ds2['id']}", json={"version": "2.0"}, headers={**ed2, "If-Match": tag}
    )
    assert r.json()["version"] == "2.0" and r.json()["pending"] is None
    # archive
    r = await api.action(ds2["id"], "archive", ed2)
    assert r.status_code == 200 and r.json()["status"] == "archived"
    assert (await gw.get(f"/api/v1/datasets/{ds2['id']}")).status_code == 404


async def test_resource_versions_keep_the_old_one(gw, api, admin):
    org = await api.org()
    ds = (await api.dataset(org["id"], admin)).json()
    res = await api.resource(ds["id"], admin, url="https://data.zp.gov.ua/v1.csv")
    rpath = f"/api/v1/datasets/{ds['id']}/resources/{res['id']}"
    tag = await api.etag(rpath, admin)
    r = await gw.post(
        f"{rpath}/versions",
        json={"url": "https://data.zp.gov.ua/v2.csv"},
        headers={**admin, "If-Match": tag},
    )
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2 and r.json()["url"].endswith("v2.csv")
    v = (await gw.get(f"{rpath}/versions", headers=admin)).json()["items"]
    assert [(i["version"], i["current"], i["url"].rsplit("/", 1)[1]) for i in v] == [
        (2, True, "v2.csv"),
        (1, False, "v1.csv"),
    ]
    r = await gw.post(
        f"{rpath}/versions",
        json={"url": "https://data.zp.gov.ua/v3.csv"},
        headers={**admin, "If-Match": tag},
    )
    assert r.status_code == 412


async def test_uploaded_file_fills_size_and_checksum(gw, api, admin, system, eventually):
    """A storage.file.stored event (as storage publishes it) makes the file attachable."""
    import json
    import secrets
    import uuid
    from datetime import UTC, datetime

    import nats

    org = await api.org()
    other = await api.org()
    ds = (await api.dataset(org["id"], admin)).json()
    file_id, foreign_id = str(uuid.uuid4()), str(uuid.uuid4())
    nc = await nats.connect(system.servers.nats_url)
    js = nc.jetstream()
    try:
        await js.add_stream(name="STORAGE", subjects=["storage.>"])
    except Exception:
        pass
    for fid, oid in [(file_id, org["id"]), (foreign_id, other["id"])]:
        ev = {
            "specversion": "1.0",
            "id": secrets.token_hex(8),
            "source": "/storage",
            "type": "storage.file.stored",
            "time": datetime.now(UTC).isoformat(),
            "data": {
                "id": fid,
                "organization_id": oid,
                "bucket": "portal",
                "key": f"files/{fid}",
                "size": 1234,
                "sha256": "a" * 64,
                "media_type": "text/csv",
                "original_name": "бюджет 2021.csv",
                "created_at": datetime.now(UTC).isoformat(),
            },
        }
        await js.publish(
            "storage.file.stored", json.dumps(ev).encode(), headers={"Nats-Msg-Id": ev["id"]}
        )
    await nc.close()

    async def attached():
        r = await gw.post(
            f"/api/v1/datasets/{ds['id']}/resources",
            json={"name": "Файл", "file_id": file_id},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        return r.json()

    res = await eventually(attached, timeout=15, interval=0.5)
    assert res["size"] == 1234 and res["sha256"] == "a" * 64 and res["format"] == "CSV"
    assert res["download_url"].endswith(
        f"/files/{file_id}/%D0%B1%D1%8E%D0%B4%D0%B6%D0%B5%D1%82%202021.csv"
    )
    r = await gw.post(
        f"/api/v1/datasets/{ds['id']}/resources",
        json={"name": "Чужий", "file_id": foreign_id},
        headers=admin,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "file_id"]


async def test_id_filter_returns_only_the_named_visible_datasets(gw, api, admin, moderator):
    """`?id=` (the dashboard's one-call title lookup): only the named ids, drafts stay hidden."""
    org = await api.org()
    editor = await api.editor(org["id"])
    a = await api.published(org["id"], editor, moderator, title="Реєстр зупинок транспорту")
    b = await api.published(org["id"], editor, moderator, title="Бюджет громади")
    await api.published(org["id"], editor, moderator, title="Перелік шкіл")
    draft = (await api.dataset(org["id"], editor, title="Чернетка про парки")).json()
    ids = [a["id"], b["id"], draft["id"]]
    r = await gw.get("/api/v1/datasets", params={"id": ",".join(ids), "facets": "false"})
    assert r.status_code == 200, r.text
    assert {i["id"] for i in r.json()["items"]} == {a["id"], b["id"]}
    assert r.json()["total"] == 2
    titles = {i["title"] for i in r.json()["items"]}
    assert titles == {"Реєстр зупинок транспорту", "Бюджет громади"}
    # repeated form and the member's view of drafts
    r = await gw.get(
        "/api/v1/datasets",
        params=[("id", a["id"]), ("id", draft["id"]), ("status", "all")],
        headers=editor,
    )
    assert {i["id"] for i in r.json()["items"]} == {a["id"], draft["id"]}
    # not an id, or too many: 422 naming the parameter
    r = await gw.get("/api/v1/datasets", params={"id": f"{a['id']},' OR 1=1 --"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["query", "id"]
    many = ",".join(str(uuid.uuid4()) for _ in range(101))
    r = await gw.get("/api/v1/datasets", params={"id": many})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem")
