"""Surveys (answer once, live results, exports) and showcases (approval, dataset listing, dead
links found by the checker against a local HTTP server that is then stopped)."""

from __future__ import annotations

import csv
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from openpyxl import load_workbook
from portal_dev.testing import free_port

from .conftest import World, anon


async def test_survey_lifecycle(gw: httpx.AsyncClient, world: World):
    mod = world.moderator["headers"]
    other = world.dataset["id"]
    body = {
        "title": "Які дані публікувати далі?",
        "questions": [
            {
                "id": "topic",
                "type": "single",
                "text": "Тема",
                "required": True,
                "options": [
                    {"id": "transport", "label": "Транспорт"},
                    {"id": "budget", "label": "Бюджет"},
                ],
            },
            {
                "id": "formats",
                "type": "multiple",
                "text": "Формати",
                "options": [{"id": "csv", "label": "CSV"}, {"id": "json", "label": "JSON"}],
            },
            {"id": "score", "type": "rating", "text": "Оцінка порталу"},
            {"id": "free", "type": "text", "text": "Побажання"},
            {
                "id": "rank",
                "type": "rank",
                "text": "Упорядкуйте",
                "dataset_ids": [other, "00000000-0000-4000-8000-000000000001"],
            },
        ],
    }
    assert (
        await gw.post("/api/v1/surveys", json=body, headers=world.citizen["headers"])
    ).status_code == 403
    bad = {**body, "questions": [{"id": "q", "type": "single", "text": "?", "options": []}]}
    assert (await gw.post("/api/v1/surveys", json=bad, headers=mod)).status_code == 422
    r = await gw.post("/api/v1/surveys", json=body, headers=mod)
    assert r.status_code == 201, r.text
    s = r.json()
    sid = s["id"]
    assert (await gw.get(f"/api/v1/surveys/{sid}")).status_code == 404  # a draft is not public
    r = await gw.post(
        f"/api/v1/surveys/{sid}/responses", headers=anon(), json={"answers": {"topic": "budget"}}
    )
    assert r.status_code == 404
    r = await gw.post(f"/api/v1/surveys/{sid}/open", headers={**mod, "If-Match": r'W/"1"'})
    assert r.status_code == 200 and r.json()["accepting_answers"] is True

    answers = [
        (
            world.citizen["headers"],
            {
                "topic": "transport",
                "formats": ["csv", "json"],
                "score": 5,
                "free": '=HYPERLINK("http://evil")',
                "rank": [other],
            },
        ),
        (
            world.steward["headers"],
            {
                "topic": "budget",
                "formats": ["csv"],
                "score": 3,
                "free": "Більше даних про бюджет, будь ласка",
            },
        ),
        (anon(), {"topic": "transport", "score": 4}),
    ]
    for headers, a in answers:
        r = await gw.post(f"/api/v1/surveys/{sid}/responses", headers=headers, json={"answers": a})
        assert r.status_code == 201, r.text
    r = await gw.post(
        f"/api/v1/surveys/{sid}/responses",
        headers=world.citizen["headers"],
        json={"answers": {"topic": "budget"}},
    )
    assert r.status_code == 409  # a second answer by the same respondent
    for a, fld in [
        ({"topic": "nope"}, "topic"),
        ({"score": 6, "topic": "budget"}, "score"),
        ({}, "topic"),
        ({"topic": "budget", "ghost": 1}, "ghost"),
        ({"topic": "budget", "rank": ["x"]}, "rank"),
    ]:
        r = await gw.post(f"/api/v1/surveys/{sid}/responses", headers=anon(), json={"answers": a})
        assert r.status_code == 422 and fld in [e["loc"][-1] for e in r.json()["errors"]], r.text

    res = (await gw.get(f"/api/v1/surveys/{sid}/results")).json()
    assert res["responses"] == 3
    q = {x["id"]: x for x in res["questions"]}
    assert {o["id"]: o["count"] for o in q["topic"]["options"]} == {"transport": 2, "budget": 1}
    assert q["score"]["mean"] == 4.0 and q["rank"]["ranking"][0]["dataset_id"] == other
    assert "answers" not in q["free"]  # free text is for moderators only
    res_mod = (await gw.get(f"/api/v1/surveys/{sid}/results", headers=mod)).json()
    free = {x["id"]: x for x in res_mod["questions"]}["free"]["answers"]
    assert "Більше даних про бюджет, будь ласка" in free

    cur = await gw.get(f"/api/v1/surveys/{sid}", headers=mod)
    r = await gw.post(
        f"/api/v1/surveys/{sid}/close", headers={**mod, "If-Match": cur.headers["etag"]}
    )
    assert r.status_code == 200 and r.json()["status"] == "closed"
    r = await gw.post(
        f"/api/v1/surveys/{sid}/responses", headers=anon(), json={"answers": {"topic": "budget"}}
    )
    assert r.status_code == 409

    assert (await gw.get(f"/api/v1/surveys/{sid}/export.csv")).status_code == 401
    r = await gw.get(f"/api/v1/surveys/{sid}/export.csv", headers=mod)
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][3:] == ["topic", "formats", "score", "free", "rank"] and len(rows) == 4
    cells = [c for row in rows for c in row]
    assert '\'=HYPERLINK("http://evil")' in cells and not any(c.startswith("=") for c in cells)
    assert "Більше даних про бюджет, будь ласка" in cells
    r = await gw.get(f"/api/v1/surveys/{sid}/export.xlsx", headers=mod)
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content))["answers"]
    values = [c.value for row in ws.iter_rows() for c in row]
    assert '\'=HYPERLINK("http://evil")' in values and len(list(ws.iter_rows())) == 4


class _Ok(BaseHTTPRequestHandler):
    def do_HEAD(self):  # noqa: N802
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):  # quiet
        pass


async def test_showcase_approved_listed_and_flagged_dead(gw: httpx.AsyncClient, world: World):
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    mod = world.moderator["headers"]
    body = {
        "title": "Карта зупинок",
        "description": "Візуалізація <script>x</script>",
        "type": "visualization",
        "url": f"http://127.0.0.1:{port}/map",
        "image_url": f"http://127.0.0.1:{port}/map.png",
        "dataset_ids": [world.dataset["id"]],
        "author": "Студія «Хортиця»",
    }
    for bad, fld in [
        ({**body, "type": "game"}, "type"),
        ({**body, "url": "javascript:alert(1)"}, "url"),
        ({**body, "dataset_ids": []}, "dataset_ids"),
    ]:
        r = await gw.post("/api/v1/showcases", json=bad, headers=world.citizen["headers"])
        assert r.status_code == 422 and fld in [e["loc"][-1] for e in r.json()["errors"]]
    assert (await gw.post("/api/v1/showcases", json=body)).status_code == 401
    r = await gw.post("/api/v1/showcases", json=body, headers=world.citizen["headers"])
    assert r.status_code == 201, r.text
    sc = r.json()
    listed = (await gw.get("/api/v1/showcases", params={"dataset_id": world.dataset["id"]})).json()
    assert listed["total"] == 0  # not public before approval
    assert (await gw.get(f"/api/v1/showcases/{sc['id']}")).status_code == 404
    assert (
        await gw.get(f"/api/v1/showcases/{sc['id']}", headers=world.citizen["headers"])
    ).status_code == 200
    r = await gw.post(
        f"/api/v1/showcases/{sc['id']}/approve",
        headers={**world.citizen["headers"], "If-Match": 'W/"1"'},
    )
    assert r.status_code == 403
    r = await gw.post(f"/api/v1/showcases/{sc['id']}/approve", headers={**mod, "If-Match": 'W/"1"'})
    assert r.status_code == 200 and r.json()["status"] == "approved"
    listed = (await gw.get("/api/v1/showcases", params={"dataset_id": world.dataset["id"]})).json()
    assert [i["id"] for i in listed["items"]] == [sc["id"]]
    assert listed["items"][0]["description"] == "Візуалізація <script>x</script>"
    summary = (await gw.get(f"/api/v1/feedback/datasets/{world.dataset['id']}")).json()
    assert summary["showcases"] == 1

    r = await gw.post(f"/api/v1/showcases/{sc['id']}/check", headers=mod)
    assert r.json()["link_status"] == "ok"
    server.shutdown()
    server.server_close()
    r = await gw.post(f"/api/v1/showcases/{sc['id']}/check", headers=mod)
    assert r.json()["link_status"] == "failing"  # one failure is not yet dead
    r = await gw.post(f"/api/v1/showcases/{sc['id']}/check", headers=mod)
    assert r.json()["link_status"] == "dead" and r.json()["link_error"]
    dead = (
        await gw.get(
            "/api/v1/showcases", params={"link_status": "dead", "dataset_id": world.dataset["id"]}
        )
    ).json()
    assert [i["id"] for i in dead["items"]] == [sc["id"]]
