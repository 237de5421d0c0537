"""End to end through the real system (gateway, identity, catalog, storage, quality as subprocesses):
an editor uploads real-world-shaped files through the storage API, attaches them to a dataset's
resources in the catalog, the storage.file.stored and catalog events reach quality, and the reports
are read through the gateway; a moderator's publish is refused by the catalog with quality's
blocking reasons and goes through once they are fixed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from catalog.testing import Api, upload, xlsx_bytes
from gateway.testing import bearer

pytestmark = pytest.mark.asyncio(loop_scope="session")

LONG_DESC = (
    "Перелік зупинок громадського транспорту м. Запоріжжя: назва зупинки, район, кількість "
    "маршрутів і дата обстеження павільйону; джерело — Департамент транспорту міської ради."
)

PURPOSE = "Рішення Запорізької міської ради № 12 від 01.02.2024 «Про відкриті дані»"

ROWS = [
    ["Код", "Назва зупинки", "Район", "Кількість маршрутів", "Дата обстеження"],
    ["z-001", "Площа Маяковського", "Олександрівський", "12", "2024-03-01"],
    ["z-002", "Вулиця Запорізька", "Вознесенівський", "7", "2024-03-02"],
    ["z-003", "П'ятихатки", "Хортицький", "4", "2024-03-03"],
    ["z-004", "Об'єкт «Дніпрогес»", "Дніпровський", "9", "2024-03-04"],
]


def csv_text(rows: list[list[str]], sep: str = ",") -> str:
    return "\r\n".join(sep.join(r) for r in rows) + "\r\n"


async def attach(
    gw: httpx.AsyncClient,
    editor: dict[str, str],
    ds_id: str,
    file_id: str,
    name: str,
    fmt: str,
    eventually: Any,
) -> dict[str, Any]:
    async def post() -> dict[str, Any]:
        # the catalog learns of the file from storage.file.stored; retry until it has
        r = await gw.post(
            f"/api/v1/datasets/{ds_id}/resources",
            json={"name": name, "format": fmt, "file_id": file_id},
            headers=editor,
        )
        assert r.status_code == 201, r.text
        return r.json()

    return await eventually(post, timeout=30, interval=0.3)


async def report(
    gw: httpx.AsyncClient, headers: dict[str, str], rid: str, eventually: Any
) -> dict[str, Any]:
    async def done() -> dict[str, Any]:
        r = await gw.get(f"/api/v1/quality/resources/{rid}", headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body.get("status") in ("valid", "invalid", "failed", "done"), body
        assert body.get("stars") is not None, body
        return body

    return await eventually(done, timeout=60, interval=0.3)


@pytest.fixture
async def world(gw: httpx.AsyncClient, admin_token: str, make_user: Any) -> dict[str, Any]:
    api = Api(gw, bearer(admin_token))
    org = await api.org(title="Департамент транспорту Запорізької міської ради")
    editor = (await make_user(memberships={org["id"]: "editor"}))["headers"]
    moderator = (await make_user(roles=["moderator"]))["headers"]
    outsider = (await make_user())["headers"]
    return {"api": api, "org": org, "editor": editor, "moderator": moderator, "outsider": outsider}


async def test_uploaded_files_get_verdicts_through_the_gateway(gw, world, eventually) -> None:
    api, org, editor = world["api"], world["org"], world["editor"]
    r = await api.dataset(
        org["id"], editor, title="Зупинки громадського транспорту", description=LONG_DESC
    )
    assert r.status_code == 201, r.text
    ds = r.json()
    files = {
        "cp1251": ("Зупинки (Windows-1251).csv", csv_text(ROWS, ";").encode("cp1251"), "CSV"),
        "bom": (
            "Зупинки — обстеження ’24.csv",
            (
                "\ufeff"
                + csv_text(
                    ROWS
                    + [["z-005", "Бульвар Шевченка", "Шевченківський", "багато", "2024-03-05"]]
                    + [[f"z-1{i:02d}", "Зупинка", "Район", str(i), "2024-04-01"] for i in range(30)]
                )
            ).encode("utf-8"),
            "CSV",
        ),
        "html": (
            "zupynky.csv",
            b"<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>\n",
            "CSV",
        ),
        "empty": ("порожній.csv", b"", "CSV"),
    }
    rids: dict[str, str] = {}
    for key, (name, data, fmt) in files.items():
        info = await upload(gw, editor, org["id"], data, name)
        res = await attach(
            gw, editor, ds["id"], info["id"], name.rsplit(".", 1)[0], fmt, eventually
        )
        assert res["file_id"] == info["id"]
        rids[key] = res["id"]

    cp = await report(gw, editor, rids["cp1251"], eventually)
    v = cp["validation"]
    assert (v["encoding"], v["delimiter"], v["fatal"]) == ("cp1251", ";", False)
    assert v["error_counts"] == {"encoding-warning": 1}
    assert [f["name"] for f in v["fields"]] == ROWS[0]
    assert [f["type"] for f in v["fields"]] == ["string", "string", "string", "integer", "date"]
    assert v["schema_source"] == "inferred" and cp["stars"] == 3

    bom = await report(gw, editor, rids["bom"], eventually)
    v = bom["validation"]
    assert v["encoding"] == "utf-8-sig" and v["fields"][0]["name"] == "Код"
    assert [(e["code"], e["row"], e["column"]) for e in v["errors"]] == [
        ("type-error", 6, 4)
    ]  # header is row 1
    assert "багато" in v["errors"][0]["message"] or "багато" in str(v["errors"][0])

    html = await report(gw, editor, rids["html"], eventually)
    assert (
        html["validation"]["detected_format"] == "HTML" and html["validation"]["fatal"] is True
    ), html
    assert html["validation"]["errors"][0]["code"] == "format-error"
    assert (html["stars"], html["d"]) == (0, 0)

    empty = await report(gw, editor, rids["empty"], eventually)
    assert (
        empty["validation"]["fatal"] is True
        and "source-error" in empty["validation"]["error_counts"]
    )
    assert empty["stars"] == 0

    # a draft's reports are private: anonymous and another organization's user get 404
    assert (await gw.get(f"/api/v1/quality/resources/{rids['bom']}")).status_code == 404
    assert (
        await gw.get(f"/api/v1/quality/resources/{rids['bom']}", headers=world["outsider"])
    ).status_code == 404
    # the dataset report names the fatal files
    r = await gw.get(f"/api/v1/quality/datasets/{ds['id']}", headers=world["moderator"])
    assert r.status_code == 200, r.text
    codes = {f["code"] for f in r.json()["findings"]}
    assert {"C6-format-error", "C6-source-error", "encoding-not-utf8"} <= codes, codes


async def test_publish_refused_with_reasons_then_fixed(gw, world, eventually) -> None:
    api, org, editor, moderator = world["api"], world["org"], world["editor"], world["moderator"]
    # a description too short and a "CSV" that is an HTML error page
    r = await api.dataset(
        org["id"], editor, title="Зупинки громадського транспорту (ремонт)", description="Зупинки."
    )
    assert r.status_code == 201, r.text
    ds = r.json()
    bad = await upload(
        gw, editor, org["id"], b"<html><body>Service Unavailable</body></html>", "zupynky.csv"
    )
    res = await attach(gw, editor, ds["id"], bad["id"], "Зупинки", "CSV", eventually)
    await report(gw, editor, res["id"], eventually)
    assert (await api.action(ds["id"], "submit", editor)).status_code == 200

    r = await api.action(ds["id"], "publish", moderator)
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    blocking = {(b["code"], b["field"]) for b in body["blocking"]}
    assert blocking == {
        ("C1-description", "description"),
        ("C1-purpose", "purpose"),
        ("C2-machine-readable", "resources"),
        ("C6-format-error", "resources[0]"),
    }, blocking
    desc = next(b for b in body["blocking"] if b["code"] == "C1-description")
    assert "від 100 до 4000" in desc["message"]
    html = next(b for b in body["blocking"] if b["code"] == "C6-format-error")
    assert "HTML" in html["message_en"] and "Зупинки" in html["message"]
    assert (await gw.get(f"/api/v1/datasets/{ds['id']}")).status_code == 404  # still not public

    # fix: a real description and a new version of the resource with the real CSV
    tag = await api.etag(f"/api/v1/datasets/{ds['id']}", editor)
    r = await gw.patch(
        f"/api/v1/datasets/{ds['id']}",
        json={"description": LONG_DESC, "purpose": PURPOSE},
        headers={**editor, "If-Match": tag},
    )
    assert r.status_code == 200, r.text
    good = await upload(gw, editor, org["id"], csv_text(ROWS).encode("utf-8"), "Зупинки.csv")
    rtag = (
        await gw.get(f"/api/v1/datasets/{ds['id']}/resources/{res['id']}", headers=editor)
    ).headers["etag"]

    async def new_version() -> None:
        r = await gw.post(
            f"/api/v1/datasets/{ds['id']}/resources/{res['id']}/versions",
            json={"file_id": good["id"], "format": "CSV"},
            headers={**editor, "If-Match": rtag},
        )
        assert r.status_code == 201, r.text

    await eventually(new_version, timeout=30, interval=0.3)

    async def revalidated() -> None:
        r = await gw.get(f"/api/v1/quality/resources/{res['id']}", headers=editor)
        body = r.json()
        assert body["file_id"] == good["id"] and body.get("status") == "done", body
        assert body["stars"] == 3

    await eventually(revalidated, timeout=60, interval=0.3)
    assert (await api.action(ds["id"], "submit", editor)).status_code == 200
    r = await api.action(ds["id"], "publish", moderator)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "published"

    # the published dataset's quality report becomes public
    async def public_report() -> None:
        r = await gw.get(f"/api/v1/quality/datasets/{ds['id']}")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "published" and r.json()["gates"]["C1"] is True

    await eventually(public_report, timeout=30, interval=0.3)

    # R of the steward rating comes from the feedback service: a citizen's report, then the reply
    async def reported() -> str:
        r = await gw.post(
            "/api/v1/feedback/reports",
            json={
                "dataset_id": ds["id"],
                "category": "wrong_data",
                "message": "У рядку про Пʼятихатки неправильна кількість маршрутів",
            },
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    report_id = await eventually(reported, timeout=30, interval=0.5)
    r = await gw.post(
        f"/api/v1/feedback/reports/{report_id}/replies",
        json={"body": "Дякуємо, виправили у новій версії файлу."},
        headers=editor,
    )
    assert r.status_code in (200, 201), r.text

    async def rated() -> None:
        # (a dataset enters the rating 7 days after publication; the card shows the inputs now)
        now = datetime.now(UTC)
        quarter = f"{now.year}Q{(now.month - 1) // 3 + 1}"
        r = await gw.get(
            "/api/v1/quality/card", params={"quarter": quarter, "organization": org["id"]}
        )
        assert r.status_code == 200, r.text
        inter = r.json()["interaction"]
        assert inter == {"source": "feedback", "reports": 1, "answered": 1, "overdue": 0}, inter
        r = await gw.get(
            "/api/v1/quality/card",
            params={"quarter": quarter, "organization": org["id"], "format": "csv"},
        )
        assert "Звернень щодо даних,1" in r.content.decode("utf-8-sig"), r.text

    await eventually(rated, timeout=40, interval=1.0)


async def test_xlsx_gets_a_derived_csv_in_storage(gw, world, system, eventually) -> None:
    """Issue 5: an XLSX gets a UTF-8 CSV stored back through the storage service, as visible as
    its source (private while the dataset is a draft, public once published), idempotent."""
    import json

    import nats
    from portal_kit.events.envelope import CloudEvent

    api, org, editor, moderator = world["api"], world["org"], world["editor"], world["moderator"]
    r = await api.dataset(
        org["id"],
        editor,
        title="Зупинки громадського транспорту (таблиця)",
        description=LONG_DESC,
        purpose=PURPOSE,
    )
    assert r.status_code == 201, r.text
    ds = r.json()
    rows = [ROWS[0], *[[c if i != 3 else int(c) for i, c in enumerate(r)] for r in ROWS[1:]]]
    src = await upload(gw, editor, org["id"], xlsx_bytes(rows, "Зупинки"), "Зупинки ’24.xlsx")
    res = await attach(gw, editor, ds["id"], src["id"], "Зупинки (XLSX)", "XLSX", eventually)

    async def derived() -> dict[str, Any]:
        r = await gw.get(f"/api/v1/quality/resources/{res['id']}", headers=editor)
        assert r.status_code == 200, r.text
        assert r.json().get("derived_file_id"), r.json()
        return r.json()

    rep = await eventually(derived, timeout=60, interval=0.3)
    assert rep["stars"] == 3 and rep["validation"]["detected_format"] == "XLSX"
    did = rep["derived_file_id"]
    assert rep["derived_file_url"] == f"/api/v1/files/{did}"

    # downloadable through the gateway's storage route as UTF-8, Cyrillic intact
    r = await gw.get(rep["derived_file_url"], headers=editor)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    lines = r.content.decode("utf-8").splitlines()
    assert (
        lines[0] == ",".join(ROWS[0])
        and lines[4] == "z-004,Об'єкт «Дніпрогес»,Дніпровський,9,2024-03-04"
    )
    info = (await gw.get(f"/api/v1/files/{did}/info", headers=editor)).json()
    assert info["derived_from"] == src["id"] and info["name"] == "Зупинки ’24.csv"
    assert info["organization_id"] == org["id"] and info["visibility"] == "private"
    source = (await gw.get(f"/api/v1/files/{src['id']}/info", headers=editor)).json()
    assert [(d["id"], d["media_type"]) for d in source["derived"]] == [
        (did, "text/csv; charset=utf-8")
    ]
    # private while the dataset is a draft: anonymous and outsiders see nothing
    assert (await gw.get(f"/api/v1/files/{did}")).status_code == 404
    assert (await gw.get(f"/api/v1/files/{did}", headers=world["outsider"])).status_code == 404

    # quality.file.derived delivered again (same event, and the same CSV announced anew)
    db = next(d for d in system.databases() if d.startswith("portal_quality"))
    out = system.servers.postgres.psql(
        "SELECT payload FROM outbox_message WHERE type = 'quality.file.derived' "
        f"AND payload->>'subject' = '{src['id']}'",
        database=db,
    )
    [payload] = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    ev = CloudEvent.model_validate(payload)
    nc = await nats.connect(system.servers.nats_url)
    try:
        js = nc.jetstream()
        for e in (ev, ev.model_copy(update={"id": "redelivered-" + ev.id})):
            await js.publish(e.type, e.to_json(), headers={"Nats-Msg-Id": "again-" + e.id})
    finally:
        await nc.close()

    # published: the derived CSV becomes public with its source
    assert (await api.action(ds["id"], "submit", editor)).status_code == 200
    r = await api.action(ds["id"], "publish", moderator)
    assert r.status_code == 200, r.text

    async def public() -> None:
        r = await gw.get(f"/api/v1/files/{did}")
        assert r.status_code == 200, r.text
        assert "Площа Маяковського" in r.content.decode("utf-8")

    await eventually(public, timeout=30, interval=0.3)

    def handled_twice() -> None:  # both deliveries reached storage's consumer
        storage_db = next(d for d in system.databases() if d.startswith("portal_storage"))
        n = system.servers.postgres.psql(
            "SELECT count(*) FROM inbox_message WHERE consumer = 'storage__derived' "
            f"AND event_id IN ('{ev.id}', 'redelivered-{ev.id}')",
            database=storage_db,
        ).stdout.strip()
        assert n == "2", n

    await eventually(handled_twice, timeout=30, interval=0.3)
    r = await gw.get(f"/api/v1/files?organization_id={org['id']}", headers=editor)
    mine = [f for f in r.json()["items"] if f["derived_from"] == src["id"]]
    assert [f["id"] for f in mine] == [did], mine  # no second file from the redeliveries
