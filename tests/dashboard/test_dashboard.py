"""The analytical dashboard, end to end: real system, real tokens, Debian's Chromium via Playwright.

A small realistic data set is made through the public API (two organizations with Ukrainian
names, datasets in several states, requests with votes); then the page is driven in headless
Chromium and its numbers are compared with the API's, and the API's with the services' own.
Screenshots go to test-artifacts/dashboard/.
"""

from __future__ import annotations

import csv
import io
import secrets
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway.testing import bearer, create_user, login
from portal_dev.testing import eventually

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (apt-get install chromium)"
)


async def _publishable(
    client: httpx.AsyncClient,
    headers: dict,
    org_id: str,
    name: str,
    title: str,
    fmt: str,
    theme: str,
) -> str:
    r = await client.post(
        "/api/v1/datasets",
        headers=headers,
        json={
            "name": name,
            "organization_id": org_id,
            "title": title,
            "description": f"{title}. Тестовий набір для аналітичної панелі.",
            "maintainer": "Марʼяна Кравченко",
            "maintainer_email": "data@zp.gov.ua",
            "keywords": ["тест", "панель"],
            "themes": [theme],
            "license_id": "CC-BY-4.0",
            "language": ["uk"],
            "update_frequency": "monthly",
            "spatial": "м. Запоріжжя",
            "legal_basis": "Постанова КМУ від 21.10.2015 № 835",
            "purpose": "Виконання вимог законодавства про відкриті дані",
            "temporal_start": "2024-01-01",
        },
    )
    assert r.status_code == 201, r.text
    ds_id = r.json()["id"]
    r = await client.post(
        f"/api/v1/datasets/{ds_id}/resources",
        headers=headers,
        json={
            "name": f"{title} ({fmt})",
            "format": fmt,
            "url": f"https://data.zp.gov.ua/files/{name}.{fmt.lower()}",
        },
    )
    assert r.status_code in (200, 201), r.text
    return ds_id


async def _act(
    client: httpx.AsyncClient, ds_id: str, verb: str, headers: dict, body: dict | None = None
) -> None:
    g = await client.get(f"/api/v1/datasets/{ds_id}", headers=headers)
    r = await client.post(
        f"/api/v1/datasets/{ds_id}/{verb}",
        json=body or {},
        headers={**headers, "If-Match": g.headers["etag"]},
    )
    assert r.status_code == 200, f"{verb}: {r.status_code} {r.text}"


@pytest.fixture(scope="module")
async def world(system: Any) -> dict[str, Any]:
    """Two organizations, 5 datasets (3 published, 1 draft, 1 rejected), requests and votes."""
    tag = secrets.token_hex(3)
    async with httpx.AsyncClient(base_url=system.gateway_url, timeout=60) as c:
        admin = await login(c, system.admin_email, system.admin_password)
        ah = bearer(admin)
        orgs = {}
        for slug, title in [
            (f"dash-vodokanal-{tag}", f"КП «Водоканал» з’єднань {tag}"),
            (f"dash-osvita-{tag}", f"Департамент освіти і науки (пам'ятки) {tag}"),
        ]:
            r = await c.post(
                "/api/v1/organizations",
                headers=ah,
                json={
                    "name": slug,
                    "title": title,
                    "email": f"{slug}@zp.gov.ua",
                    "responsible_persons": [
                        {
                            "name": "Андрій Ткаченко",
                            "position": "інженер",
                            "email": f"{slug}@zp.gov.ua",
                        }
                    ],
                },
            )
            assert r.status_code == 201, r.text
            orgs[slug] = r.json()["id"]
        (s1, o1), (s2, o2) = orgs.items()
        editor = await create_user(c, admin, memberships={o1: "editor", o2: "editor"})
        eh = editor["headers"]
        moderator = await create_user(c, admin, roles=["moderator"], full_name="Модераторка Олеся")
        published = [
            await _publishable(
                c, eh, o1, f"dash-water-{tag}", "Якість питної води, зʼєднання", "CSV", "ENVI"
            ),
            await _publishable(
                c, eh, o1, f"dash-pipes-{tag}", "Аварії на мережах водопостачання", "JSON", "ENVI"
            ),
            await _publishable(
                c, eh, o2, f"dash-schools-{tag}", "Заклади освіти м. Запоріжжя", "CSV", "EDUC"
            ),
        ]
        for ds in published:
            await _act(c, ds, "submit", eh)
            await _act(c, ds, "publish", moderator["headers"], {"override_reason": "тест"})
        await _publishable(c, eh, o1, f"dash-draft-{tag}", "Чернетка: лічильники", "CSV", "ENVI")
        rejected = await _publishable(
            c, eh, o2, f"dash-rej-{tag}", "Відхилений набір", "XLSX", "EDUC"
        )
        await _act(c, rejected, "submit", eh)
        await _act(
            c,
            rejected,
            "reject",
            moderator["headers"],
            {"reason": "Немає джерела даних", "field_reasons": {}},
        )
        # register entries put both organizations into the steward ratings at once (datasets
        # count for the KPI only after some days of publication)
        for org_id, title in [(o1, "Показники лічильників води"), (o2, "Мережа закладів освіти")]:
            r = await c.post(
                "/api/v1/register",
                headers=ah,
                json={
                    "title": title,
                    "organization_id": org_id,
                    "update_frequency": "monthly",
                    "status": "planned",
                },
            )
            assert r.status_code == 201, r.text
        citizens = [await create_user(c, admin) for _ in range(2)]
        reqs = []
        for title in [
            f'=HYPERLINK("http://x") Розклад маршруток {tag}',
            f"Обʼєкти благоустрою {tag}",
        ]:
            r = await c.post(
                "/api/v1/requests",
                headers=citizens[0]["headers"],
                json={
                    "title": title,
                    "description": "Потрібні відкриті дані",
                    "why": "Для мешканців міста",
                },
            )
            assert r.status_code == 201, r.text
            reqs.append(r.json()["id"])
        for u in citizens:
            r = await c.put(f"/api/v1/requests/{reqs[0]}/vote", headers=u["headers"])
            assert r.status_code in (200, 201, 204), r.text

        # the services learn of the datasets through events: wait until quality rates both
        # organizations, so the first overview the tests compute already has them
        async def rated() -> bool:
            q = await c.get("/api/v1/quality/kpi")
            quarter = q.json()["quarter"]
            r = await c.get("/api/v1/quality/ratings", params={"quarter": quarter})
            ids = {i["organization_id"] for i in r.json()["items"]}
            return o1 in ids and o2 in ids

        await eventually(rated, timeout=30, interval=0.5)
    return {
        "tag": tag,
        "orgs": orgs,
        "o1": o1,
        "o2": o2,
        "moderator": moderator,
        "editor": editor,
        "admin": admin,
        "requests": reqs,
    }


@pytest.fixture(scope="module")
async def browser():
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        await b.close()


async def open_page(browser: Any, url: str, **ctx: Any) -> tuple[Any, Any, list[str]]:
    context = await browser.new_context(**ctx)
    page = await context.new_page()
    errors: list[str] = []
    page.on(
        "console", lambda m: errors.append(f"{m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    await page.goto(url)
    await page.wait_for_function(
        "() => window.__dashboard && window.__dashboard.ready", timeout=60_000
    )
    return context, page, errors


async def page_tables(page: Any) -> dict[str, list[dict[str, Any]]]:
    """Every table on the page as {id: [{column key: raw value}]} (from data-value)."""
    return await page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('table[data-table]')].map(t =>
             [t.dataset.table, [...t.tBodies[0].rows].map(r => Object.fromEntries(
               [...r.cells].map(c => [c.dataset.key, JSON.parse(c.dataset.value)])))]))"""
    )


def check_page_matches(doc: dict[str, Any], tables: dict[str, Any], charts: dict[str, Any]) -> None:
    assert [t["id"] for t in doc["tables"]] == list(tables)
    for t in doc["tables"]:
        keys = [c["key"] for c in t["columns"]]
        expected = [{k: r.get(k) for k in keys} for r in t["rows"]]
        assert tables[t["id"]] == expected, t["id"]
        if t["chart"] and t["rows"]:
            ch = charts[t["id"]]
            assert [d["key"] for d in ch["datasets"]] == t["values"], t["id"]
            for d in ch["datasets"]:
                nums = [
                    r[d["key"]] if isinstance(r[d["key"]], int | float) else None for r in t["rows"]
                ]
                assert d["data"] == nums, (t["id"], d["key"])
            assert len(ch["labels"]) == len(t["rows"])
        else:
            assert t["id"] not in charts


async def test_anonymous_page_agrees_with_api(system: Any, world: dict, browser: Any) -> None:
    ctx, page, errors = await open_page(
        browser, f"{system.gateway_url}/dashboard", viewport={"width": 1366, "height": 900}
    )
    doc = await page.evaluate("window.__dashboard.doc")
    charts = await page.evaluate("window.__dashboard.charts")
    tables = await page_tables(page)
    await page.screenshot(path=str(ARTIFACTS / "anonymous.png"), full_page=True)
    assert errors == []
    assert doc["audience"] == "public"
    assert all(s["status"] == "ok" for s in doc["sources"].values()), doc["sources"]
    # the page shows what the API returns ...
    async with httpx.AsyncClient(base_url=system.gateway_url, timeout=60) as c:
        api = (await c.get("/api/v1/stats/overview")).json()
        assert api["tables"] == doc["tables"] and api["figures"] == doc["figures"]
        check_page_matches(doc, tables, charts)
        # ... and every chart has a text alternative with its numbers
        for t in doc["tables"]:
            if t["chart"] and t["rows"]:
                summary = await page.text_content(f'[data-summary="{t["id"]}"]')
                label = await page.get_attribute(
                    f'canvas[data-chart="{t["id"]}"]', "aria-describedby"
                )
                assert label == f"desc-{t['id']}" and summary
        by_org = {r["organization"]: r for r in doc["tables"][0]["rows"]}
        assert doc["tables"][0]["id"] == "datasets_by_organization"
        # ... which agrees with the catalog's own records
        for slug, org_id in world["orgs"].items():
            r = await c.get("/api/v1/datasets", params={"organization": slug, "limit": 1})
            o = (await c.get(f"/api/v1/organizations/{org_id}")).json()
            assert by_org[o["title"]]["published"] == r.json()["total"]
            assert set(by_org[o["title"]]) == {"organization", "published"}  # no drafts in public
        total = (await c.get("/api/v1/datasets", params={"limit": 1})).json()["total"]
        assert doc["figures"]["datasets_published"] == total
        league = next(t for t in doc["tables"] if t["id"] == "steward_league")
        assert len(league["rows"]) >= 2
    # anonymous visitors get no internal figures
    assert "harvest_log" not in tables
    assert await page.locator('[data-figure="feedback_overdue"]').count() == 0
    assert await page.locator("section.figure.internal").count() == 0
    assert "open" not in {
        c["key"]
        for t in doc["tables"]
        if t["id"] == "feedback_by_organization"
        for c in t["columns"]
    }

    # the steward table sorts, by mouse and by keyboard
    async def column(key: str) -> list[Any]:
        return [r[key] for r in (await page_tables(page))["steward_league"]]

    await page.click('table[data-table="steward_league"] button[data-sort="score"]')
    scores = await column("score")
    assert scores == sorted(scores, reverse=True)
    assert (
        await page.get_attribute(
            'table[data-table="steward_league"] th[data-key="score"]', "aria-sort"
        )
        == "descending"
    )
    await page.focus('table[data-table="steward_league"] button[data-sort="score"]')
    await page.keyboard.press("Enter")
    assert await column("score") == sorted(scores)
    # focus stays on the header button after re-rendering: Enter again flips the order back
    assert await page.evaluate("document.activeElement.dataset.sort") == "score"
    await page.click('table[data-table="steward_league"] button[data-sort="organization"]')
    names = await column("organization")
    js_sorted = await page.evaluate(
        "(xs) => [...xs].sort((a, b) => String(a).localeCompare(String(b), 'uk-UA'))", names
    )
    assert names == js_sorted
    # English switch
    await page.click("#lang")
    assert await page.get_attribute("html", "lang") == "en"
    assert "dashboard" in (await page.text_content("h1")).lower()
    await page.screenshot(path=str(ARTIFACTS / "anonymous-en.png"))
    await page.emulate_media(media="print")
    await page.screenshot(path=str(ARTIFACTS / "print.png"), full_page=True)
    assert await page.is_hidden("#signin")
    await ctx.close()
    # a phone
    ctx, page, errors = await open_page(
        browser,
        f"{system.gateway_url}/dashboard",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
    )
    await page.screenshot(path=str(ARTIFACTS / "phone.png"), full_page=True)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 and errors == []
    await ctx.close()


async def test_moderator_sees_internal_figures(system: Any, world: dict, browser: Any) -> None:
    ctx, page, errors = await open_page(
        browser, f"{system.gateway_url}/dashboard", viewport={"width": 1366, "height": 900}
    )
    assert await page.locator('table[data-table="harvest_log"]').count() == 0
    await page.fill("#email", world["moderator"]["email"])
    await page.fill("#password", "wrong password ʼ")
    await page.click("#signin button[type=submit]")
    await page.wait_for_function(
        "() => document.querySelector('#signin-error').textContent.length > 0"
    )
    # the browser logs the refused login itself; nothing else may have gone wrong
    assert errors and all("401" in e for e in errors), errors
    errors.clear()
    await page.fill("#password", world["moderator"]["password"])
    await page.click("#signin button[type=submit]")
    await page.wait_for_function(
        "() => window.__dashboard.ready && window.__dashboard.doc.audience === 'moderator'"
    )
    doc = await page.evaluate("window.__dashboard.doc")
    assert "Модераторка Олеся" in await page.text_content("#who")
    tables = await page_tables(page)
    check_page_matches(doc, tables, await page.evaluate("window.__dashboard.charts"))
    assert "harvest_log" in tables
    assert await page.locator('[data-figure="feedback_overdue"]').count() == 1
    assert await page.locator("section.figure.internal").count() >= 1
    await page.screenshot(path=str(ARTIFACTS / "moderator.png"), full_page=True)
    # drill down into one organization
    await page.wait_for_function(
        f"() => document.querySelector('#org option[value=\"{world['o2']}\"]') !== null"
    )
    await page.select_option("#org", world["o2"])
    await page.wait_for_function(
        "(org) => window.__dashboard.ready && window.__dashboard.doc.organization_id === org",
        arg=world["o2"],
    )
    doc = await page.evaluate("window.__dashboard.doc")
    tables = await page_tables(page)
    check_page_matches(doc, tables, await page.evaluate("window.__dashboard.charts"))
    by_status = {
        r["status"]: r["count"]
        for r in next(t for t in doc["tables"] if t["id"] == "datasets_by_status")["rows"]
    }
    async with httpx.AsyncClient(base_url=system.gateway_url, timeout=60) as c:
        h = world["moderator"]["headers"]
        slug = next(s for s, i in world["orgs"].items() if i == world["o2"])
        for status, label in [
            ("published", "Оприлюднено"),
            ("rejected", "Відхилено"),
            ("draft", "Чернетки"),
        ]:
            r = await c.get(
                "/api/v1/datasets",
                params={"organization": slug, "status": status, "limit": 1},
                headers=h,
            )
            assert by_status[label] == r.json()["total"], status
    assert by_status["Оприлюднено"] == 1 and by_status["Відхилено"] == 1
    await page.screenshot(path=str(ARTIFACTS / "moderator-drilldown.png"), full_page=True)
    assert errors == []
    await ctx.close()


async def test_overview_api_rules_and_exports(system: Any, world: dict) -> None:
    async with httpx.AsyncClient(base_url=system.gateway_url, timeout=60) as c:
        r = await c.get("/api/v1/stats/overview", headers={"Authorization": "Bearer nonsense"})
        assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem")
        r = await c.get("/api/v1/stats/overview", params={"organization_id": world["o1"]})
        assert r.status_code == 403
        r = await c.get(
            "/api/v1/stats/overview",
            params={"organization_id": world["o1"]},
            headers=world["editor"]["headers"],
        )
        assert r.status_code == 403  # an editor is not a moderator
        r = await c.get(
            "/api/v1/stats/overview",
            params={"organization_id": "не-uuid"},
            headers=world["moderator"]["headers"],
        )
        assert r.status_code == 422 and "organization_id" in r.text
        r = await c.get("/api/v1/stats/overview/tables/no_such_table")
        assert r.status_code == 404
        r = await c.get("/api/v1/stats/overview/tables/requests_votes", params={"format": "pdf"})
        assert r.status_code == 422
        r = await c.get("/api/v1/stats/overview/tables/harvest_log")
        assert r.status_code == 404  # internal: not in the public document
        # CSV: UTF-8 with BOM, formulas neutralised, the same numbers as the API
        api = (await c.get("/api/v1/stats/overview")).json()
        votes = next(t for t in api["tables"] if t["id"] == "requests_votes")
        r = await c.get("/api/v1/stats/overview/tables/requests_votes", params={"format": "csv"})
        assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert rows[0] == ["Запит", "Статус", "Голосів"]
        assert len(rows) - 1 == len(votes["rows"])
        formula = next(x for x in rows if "Розклад маршруток " + world["tag"] in x[0])
        assert formula[0].startswith("'=HYPERLINK") and formula[2] == "2"
        # XLSX: a text cell, never a formula
        from openpyxl import load_workbook

        r = await c.get(
            "/api/v1/stats/overview/tables/requests_votes", params={"format": "xlsx", "lang": "en"}
        )
        assert r.status_code == 200
        ws = load_workbook(io.BytesIO(r.content)).active
        assert [x.value for x in ws[1]] == ["Request", "Status", "Votes"]
        cells = [row for row in ws.iter_rows(min_row=2) if world["tag"] in str(row[0].value)]
        f = next(row for row in cells if "HYPERLINK" in row[0].value)
        assert f[0].data_type == "s" and f[2].value == 2
        # feedback votes agree with the feedback service's own list
        r = await c.get(f"/api/v1/requests/{world['requests'][0]}")
        assert r.json()["votes"] == 2


async def test_unavailable_source_is_reported_not_a_500(system: Any, world: dict) -> None:
    org = str(uuid.uuid4())  # a drill-down key nobody asked for yet: not cached
    system.stop_service("harvest")
    try:
        async with httpx.AsyncClient(base_url=system.gateway_url, timeout=60) as c:
            r = await c.get(
                "/api/v1/stats/overview",
                params={"organization_id": org},
                headers=world["moderator"]["headers"],
            )
            assert r.status_code == 200, r.text
            doc = r.json()
            assert doc["sources"]["harvest"]["status"] == "unavailable"
            assert doc["sources"]["catalog"]["status"] == "ok"
            assert not any(t["id"].startswith("harvest") for t in doc["tables"])
    finally:
        system.start_service("harvest")


async def test_most_downloaded_datasets_are_named_by_title(system: Any, world: dict) -> None:
    """Downloads of a published dataset's file show up under the dataset's Ukrainian title (one
    catalog call for all titles), counted by storage."""
    h = world["moderator"]["headers"]
    async with httpx.AsyncClient(base_url=system.gateway_url, timeout=60) as c:
        ah = bearer(world["admin"])
        slug = f"dash-parks-{world['tag']}"
        r = await c.post(
            "/api/v1/organizations",
            headers=ah,
            json={"name": slug, "title": f"КП «Зелене місто» {world['tag']}"},
        )
        assert r.status_code == 201, r.text
        org = r.json()["id"]
        editor = await create_user(c, world["admin"], memberships={org: "editor"})
        eh = editor["headers"]
        r = await c.post(
            f"/api/v1/files?organization_id={org}",
            content="назва;площа\nПарк Дубовий гай;12\n".encode(),
            headers={**eh, "X-File-Name": "parky.csv", "Content-Type": "text/csv"},
        )
        assert r.status_code == 201, r.text
        file_id = r.json()["id"]
        ds = await _publishable(c, eh, org, slug, "Парки і сквери міста", "CSV", "ENVI")

        async def attached() -> bool:  # the catalog learns of the file from storage's event
            r = await c.post(
                f"/api/v1/datasets/{ds}/resources",
                headers=eh,
                json={"name": "Парки (CSV)", "format": "CSV", "file_id": file_id},
            )
            return r.status_code in (200, 201)

        await eventually(attached, timeout=30, interval=0.5)
        await _act(c, ds, "submit", eh)
        await _act(c, ds, "publish", h, {"override_reason": "тест"})

        async def public() -> bool:  # storage opens the file when the dataset is published
            return (await c.get(f"/api/v1/files/{file_id}")).status_code == 200

        await eventually(public, timeout=30, interval=0.5)
        for _ in range(2):
            assert (await c.get(f"/api/v1/files/{file_id}")).status_code == 200

        async def counted() -> bool:  # download counts are buffered, then flushed
            r = await c.get("/api/v1/stats/storage/downloads", params={"organization_id": org})
            return r.status_code == 200 and r.json()["total"] >= 3

        await eventually(counted, timeout=30, interval=0.5)
        r = await c.get("/api/v1/stats/overview", params={"organization_id": org}, headers=h)
        assert r.status_code == 200, r.text
        table = next(t for t in r.json()["tables"] if t["id"] == "downloads_by_dataset")
        assert table["rows"] == [{"dataset": "Парки і сквери міста", "count": 3}]
