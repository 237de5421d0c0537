"""Seed step: council organizations with responsible persons, an editor each, and datasets from
the mandatory list (CMU 835) in every state, with external-link resources. Through the gateway."""

from __future__ import annotations

import csv
import secrets
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from . import SeedContext, SkipStep

ORGS = [
    (
        "dep-finance",
        "Департамент фінансової та бюджетної політики",
        "Олександр Мельник",
        "директор департаменту",
        ["ALL-01", "ALL-02", "ALL-05", "LSG-45", "LSG-32", "ALL-10"],
    ),
    (
        "dep-transport",
        "Департамент інфраструктури та транспорту",
        "Ірина Шевченко",
        "начальник відділу",
        ["LSG-09", "LSG-10", "LSG-38", "LSG-39", "LSG-19", "LSG-52"],
    ),
    (
        "dep-education",
        "Департамент освіти і науки",
        "Наталія Бондаренко",
        "заступник директора",
        ["LSG-25", "LSG-26", "ALL-03", "ALL-07", "LSG-13"],
    ),
    (
        "dep-architecture",
        "Департамент архітектури та містобудування",
        "Андрій Ткаченко",
        "головний архітектор",
        ["LSG-22", "LSG-27", "LSG-35", "LSG-43", "LSG-47"],
    ),
    (
        "dep-ecology",
        "Департамент з питань екології",
        "Марʼяна Кравченко",
        "головний спеціаліст",
        ["LSG-14", "LSG-48", "LSG-49", "LSG-50", "ALL-08"],
    ),
    (
        "kp-zelenbud",
        "КП «Зеленбуд»",
        "Сергій Коваль",
        "інженер",
        ["LSG-51", "LSG-53", "LSG-37", "ALL-09"],
    ),
    (
        "kp-vodokanal",
        "КП «Водоканал»",
        "Тетяна Олійник",
        "керівник служби",
        ["LSG-30", "LSG-44", "ALL-11", "ALL-12"],
    ),
    (
        "tsnap",
        "Департамент надання адміністративних послуг (ЦНАП)",
        "Віктор Лисенко",
        "начальник управління",
        ["LSG-21", "LSG-20", "LSG-16", "LSG-17", "LSG-18", "ALL-13"],
    ),
]
EDRPOU_PREFIX = [
    "0405391",
    "3720104",
    "3718845",
    "0405398",
    "4095125",
    "0338255",
    "0329162",
    "4010322",
]
STATES = [
    "published",
    "published",
    "published",
    "draft",
    "submitted",
    "rejected",
    "archived",
    "published",
]
FREQ = ["monthly", "quarterly", "yearly", "on_change", "weekly"]
THEMES = {
    "dep-finance": ["ECON", "GOVE"],
    "dep-transport": ["TRAN", "REGI"],
    "dep-education": ["EDUC"],
    "dep-architecture": ["REGI"],
    "dep-ecology": ["ENVI"],
    "kp-zelenbud": ["ENVI", "REGI"],
    "kp-vodokanal": ["ENER", "REGI"],
    "tsnap": ["GOVE", "SOCI"],
}


def _edrpou(first7: str) -> str:
    from catalog.common import edrpou_with_check

    return edrpou_with_check(first7)


def _titles() -> dict[str, str]:
    path = Path(__file__).resolve()
    for parent in path.parents:
        csv_path = parent / "services/catalog/src/catalog/data/ua-835-local.csv"
        if csv_path.exists():
            with csv_path.open(encoding="utf-8") as f:
                return {r["code"]: r["title_uk"] for r in csv.DictReader(f)}
    from catalog.register import MANDATORY_CSV

    with MANDATORY_CSV.open(encoding="utf-8") as f:
        return {r["code"]: r["title_uk"] for r in csv.DictReader(f)}


def _share(ctx: SeedContext, key: str, value: Any) -> None:
    ctx.ids[key] = value
    data = getattr(ctx, "data", None)
    if isinstance(data, dict):
        data[key] = value


async def _action(
    ctx: SeedContext, ds_id: str, verb: str, headers: dict, body: dict | None = None
) -> dict:
    r = await ctx.client.get(f"/api/v1/datasets/{ds_id}", headers=headers)
    r.raise_for_status()
    r = await ctx.client.post(
        f"/api/v1/datasets/{ds_id}/{verb}",
        json=body or {},
        headers={**headers, "If-Match": r.headers["etag"]},
    )
    r.raise_for_status()
    return r.json()


async def seed(ctx: SeedContext) -> None:
    admin = await ctx.as_admin()
    titles = _titles()
    moderator = (
        ctx.headers("moderator@example.com") if "moderator@example.com" in ctx.tokens else admin
    )
    organizations: dict[str, str] = {}
    editors: dict[str, dict[str, str]] = {}
    datasets: dict[str, dict[str, Any]] = {}
    for i, (slug, title, person, position, codes) in enumerate(ORGS):
        r = await ctx.client.post(
            "/api/v1/organizations",
            headers=admin,
            json={
                "name": slug,
                "title": title,
                "edrpou": _edrpou(EDRPOU_PREFIX[i]),
                "description": f"{title} Запорізької міської ради.",
                "email": f"{slug}@zp.gov.ua",
                "website": "https://zp.gov.ua",
                "responsible_persons": [
                    {
                        "name": person,
                        "position": position,
                        "email": f"{slug}@zp.gov.ua",
                        "phone": f"+380 61 2{i:02d} 10 00",
                    }
                ],
                "requires_update_moderation": i % 2 == 0,
            },
        )
        if r.status_code == 404:
            raise SkipStep("POST /api/v1/organizations does not exist")
        if r.status_code == 409:
            ctx.log.info("catalog already seeded (organization %s exists)", slug)
            return
        r.raise_for_status()
        org_id = r.json()["id"]
        organizations[slug] = org_id
        email, password = f"editor.{slug}@example.com", secrets.token_urlsafe(12)
        u = await ctx.client.post(
            "/api/v1/users",
            headers=admin,
            json={"email": email, "password": password, "full_name": person, "roles": []},
        )
        if u.status_code == 201:
            await ctx.client.put(
                f"/api/v1/users/{u.json()['id']}/memberships",
                headers=admin,
                json={"organization_id": org_id, "role": "editor"},
            )
            ctx.accounts[email] = password
        token = await ctx.login(email, ctx.accounts.get(email, password))
        editors[slug] = {
            "email": email,
            "password": ctx.accounts.get(email, password),
            "token": token,
        }
        eh = {"Authorization": f"Bearer {token}"}
        for j, code in enumerate(codes):
            state = STATES[(i + j) % len(STATES)]
            freq = FREQ[(i + j) % len(FREQ)]
            ds_slug = f"{slug}-{code.lower()}"
            full_title = titles.get(code, code)[:200]
            body = {
                "name": ds_slug,
                "organization_id": org_id,
                "title": full_title,
                "description": (
                    f"{full_title}. Набір даних оприлюднює {title} відповідно до постанови КМУ "
                    "№ 835; дані оновлюються із заявленою періодичністю, структуру описано."
                ),
                "maintainer": person,
                "maintainer_email": f"{slug}@zp.gov.ua",
                "keywords": [w for w in full_title.lower().replace(",", " ").split() if len(w) > 5][
                    :4
                ]
                or ["дані"],
                "themes": THEMES[slug],
                "license_id": "CC-BY-4.0",
                "language": ["uk"],
                "legal_basis": "Постанова КМУ від 21.10.2015 № 835",
                "purpose": "Виконання вимог законодавства про відкриті дані",
                "update_frequency": freq,
                "spatial": "м. Запоріжжя",
                "temporal_start": "2024-01-01",
                "data_actuality_date": str(date.today() - timedelta(days=10 * j)),
                "list_code": code,
                "structure_url": f"https://data.zp.gov.ua/structures/{code.lower()}.json",
            }
            r = await ctx.client.post("/api/v1/datasets", json=body, headers=eh)
            r.raise_for_status()
            ds = r.json()
            for k, fmt in enumerate(["CSV", "JSON"][: 1 + (j % 2)]):
                await ctx.client.post(
                    f"/api/v1/datasets/{ds['id']}/resources",
                    headers=eh,
                    json={
                        "name": f"{full_title[:80]} ({fmt})",
                        "format": fmt,
                        "url": f"https://data.zp.gov.ua/files/{ds_slug}.{fmt.lower()}",
                        "position": k,
                    },
                )
            if state != "draft":
                await _action(ctx, ds["id"], "submit", eh)
            if state == "rejected":
                await _action(
                    ctx,
                    ds["id"],
                    "reject",
                    moderator,
                    {
                        "reason": "Опис не містить джерела даних",
                        "field_reasons": {"description": "Вкажіть джерело"},
                    },
                )
            if state in ("published", "archived"):
                # through the real quality gate; where it blocks, the moderator overrides
                try:
                    await _action(ctx, ds["id"], "publish", moderator)
                except httpx.HTTPStatusError as exc:
                    if exc.response.status_code not in (409, 503):
                        raise
                    await _action(
                        ctx,
                        ds["id"],
                        "publish",
                        moderator,
                        {"override_reason": "Демонстраційні дані"},
                    )
                if state == "published" and i % 2 == 0 and j == 0:
                    # a resource proposed for a published dataset of a moderated organization:
                    # held for the moderators (202), visible to them as a pending change
                    await ctx.client.post(
                        f"/api/v1/datasets/{ds['id']}/resources",
                        headers=eh,
                        json={
                            "name": f"{full_title[:80]} (XML)",
                            "format": "XML",
                            "url": f"https://data.zp.gov.ua/files/{ds_slug}.xml",
                        },
                    )
            if state == "archived":
                await _action(ctx, ds["id"], "archive", eh)
            datasets[ds_slug] = {"id": ds["id"], "organization_id": org_id, "status": state}
        # overdue: the organization's unpublished register entries were due last quarter
        for code in codes:
            rr = await ctx.client.get("/api/v1/register", params={"q": code, "limit": 5})
            for e in rr.json().get("items", []):
                if e["list_code"] == code and e["status"] != "published":
                    g = await ctx.client.get(f"/api/v1/register/{e['id']}")
                    await ctx.client.patch(
                        f"/api/v1/register/{e['id']}",
                        headers={**admin, "If-Match": g.headers["etag"]},
                        json={
                            "organization_id": org_id,
                            "status": "in_preparation",
                            "planned_publication_date": str(date.today() - timedelta(days=60)),
                        },
                    )
    _share(ctx, "organizations", organizations)
    _share(ctx, "datasets", datasets)
    _share(ctx, "editors", editors)
    ctx.log.info("catalog: %d organizations, %d datasets", len(organizations), len(datasets))
