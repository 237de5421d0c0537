"""Test helpers for the catalog (used by services/catalog/tests and other tests): payloads, an API
wrapper over the gateway, a collector of CATALOG events."""

from __future__ import annotations

import io
import secrets
from typing import Any
from urllib.parse import quote

import httpx
from gateway.testing import create_user

from catalog.common import edrpou_with_check

FULL_PASSPORT: dict[str, Any] = {
    "title": "Бюджет міста на 2021 рік",
    "title_en": "City budget for 2021",
    "description": "Показники виконання бюджету Запорізької міської територіальної громади за 2021 рік.",
    "description_en": "City budget execution for 2021.",
    "maintainer": "Петренко Ольга Іванівна",
    "maintainer_email": "o.petrenko@zp.gov.ua",
    "maintainer_phone": "+380 61 224 00 00",
    "keywords": ["бюджет", "фінанси", "видатки"],
    "themes": ["ECON", "GOVE"],
    "license_id": "CC-BY-4.0",
    "language": ["uk"],
    "legal_basis": "Закон України «Про доступ до публічної інформації», ст. 10-1",
    "purpose": "Прозорість використання бюджетних коштів",
    "update_frequency": "yearly",
    "temporal_start": "2021-01-01",
    "temporal_end": "2021-12-31",
    "spatial": "м. Запоріжжя",
    "data_actuality_date": "2022-01-15",
    "version": "1.0",
    "structure_url": "https://data.zp.gov.ua/structures/budget.json",
}


def uid(prefix: str = "t") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def random_edrpou() -> str:
    return edrpou_with_check(f"{secrets.randbelow(10**7):07d}")


def xlsx_bytes(rows: list[list[Any]], sheet: str = "Дані") -> bytes:
    """A one-sheet XLSX workbook (openpyxl), Cyrillic kept."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


async def upload(
    gw: httpx.AsyncClient,
    headers: dict[str, str],
    org_id: str,
    data: bytes,
    name: str,
    content_type: str = "application/octet-stream",
) -> dict[str, Any]:
    """A file uploaded to the storage service through the gateway (201 asserted)."""
    r = await gw.post(
        "/api/v1/files",
        params={"organization_id": org_id},
        content=data,
        headers={**headers, "X-File-Name": quote(name), "Content-Type": content_type},
    )
    assert r.status_code == 201, r.text
    return r.json()


class Api:
    def __init__(self, gw: httpx.AsyncClient, admin: dict[str, str]) -> None:
        self.gw = gw
        self.admin = admin

    async def org(self, **extra: Any) -> dict[str, Any]:
        body = {
            "name": uid("org"),
            "title": "Департамент фінансової та бюджетної політики",
            "edrpou": random_edrpou(),
            "email": "finance@zp.gov.ua",
            "responsible_persons": [{"name": "Коваленко Андрій", "position": "начальник відділу"}],
            **extra,
        }
        r = await self.gw.post("/api/v1/organizations", json=body, headers=self.admin)
        assert r.status_code == 201, r.text
        return r.json()

    async def editor(self, org_id: str) -> dict[str, str]:
        u = await create_user(
            self.gw, self.admin["Authorization"].split()[1], memberships={org_id: "editor"}
        )
        return u["headers"]

    async def dataset(self, org_id: str, headers: dict[str, str], **extra: Any) -> httpx.Response:
        body = {"name": uid("ds"), "organization_id": org_id, **FULL_PASSPORT, **extra}
        return await self.gw.post("/api/v1/datasets", json=body, headers=headers)

    async def resource(self, ds_id: str, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
        body = {
            "name": "Дані",
            "format": "csv",
            "url": "https://data.zp.gov.ua/files/data.csv",
            **extra,
        }
        r = await self.gw.post(f"/api/v1/datasets/{ds_id}/resources", json=body, headers=headers)
        assert r.status_code == 201, r.text
        return r.json()

    async def etag(self, path: str, headers: dict[str, str]) -> str:
        r = await self.gw.get(path, headers=headers)
        assert r.status_code == 200, r.text
        return r.headers["etag"]

    async def action(
        self, ds_id: str, verb: str, headers: dict[str, str], body: dict | None = None
    ) -> httpx.Response:
        tag = await self.etag(f"/api/v1/datasets/{ds_id}", headers)
        return await self.gw.post(
            f"/api/v1/datasets/{ds_id}/{verb}",
            json=body or {},
            headers={**headers, "If-Match": tag},
        )

    async def published(
        self, org_id: str, editor: dict[str, str], moderator: dict[str, str], **extra: Any
    ) -> dict[str, Any]:
        r = await self.dataset(org_id, editor, **extra)
        assert r.status_code == 201, r.text
        ds = r.json()
        await self.resource(ds["id"], editor)
        assert (await self.action(ds["id"], "submit", editor)).status_code == 200
        r = await self.action(
            ds["id"], "publish", moderator, {"override_reason": "перевірено вручну"}
        )
        assert r.status_code == 200, r.text
        return r.json()


class Events:
    """A real JetStream consumer on CATALOG, collecting every event the catalog published."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def of(self, subject: str) -> list[dict[str, Any]]:
        return [e for e in self.items if e.get("subject") == subject]

    def types(self, subject: str) -> list[str]:
        return [e["type"] for e in self.of(subject)]
