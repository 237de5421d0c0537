"""Seed step: realistic files (CSV in UTF-8 and Windows-1251 with Ukrainian headers, an XLSX,
a GeoJSON) uploaded by the organizations' editors and attached to their datasets as resources.
Everything goes through the gateway, as an editor's browser or script would."""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import quote

from . import SeedContext, SkipStep

BUDGET_CSV = (
    "Код;Назва видатків;План, грн;Факт, грн\n"
    "0110;Державне управління;125000000;118340221\n"
    "0910;Дошкільна освіта;810000000;799120443\n"
    "0921;Загальна середня освіта;1420000000;1398000112\n"
    "6030;Благоустрій міста (КП «Зеленбуд»);210500000;187655020\n"
)

SCHOOLS_CSV = (
    "№;Назва закладу;Адреса;Кількість учнів\n"
    "1;Запорізька гімназія № 28;вул. Незалежної України, 41;812\n"
    "2;Ліцей «Логос»;просп. Соборний, 152;640\n"
    "3;Запорізька загальноосвітня школа І-ІІІ ступенів № 97;вул. Патріотична, 70;1020\n"
)

STOPS = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [35.1396, 47.8388]},
            "properties": {"name": "Площа Фестивальна", "routes": ["3", "15", "16"]},
        },
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [35.1183, 47.8507]},
            "properties": {"name": "Вулиця Запорізька", "routes": ["8"]},
        },
    ],
}


def _xlsx() -> bytes | None:
    try:
        from openpyxl import Workbook
    except ImportError:
        return None
    wb = Workbook()
    ws = wb.active
    ws.title = "Дерева"
    ws.append(["Вулиця", "Порода", "Кількість", "Стан"])
    ws.append(["просп. Соборний", "Каштан", 412, "задовільний"])
    ws.append(["бульв. Шевченка", "Липа", 230, "добрий"])
    ws.append(["вул. Олександрівська", "Клен", 118, "потребує догляду"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _files() -> list[tuple[str, bytes, str]]:
    files = [
        ("Бюджет міста 2026 (виконання).csv", BUDGET_CSV.encode("utf-8"), "CSV"),
        ("Реєстр закладів освіти (cp1251).csv", SCHOOLS_CSV.encode("cp1251"), "CSV"),
        (
            "Зупинки громадського транспорту.geojson",
            json.dumps(STOPS, ensure_ascii=False).encode(),
            "GEOJSON",
        ),
    ]
    xlsx = _xlsx()
    if xlsx is not None:
        files.append(("Інвентаризація зелених насаджень.xlsx", xlsx, "XLSX"))
    return files


def _shared(ctx: SeedContext, key: str) -> Any:
    data = getattr(ctx, "data", None)
    if isinstance(data, dict) and key in data:
        return data[key]
    return ctx.ids.get(key)


async def seed(ctx: SeedContext) -> None:
    datasets: dict[str, dict[str, Any]] = _shared(ctx, "datasets") or {}
    editors: dict[str, dict[str, str]] = _shared(ctx, "editors") or {}
    organizations: dict[str, str] = _shared(ctx, "organizations") or {}
    if not datasets or not editors:
        raise SkipStep("no datasets or editors from the catalog step")
    org_slug = {str(v): k for k, v in organizations.items()}
    # one dataset per organization that has an editor, drafts first (they may be changed freely)
    targets: list[tuple[str, dict[str, Any], dict[str, str]]] = []
    seen_orgs: set[str] = set()
    for slug, ds in sorted(datasets.items(), key=lambda kv: kv[1].get("status") != "draft"):
        org = str(ds.get("organization_id"))
        editor = editors.get(org_slug.get(org, ""))
        if editor is None or org in seen_orgs or ds.get("status") == "archived":
            continue
        seen_orgs.add(org)
        targets.append((slug, ds, editor))
    stored = {}
    for (name, data, fmt), (slug, ds, editor) in zip(_files(), targets, strict=False):
        headers = {"Authorization": f"Bearer {editor['token']}"}
        r = await ctx.client.post(
            f"/api/v1/files?organization_id={ds['organization_id']}",
            content=data,
            headers={
                **headers,
                "X-File-Name": quote(name),
                "Content-Type": "application/octet-stream",
            },
        )
        if r.status_code == 404:
            raise SkipStep("POST /api/v1/files does not exist yet")
        if r.status_code != 201:
            ctx.log.warning("storage seed: upload of %s failed: %s %s", name, r.status_code, r.text)
            continue
        info = r.json()
        stored[name] = info["id"]
        r = await ctx.client.post(
            f"/api/v1/datasets/{ds['id']}/resources",
            json={"name": name.rsplit(".", 1)[0], "format": fmt, "file_id": info["id"]},
            headers=headers,
        )
        if r.status_code not in (200, 201):
            ctx.log.warning(
                "storage seed: attaching %s to %s failed: %s %s", name, slug, r.status_code, r.text
            )
    ctx.ids["files"] = stored
    data = getattr(ctx, "data", None)
    if isinstance(data, dict):
        data["files"] = stored
    ctx.log.info("storage: %d files uploaded and attached", len(stored))
