"""Issue 5 in the catalog: the UTF-8 CSV the platform makes of an XLSX (quality converts, storage
records it ``derived_from`` the source) shows on the resource as ``derived``. Real system: files
uploaded through the gateway, the real quality conversion, the real storage events."""

from __future__ import annotations

import json

import nats
from catalog.testing import uid, upload
from catalog.testing import xlsx_bytes as xlsx
from portal_kit.events.envelope import CloudEvent

ROWS = [
    ["Код", "Назва зупинки", "Район", "Кількість маршрутів"],
    ["z-001", "Площа Маяковського", "Олександрівський", 12],
    ["z-002", "Об'єкт «Дніпрогес»", "Дніпровський", 9],
]


async def copy_of(gw, headers, file_id: str, eventually) -> dict:
    """The derived CSV storage recorded for a file (quality converted it)."""

    async def made() -> dict:
        info = (await gw.get(f"/api/v1/files/{file_id}/info", headers=headers)).json()
        assert info.get("derived"), info
        [d] = info["derived"]
        return (await gw.get(f"/api/v1/files/{d['id']}/info", headers=headers)).json()

    return await eventually(made, timeout=90, interval=0.5)


def catalog_db(system) -> str:
    return next(d for d in system.databases() if d.startswith("portal_catalog"))


async def test_derived_csv_on_the_resource(gw, api, moderator, events, system, eventually):
    org = await api.org()
    editor = await api.editor(org["id"])

    # the copy is announced before any resource uses the source: kept in the file read model
    src = await upload(gw, editor, org["id"], xlsx(ROWS), f"Зупинки ’24 {uid()}.xlsx")
    copy = await copy_of(gw, editor, src["id"], eventually)
    assert copy["derived_from"] == src["id"] and copy["name"].endswith(".csv")

    def known() -> None:
        out = system.servers.postgres.psql(
            f"SELECT count(*) FROM stored_file WHERE derived_from = '{src['id']}'",
            database=catalog_db(system),
        ).stdout.strip()
        assert out == "1", out

    await eventually(known, timeout=30, interval=0.3)
    ds = (await api.dataset(org["id"], editor, title="Зупинки громадського транспорту")).json()
    rpath = f"/api/v1/datasets/{ds['id']}/resources"
    r = await gw.post(
        rpath, json={"name": "Зупинки (таблиця)", "file_id": src["id"]}, headers=editor
    )
    assert r.status_code == 201, r.text
    res = r.json()
    expected = {
        "file_id": copy["id"],
        "format": "CSV",
        "media_type": "text/csv; charset=utf-8",
        "name": copy["name"],
        "size": copy["size"],
        "sha256": copy["sha256"],
        "url": copy["download_url"],  # the catalog's URL is storage's
    }
    [d] = res["derived"]
    assert {k: d[k] for k in expected} == expected, d
    # the public download URL has the same shape as the resource's own
    assert d["url"].rsplit("/files/", 1)[0] == res["download_url"].rsplit("/files/", 1)[0]

    # a draft: shown on every read (document, resource list, search)
    body = (await gw.get(f"/api/v1/datasets/{ds['id']}", headers=editor)).json()
    assert body["resources"][0]["derived"] == [d]
    listed = (await gw.get(rpath, headers=editor)).json()["items"]
    assert listed[0]["derived"] == [d]
    found = await gw.get(
        "/api/v1/datasets", params={"status": "draft", "q": "Зупинки"}, headers=editor
    )
    [hit] = [x for x in found.json()["items"] if x["id"] == ds["id"]]
    assert hit["resources"][0]["derived"] == [d]

    # published: the document the catalog publishes carries it
    assert (await api.action(ds["id"], "submit", editor)).status_code == 200
    r = await api.action(ds["id"], "publish", moderator, {"override_reason": "перевірено"})
    assert r.status_code == 200, r.text
    assert r.json()["resources"][0]["derived"] == [d]

    def published_with_copy() -> None:
        [ev] = [e for e in events.of(ds["id"]) if e["type"] == "catalog.dataset.published"]
        assert ev["data"]["resources"][0]["derived"][0]["file_id"] == copy["id"]

    await eventually(published_with_copy, timeout=30, interval=0.3)

    # a new version (another spreadsheet): the old copy is gone from the current resource at
    # once; the new copy arrives later as a new revision with catalog.resource.updated
    new = await upload(
        gw, editor, org["id"], xlsx([*ROWS, ["z-003", "Хортиця", "Хортицький", 4]]), "v2.xlsx"
    )
    tag = await api.etag(f"{rpath}/{res['id']}", editor)

    async def replace() -> dict:
        r = await gw.post(
            f"{rpath}/{res['id']}/versions",
            json={"file_id": new["id"]},
            headers={**editor, "If-Match": tag},
        )
        assert r.status_code == 201, r.text
        return r.json()

    v2 = await eventually(replace, timeout=30, interval=0.3)
    assert v2["file_id"] == new["id"] and v2["version"] == 2
    new_copy = await copy_of(gw, editor, new["id"], eventually)

    async def shows_new_copy() -> dict:
        r = await gw.get(f"/api/v1/datasets/{ds['id']}")  # anonymous: the public document
        assert [x["file_id"] for x in r.json()["resources"][0]["derived"]] == [new_copy["id"]]
        return r.json()

    public = await eventually(shows_new_copy, timeout=30, interval=0.3)

    def announced() -> None:
        evs = [
            e
            for e in events.of(res["id"])
            if e["type"] == "catalog.resource.updated"
            and [x["file_id"] for x in e["data"]["resource"]["derived"]] == [new_copy["id"]]
        ]
        assert len(evs) == 1, evs
        assert evs[0]["data"]["dataset"]["revision"] == public["revision"]
        assert evs[0]["data"]["dataset"]["modified_at"] == public["modified_at"]

    await eventually(announced, timeout=30, interval=0.3)
    # the replaced version keeps the copy it had
    versions = (await gw.get(f"{rpath}/{res['id']}/versions", headers=editor)).json()["items"]
    assert versions[1]["version"] == 1 and versions[1]["derived"][0]["file_id"] == copy["id"]
    history = (await gw.get(f"/api/v1/datasets/{ds['id']}/history", headers=editor)).json()
    actions = [h["action"] for h in history["items"]]
    assert "derived_file_added" in actions, actions

    # storage deletes the copy: the same event twice (redelivered under the same id) and the
    # stored event again under a new id remove it once and never bring it back
    gone = CloudEvent(
        source="/storage",
        type="storage.file.deleted",
        subject=new_copy["id"],
        data={
            "id": new_copy["id"],
            "organization_id": org["id"],
            "bucket": "files",
            "key": f"derived/{new['id']}/{new_copy['sha256']}.csv",
        },
    )
    again = CloudEvent(
        source="/storage",
        type="storage.file.stored",
        subject=new_copy["id"],
        data={
            "id": new_copy["id"],
            "organization_id": org["id"],
            "bucket": "files",
            "key": "k",
            "size": new_copy["size"],
            "sha256": new_copy["sha256"],
            "media_type": "text/csv; charset=utf-8",
            "original_name": new_copy["name"],
            "created_at": "2026-01-01T00:00:00Z",
            "derived_from": new["id"],
        },
    )
    nc = await nats.connect(system.servers.nats_url)
    try:
        js = nc.jetstream()
        for i, ev in enumerate((gone, gone, again)):
            await js.publish(ev.type, ev.to_json(), headers={"Nats-Msg-Id": f"t{i}-{ev.id}"})
    finally:
        await nc.close()

    def removed() -> None:
        evs = [
            e["data"]["resource"]["derived"]
            for e in events.of(res["id"])
            if e["type"] == "catalog.resource.updated"
        ]
        assert evs[-1] == [], evs

    await eventually(removed, timeout=30, interval=0.3)

    def handled() -> None:
        n = system.servers.postgres.psql(
            "SELECT count(*) FROM inbox_message WHERE consumer = 'catalog__files' "
            f"AND event_id IN ('{gone.id}', '{again.id}')",
            database=catalog_db(system),
        ).stdout.strip()
        assert n == "2", n

    await eventually(handled, timeout=30, interval=0.3)
    body = (await gw.get(f"/api/v1/datasets/{ds['id']}")).json()
    assert body["resources"][0]["derived"] == []
    removals = [
        e
        for e in events.of(res["id"])
        if e["type"] == "catalog.resource.updated"
        and e["data"]["resource"]["derived"] == []
        and e["data"]["dataset"]["revision"] > public["revision"]
    ]
    assert len(removals) == 1, [json.dumps(e)[:200] for e in removals]
