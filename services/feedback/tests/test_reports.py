"""Reports through the gateway: anonymous report -> steward queue -> reply -> resolve, privacy,
bad input, throttling, duplicates and HTML kept as data."""

from __future__ import annotations

import uuid

import httpx
from portal_dev.testing import eventually

from .conftest import MODERATORS_EMAIL, World, anon

SCRIPT = "<script>alert('x')</script> Дані застарілі: <b>бюджет</b> за 2025 рік, м’ята ʼ"


async def test_anonymous_report_to_resolution(gw: httpx.AsyncClient, world: World, mailbox):
    box, _ = mailbox
    r = await gw.post(
        "/api/v1/feedback/reports",
        headers=anon(),
        json={
            "dataset_id": world.dataset["id"],
            "category": "outdated",
            "message": SCRIPT,
            "contact_email": "citizen.reporter@example.com",
            "website": "",
        },
    )
    assert r.status_code == 201, r.text
    rep = r.json()
    assert rep["message"] == SCRIPT  # stored and returned as text, not sanitised or rendered
    assert r.headers["content-type"].startswith("application/json")
    assert rep["status"] == "new" and rep["overdue"] is False
    assert rep["organization_id"] == world.org["id"]
    assert "contact_email" not in rep

    # public view hides the contact; the steward's queue has it, with the contact
    pub = (await gw.get(f"/api/v1/feedback/reports/{rep['id']}")).json()
    assert "contact_email" not in pub and pub["message"] == SCRIPT
    q = await gw.get("/api/v1/feedback/queue", headers=world.steward["headers"])
    assert q.status_code == 200
    mine = [i for i in q.json()["items"] if i["id"] == rep["id"]]
    assert mine and mine[0]["contact_email"] == "citizen.reporter@example.com"
    assert (await gw.get("/api/v1/feedback/queue")).status_code == 401
    assert (
        await gw.get("/api/v1/feedback/queue", headers=world.citizen["headers"])
    ).status_code == 403

    # only the organization's stewards (and moderators) reply
    r = await gw.post(
        f"/api/v1/feedback/reports/{rep['id']}/replies",
        headers=world.citizen["headers"],
        json={"body": "я не стюард"},
    )
    assert r.status_code == 403
    r = await gw.post(
        f"/api/v1/feedback/reports/{rep['id']}/notes",
        headers=world.steward["headers"],
        json={"body": "внутрішня нотатка"},
    )
    assert r.status_code == 201
    r = await gw.post(
        f"/api/v1/feedback/reports/{rep['id']}/replies",
        headers=world.steward["headers"],
        json={"body": "Дякуємо! Оновимо набір до п’ятниці."},
    )
    assert r.status_code == 201, r.text
    answered = r.json()
    assert answered["status"] == "answered" and answered["answered_on_time"] is True
    pub = (await gw.get(f"/api/v1/feedback/reports/{rep['id']}")).json()
    assert [x["body"] for x in pub["replies"]] == ["Дякуємо! Оновимо набір до п’ятниці."]
    assert "notes" not in pub
    priv = await gw.get(f"/api/v1/feedback/reports/{rep['id']}", headers=world.steward["headers"])
    assert [n["body"] for n in priv.json()["notes"]] == ["внутрішня нотатка"]

    # resolving needs the current ETag
    url = f"/api/v1/feedback/reports/{rep['id']}"
    r = await gw.patch(url, headers=world.steward["headers"], json={"status": "resolved"})
    assert r.status_code == 428
    r = await gw.patch(
        url, headers={**world.steward["headers"], "If-Match": 'W/"1"'}, json={"status": "resolved"}
    )
    assert r.status_code == 412
    r = await gw.patch(
        url,
        headers={**world.steward["headers"], "If-Match": priv.headers["etag"]},
        json={"status": "resolved"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "resolved"
    r = await gw.patch(
        url,
        headers={**world.steward["headers"], "If-Match": r.headers["etag"]},
        json={"status": "new"},
    )
    assert r.status_code == 409

    stats = (await gw.get(f"/api/v1/stats/feedback/organizations/{world.org['id']}")).json()
    assert stats["total"] == 1 and stats["answered"] == 1 and stats["overdue"] == 0
    assert stats["on_time_share"] == 1.0 and stats["median_response_hours"] >= 0
    assert stats["by_status"]["resolved"] == 1

    # the organization got the new report, the reporter got the reply (real SMTP server)
    await eventually(lambda: box.to(world.org["email"]), timeout=15)
    await eventually(lambda: box.to("citizen.reporter@example.com"), timeout=15)
    [reply_mail] = box.to("citizen.reporter@example.com")
    assert "п’ятниці" in reply_mail["body"] and reply_mail["kind"] == "report.replied"
    assert "Бюджет" in box.to(world.org["email"])[0]["subject"]


async def test_personal_data_report_hidden_and_sent_to_moderators(
    gw: httpx.AsyncClient, world: World, mailbox
):
    box, _ = mailbox
    r = await gw.post(
        "/api/v1/feedback/reports",
        headers=anon(),
        json={
            "dataset_id": world.dataset["id"],
            "category": "personal_data",
            "message": "У файлі видно ПІБ та телефони мешканців вул. Соборної",
        },
    )
    assert r.status_code == 201
    rid = r.json()["id"]
    assert r.json()["hidden"] is True
    assert (await gw.get(f"/api/v1/feedback/reports/{rid}")).status_code == 404
    listed = (
        await gw.get("/api/v1/feedback/reports", params={"dataset_id": world.dataset["id"]})
    ).json()
    assert rid not in [i["id"] for i in listed["items"]]
    assert (
        await gw.get(f"/api/v1/feedback/reports/{rid}", headers=world.citizen["headers"])
    ).status_code == 404
    mod = await gw.get(f"/api/v1/feedback/reports/{rid}", headers=world.moderator["headers"])
    assert mod.status_code == 200
    # a moderator cannot unhide it while it is open
    r = await gw.patch(
        f"/api/v1/feedback/reports/{rid}",
        json={"hidden": False},
        headers={**world.moderator["headers"], "If-Match": mod.headers["etag"]},
    )
    assert r.status_code == 409
    await eventually(
        lambda: [m for m in box.to(MODERATORS_EMAIL) if "персональних" in m["subject"]], timeout=15
    )


async def test_bad_input_is_422_naming_the_field(gw: httpx.AsyncClient, world: World):
    ds = world.dataset["id"]
    cases = [
        ({"dataset_id": ds, "category": "nonsense", "message": "Дані неправильні"}, "category"),
        ({"dataset_id": ds, "category": "other", "message": "я" * 5001}, "message"),
        ({"dataset_id": ds, "category": "other", "message": "   "}, "message"),
        (
            {"dataset_id": ds, "category": "other", "message": "ok ok ok", "contact_email": "ні"},
            "contact_email",
        ),
        ({"dataset_id": "not-a-uuid", "category": "other", "message": "Дані"}, "dataset_id"),
        (
            {"dataset_id": str(uuid.uuid4()), "category": "other", "message": "Дані неправильні"},
            "dataset_id",
        ),
        (
            {
                "dataset_id": ds,
                "resource_id": str(uuid.uuid4()),
                "category": "other",
                "message": "Дані неправильні",
            },
            "resource_id",
        ),
        (
            {
                "dataset_id": ds,
                "category": "other",
                "message": "Дані неправильні",
                "website": "http://spam.example",
            },
            "website",
        ),
        (
            {"dataset_id": ds, "category": "other", "message": "Дані неправильні", "admin": True},
            "admin",
        ),
    ]
    for body, fld in cases:
        r = await gw.post("/api/v1/feedback/reports", json=body, headers=anon())
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert fld in [e["loc"][-1] for e in r.json()["errors"]], (fld, r.json())
    r = await gw.post(
        "/api/v1/feedback/reports",
        content=b'{"dataset_id": ',
        headers={**anon(), "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert (await gw.get(f"/api/v1/feedback/reports/{uuid.uuid4()}")).status_code == 404
    assert (await gw.get("/api/v1/feedback/reports/123")).status_code == 422
    assert (await gw.get("/api/v1/feedback/reports", params={"limit": 1000})).status_code == 422
    r = await gw.post(
        "/api/v1/feedback/reports",
        headers={"Authorization": "Bearer nonsense"},
        json={"dataset_id": ds, "category": "other", "message": "Дані"},
    )
    assert r.status_code == 401


async def test_flood_is_throttled_and_duplicates_refused(gw: httpx.AsyncClient, world: World):
    ip = anon()
    body = {
        "dataset_id": world.dataset["id"],
        "category": "broken_link",
        "message": "Посилання на файл не відкривається",
    }
    r = await gw.post("/api/v1/feedback/reports", headers=ip, json=body)
    assert r.status_code == 201
    # the same text again (any case/punctuation) is a duplicate of the open report
    r = await gw.post(
        "/api/v1/feedback/reports",
        headers=ip,
        json={**body, "message": "посилання на файл НЕ відкривається!!"},
    )
    assert r.status_code == 409 and r.json()["existing_id"]
    statuses = []
    for i in range(8):
        r = await gw.post(
            "/api/v1/feedback/reports",
            headers=ip,
            json={**body, "message": f"Спам номер {i} про набір даних"},
        )
        statuses.append(r.status_code)
    assert 429 in statuses and statuses.count(201) <= 3, statuses
    r = await gw.post("/api/v1/feedback/reports", headers=ip, json=body)
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    # another client is not affected
    r = await gw.post(
        "/api/v1/feedback/reports",
        headers=anon(),
        json={**body, "message": "Інший користувач: файл порожній"},
    )
    assert r.status_code == 201


async def test_deadline_across_weekend_and_holiday(gw: httpx.AsyncClient, fb_system):
    # Friday 21 Aug 2026; Monday 24 Aug is Independence Day, a working day under martial law
    r = await gw.get("/api/v1/feedback/deadline", params={"received_at": "2026-08-21T09:00:00Z"})
    assert r.status_code == 200
    assert r.json()["deadline_at"] == "2026-08-28T20:59:59Z"  # 5 working days, weekend skipped
    assert r.json()["holidays_are_days_off"] is False
    r = await gw.get("/api/v1/feedback/deadline", params={"received_at": "2026-08-21T09:00:00"})
    assert r.status_code == 422
