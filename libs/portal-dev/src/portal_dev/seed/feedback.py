"""Seed step: feedback demo data through the public API (reports in several states, two requests
with votes, one open survey with answers, two approved showcases)."""

from __future__ import annotations

import secrets
from typing import Any

from . import SeedContext, SkipStep

_LATIN = str.maketrans(
    {
        "а": "a",
        "б": "b",
        "в": "v",
        "г": "h",
        "ґ": "g",
        "д": "d",
        "е": "e",
        "є": "ie",
        "ж": "zh",
        "з": "z",
        "и": "y",
        "і": "i",
        "ї": "i",
        "й": "i",
        "к": "k",
        "л": "l",
        "м": "m",
        "н": "n",
        "о": "o",
        "п": "p",
        "р": "r",
        "с": "s",
        "т": "t",
        "у": "u",
        "ф": "f",
        "х": "kh",
        "ц": "ts",
        "ч": "ch",
        "ш": "sh",
        "щ": "shch",
        "ь": "",
        "ю": "iu",
        "я": "ia",
        "'": "",
        "’": "",
        "ʼ": "",
    }
)


def _shared(ctx: SeedContext) -> dict[str, Any]:
    return getattr(ctx, "data", None) or ctx.ids


async def _user(ctx: SeedContext, name: str, roles: list[str] | None = None) -> dict[str, str]:
    # an address a mail server accepts: the name in Latin letters, as people here write them
    latin = name.lower().translate(_LATIN)
    local = "".join(c if c.isascii() and c.isalnum() else "." for c in latin).strip(".")
    email = f"{local}.{secrets.token_hex(2)}@example.com"
    password = secrets.token_urlsafe(12)
    r = await ctx.client.post(
        "/api/v1/users",
        headers=await ctx.as_admin(),
        json={"email": email, "password": password, "full_name": name, "roles": roles or []},
    )
    if r.status_code == 404:
        raise SkipStep("POST /api/v1/users does not exist yet")
    r.raise_for_status()
    ctx.accounts[email] = password
    return {"Authorization": f"Bearer {await ctx.login(email, password)}"}


async def seed(ctx: SeedContext) -> None:
    shared = _shared(ctx)
    datasets = {
        k: v for k, v in (shared.get("datasets") or {}).items() if v.get("status") == "published"
    }
    c = ctx.client
    probe = await c.get("/api/v1/requests")
    if probe.status_code in (404, 502, 503):
        raise SkipStep("the feedback service is not reachable")
    admin = await ctx.as_admin()
    citizen = await _user(ctx, "Оксана Мельник")
    voters = [await _user(ctx, f"Виборець {i}") for i in range(3)]

    # reports in several states on the first published datasets
    editors = shared.get("editors") or {}
    orgs_by_id = {v: k for k, v in (shared.get("organizations") or {}).items()}
    messages = [
        ("outdated", "Дані не оновлювалися з минулого року"),
        ("broken_link", "Посилання на CSV повертає помилку 404"),
        ("missing_fields", "Бракує колонки з кодом КАТОТТГ"),
    ]
    for i, (slug, ds) in enumerate(list(datasets.items())[:3]):
        cat, msg = messages[i]
        r = await c.post(
            "/api/v1/feedback/reports",
            headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},
            json={
                "dataset_id": ds["id"],
                "category": cat,
                "message": msg,
                "contact_email": "reader@example.com",
            },
        )
        if r.status_code != 201:
            ctx.log.warning("feedback seed: report on %s: %s %s", slug, r.status_code, r.text[:200])
            continue
        rep = r.json()
        editor = editors.get(orgs_by_id.get(ds.get("organization_id")), {})
        headers = {"Authorization": f"Bearer {editor['token']}"} if editor.get("token") else admin
        if i >= 1:
            r = await c.post(
                f"/api/v1/feedback/reports/{rep['id']}/replies",
                headers=headers,
                json={"body": "Дякуємо, виправимо найближчим часом."},
            )
        if i == 2 and r.status_code == 201:
            await c.patch(
                f"/api/v1/feedback/reports/{rep['id']}",
                headers={**headers, "If-Match": r.headers.get("etag", "*")},
                json={"status": "resolved"},
            )

    # two requests with votes
    for title, n in (
        ("Розклад руху громадського транспорту (GTFS)", 3),
        ("Перелік укриттів з координатами", 2),
    ):
        r = await c.post(
            "/api/v1/requests",
            headers=citizen,
            json={"title": title, "description": title, "why": "Для мешканців і застосунків"},
        )
        r.raise_for_status()
        for v in voters[:n]:
            await c.put(f"/api/v1/requests/{r.json()['id']}/vote", headers=v)

    # one open survey with answers
    ranked = [d["id"] for d in list(datasets.values())[:3]]
    questions: list[dict[str, Any]] = [
        {
            "id": "topic",
            "type": "single",
            "text": "Яка тема для вас найважливіша?",
            "options": [
                {"id": "transport", "label": "Транспорт"},
                {"id": "budget", "label": "Бюджет"},
                {"id": "ecology", "label": "Екологія"},
            ],
            "required": True,
        },
        {"id": "score", "type": "rating", "text": "Оцініть портал від 1 до 5"},
        {"id": "wish", "type": "text", "text": "Що додати?"},
    ]
    if len(ranked) >= 2:
        questions.append(
            {"id": "rank", "type": "rank", "text": "Упорядкуйте набори", "dataset_ids": ranked}
        )
    r = await c.post(
        "/api/v1/surveys",
        headers=admin,
        json={"title": "Які дані відкрити у 2027 році?", "questions": questions},
    )
    r.raise_for_status()
    sid = r.json()["id"]
    await c.post(f"/api/v1/surveys/{sid}/open", headers={**admin, "If-Match": r.headers["etag"]})
    for i, who in enumerate([citizen, *voters]):
        answers: dict[str, Any] = {
            "topic": ["transport", "budget", "ecology"][i % 3],
            "score": 3 + i % 3,
            "wish": "Більше даних про транспорт",
        }
        if len(ranked) >= 2:
            answers["rank"] = ranked[::-1] if i % 2 else ranked
        await c.post(f"/api/v1/surveys/{sid}/responses", headers=who, json={"answers": answers})

    # two approved showcases
    if ranked:
        for title, kind, url in (
            ("Карта зупинок Запоріжжя", "visualization", "https://example.org/zp-stops"),
            ("Телеграм-бот «Вода ЗП»", "chatbot", "https://t.me/example"),
        ):
            r = await c.post(
                "/api/v1/showcases",
                headers=citizen,
                json={
                    "title": title,
                    "description": title,
                    "type": kind,
                    "url": url,
                    "dataset_ids": ranked[:1],
                    "author": "Громадська організація «Відкрите місто»",
                },
            )
            r.raise_for_status()
            await c.post(
                f"/api/v1/showcases/{r.json()['id']}/approve",
                headers={**admin, "If-Match": r.headers["etag"]},
            )
