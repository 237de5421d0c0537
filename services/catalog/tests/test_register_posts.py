"""The register (preloaded mandatory list, compliance, exports, requests from feedback), posts,
vocabularies, and the Ukrainian search text."""

from __future__ import annotations

import csv
import io
import json
import secrets
import uuid
from datetime import UTC, datetime

import nats
from catalog import text
from openpyxl import load_workbook


async def test_register_preloaded_and_compliance_reflects_publishing(gw, api, admin, moderator):
    r = await gw.get("/api/v1/register", params={"mandatory": True, "limit": 100})
    assert r.status_code == 200
    assert r.json()["total"] == 75
    codes = {e["list_code"] for e in r.json()["items"]}
    assert {"ALL-01", "ALL-16", "LSG-01", "LSG-57"} <= codes
    entry = next(e for e in r.json()["items"] if e["list_code"] == "LSG-51")
    assert entry["status"] == "planned"

    org = await api.org(title="КП «Зеленбуд» — майданчики =SUM(A1)")
    editor = await api.editor(org["id"])
    before = (await gw.get("/api/v1/register/compliance")).json()
    row = next(i for i in before["items"] if i["list_code"] == "LSG-51")
    assert row["published"] is False and row["compliant"] is False

    # an admin assigns the entry; an editor may not
    e_path = f"/api/v1/register/{entry['id']}"
    tag = (await gw.get(e_path)).headers["etag"]
    r = await gw.patch(
        e_path, json={"organization_id": org["id"]}, headers={**editor, "If-Match": tag}
    )
    assert r.status_code == 403
    r = await gw.patch(
        e_path, json={"organization_id": org["id"]}, headers={**admin, "If-Match": tag}
    )
    assert r.status_code == 200 and r.json()["organization_id"] == org["id"]
    r = await gw.patch(
        e_path, json={"status": "in_preparation"}, headers={**editor, "If-Match": tag}
    )
    assert r.status_code == 412

    ds = await api.published(
        org["id"],
        editor,
        moderator,
        list_code="LSG-51",
        update_frequency="monthly",
        title="Дитячі та спортивні майданчики",
    )
    entry = (await gw.get(e_path)).json()
    assert entry["status"] == "published" and entry["dataset_id"] == ds["id"]
    after = (await gw.get("/api/v1/register/compliance")).json()
    row = next(i for i in after["items"] if i["list_code"] == "LSG-51")
    assert row["published"] and row["fresh"] and row["compliant"] and row["dataset_id"] == ds["id"]
    tot = next(t for t in after["totals"] if t["organization_id"] == org["id"])
    assert tot == {**tot, "entries": 1, "published": 1, "fresh": 1}
    assert after["summary"]["published"] == before["summary"]["published"] + 1

    r = await gw.get("/api/v1/register/compliance", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][0] == "Код"
    lsg51 = next(x for x in rows if x[0] == "LSG-51")
    assert lsg51[2] == "КП «Зеленбуд» — майданчики =SUM(A1)" and lsg51[4] == "так"

    r = await gw.get("/api/v1/register/compliance", params={"format": "xlsx"})
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(r.content))
    ws = wb["Відповідність"]
    cells = {row[0].value: row for row in ws.iter_rows(min_row=2)}
    assert cells["LSG-51"][4].value == "так"
    # formula injection is neutralised in the organization sheet
    titles = [c.value for c in wb["Розпорядники"]["A"]]
    assert "КП «Зеленбуд» — майданчики =SUM(A1)" in titles  # '=' not at the start: unchanged
    assert all(not str(t).startswith("=") for t in titles)
    assert (
        await gw.get("/api/v1/register/compliance", params={"format": "pdf"})
    ).status_code == 422


async def test_formula_injection_prefixed():
    from catalog.register import safe_cell

    assert safe_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert safe_cell("+380") == "'+380" and safe_cell("@x") == "'@x" and safe_cell("-1") == "'-1"
    assert safe_cell("Бюджет") == "Бюджет" and safe_cell(True) == "так" and safe_cell(None) == ""


async def test_accepted_request_becomes_planned_register_entry(gw, system, events, eventually):
    request_id = str(uuid.uuid4())
    nc = await nats.connect(system.servers.nats_url)
    js = nc.jetstream()
    try:
        await js.add_stream(name="FEEDBACK", subjects=["feedback.>"])
    except Exception:
        pass
    ev = {
        "specversion": "1.0",
        "id": secrets.token_hex(8),
        "source": "/feedback",
        "type": "feedback.request.accepted",
        "time": datetime.now(UTC).isoformat(),
        "data": {
            "request_id": request_id,
            "title": "Графік вивезення сміття з під’їздів",
            "accepted_at": datetime.now(UTC).isoformat(),
        },
    }
    for _ in range(2):  # a redelivery changes nothing
        await js.publish("feedback.request.accepted", json.dumps(ev).encode())
    await nc.close()

    async def created():
        r = await gw.get("/api/v1/register", params={"q": "вивезення сміття", "limit": 100})
        items = [e for e in r.json()["items"] if e["request_id"] == request_id]
        assert len(items) == 1 and items[0]["status"] == "planned"
        return items[0]

    entry = await eventually(created, timeout=15, interval=0.3)

    def emitted():
        assert [e["type"] for e in events.of(entry["id"])] == ["catalog.register.created"]

    await eventually(emitted, timeout=10)


async def test_posts_render_markdown_safely(gw, moderator, admin, api):
    editor = await api.editor((await api.org())["id"])
    body = {
        "kind": "guide",
        "title": "Як оприлюднити набір даних",
        "tags": ["методичка"],
        "body": "# Крок 1\n\nЗавантажте **CSV**.\n\n<script>alert(1)</script>\n\n"
        "[посилання](javascript:alert(1)) [сайт](https://data.gov.ua)",
    }
    assert (await gw.post("/api/v1/posts", json=body)).status_code == 401
    assert (await gw.post("/api/v1/posts", json=body, headers=editor)).status_code == 403
    r = await gw.post("/api/v1/posts", json=body, headers=moderator)
    assert r.status_code == 201, r.text
    post = r.json()
    assert post["body"] == body["body"]
    html = post["body_html"]
    assert "<h1>Крок 1</h1>" in html and "<strong>CSV</strong>" in html
    assert "<script" not in html and 'href="javascript' not in html
    assert 'href="https://data.gov.ua"' in html
    r = await gw.get("/api/v1/posts", params={"kind": "guide", "tag": "методичка"})
    assert post["id"] in [p["id"] for p in r.json()["items"]]
    r = await gw.patch(f"/api/v1/posts/{post['id']}", json={"title": "Нове"}, headers=moderator)
    assert r.status_code == 428
    r = await gw.post("/api/v1/posts", json={**body, "kind": "blog"}, headers=moderator)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "kind"]


async def test_vocabularies(gw):
    lic = (await gw.get("/api/v1/vocabularies/licenses")).json()["items"]
    assert next(x for x in lic if x["default"])["id"] == "CC-BY-4.0"
    assert {"CC0-1.0", "ODbL-1.0", "CC-BY-SA-4.0", "OGL-UA"} <= {x["id"] for x in lic}
    themes = (await gw.get("/api/v1/vocabularies/themes")).json()["items"]
    assert len(themes) == 13 and themes[1]["uri"].endswith("/data-theme/ECON")
    freqs = (await gw.get("/api/v1/vocabularies/frequencies")).json()["items"]
    monthly = next(f for f in freqs if f["code"] == "monthly")
    assert monthly["datagovua"] == "once a month" and monthly["eu_uri"].endswith("/MONTHLY")
    assert (await gw.get("/api/v1/vocabularies/nope")).status_code == 404


async def test_organization_crud_and_edrpou(gw, api, admin):
    org = await api.org(
        title="КП «Водоканал»",
        responsible_persons=[
            {
                "name": "Гребенюк Марʼяна",
                "position": "фахівець",
                "email": "m@vodokanal.zp.ua",
                "phone": "+380612000000",
            }
        ],
    )
    assert org["responsible_persons"][0]["name"] == "Гребенюк Марʼяна"
    for bad in ["1234567", "12345670", "abcdefgh"]:
        r = await gw.post(
            "/api/v1/organizations",
            json={"name": "x-" + secrets.token_hex(3), "title": "Т", "edrpou": bad},
            headers=admin,
        )
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "edrpou"], bad
    r = await gw.post(
        "/api/v1/organizations", json={"name": org["name"], "title": "Дубль"}, headers=admin
    )
    assert r.status_code == 409
    assert (await gw.get(f"/api/v1/organizations/{org['name']}")).json()["id"] == org["id"]
    tag = (await gw.get(f"/api/v1/organizations/{org['id']}")).headers["etag"]
    r = await gw.patch(
        f"/api/v1/organizations/{org['id']}",
        json={"website": "https://vodokanal.zp.ua"},
        headers={**admin, "If-Match": tag},
    )
    assert r.status_code == 200 and r.json()["revision"] == 2
    r = await gw.delete(
        f"/api/v1/organizations/{org['id']}", headers={**admin, "If-Match": r.headers["etag"]}
    )
    assert r.status_code == 204
    assert (await gw.get(f"/api/v1/organizations/{org['id']}")).status_code == 404


def test_ukrainian_search_text():
    assert text.stem(text.normalize("Бюджету")) == text.stem("бюджет") == "бюджет"
    assert (
        text.normalize("Об'єкт") == text.normalize("об’єкт") == text.normalize("ОБʼЄКТ") == "обєкт"
    )
    assert text.normalize("Ґрунти ЇЖАК Єдність") == "ґрунти їжак єдність"
    assert text.tsquery("бюджету міста") == "'бюджет':* & 'міст':*"
    assert text.tsquery("!!! ???") is None
    assert text.stem("2021") == "2021" and text.stem("csv") == "csv"
