"""Test and bench helpers: catalog-shaped documents (portal_kit.contracts.catalog)."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from portal_kit.contracts.catalog import DatasetDocument, OrganizationDocument, ResourceDocument

KEYWORDS = [
    ["бюджет", "фінанси", "видатки"],
    ["м'ясо", "ринки", "пам’ятки"],
    ["транспорт", "зупинки", "маршрути"],
    ["освіта", "школи", "ЖКГ/ОСББ"],
    ["здоровʼя", "лікарні", "аптеки (цілодобові)"],
]
THEMES = [["ECON", "GOVE"], ["AGRI"], ["TRAN"], ["EDUC", "SOCI"], ["HEAL"]]
FREQS = ["monthly", "yearly", "daily", "on_change", "quarterly", "no_longer_updated"]
FORMATS = ["CSV", "XLSX", "JSON", "PDF", "GEOJSON"]


def now() -> datetime:
    return datetime.now(UTC)


def organization(name: str | None = None, **extra: Any) -> dict[str, Any]:
    t = now()
    doc = OrganizationDocument(
        id=uuid.uuid4(),
        name=name or f"org-{secrets.token_hex(4)}",
        title="Департамент з гуманітарних питань Запорізької міськради",
        title_en="Humanitarian department",
        edrpou="12345678",
        email="humanitarian@zp.gov.ua",
        website="https://zp.gov.ua",
        created_at=t,
        modified_at=t,
        **extra,
    )
    return doc.model_dump(mode="json")


def resource(dataset_id: uuid.UUID | str, i: int = 0, **extra: Any) -> dict[str, Any]:
    t = now()
    fmt = FORMATS[i % len(FORMATS)]
    body = {
        "id": uuid.uuid4(),
        "dataset_id": dataset_id,
        "name": f"Дані {i} (частина «{fmt}»)",
        "description": "Таблиця з апострофами: об'єкти, пам’ятки, здоровʼя",
        "format": fmt.lower() if i % 2 else fmt,
        "url": f"/files/{uuid.uuid4()}/data-{i}.{fmt.lower()}",
        "download_url": f"/files/{uuid.uuid4()}/data-{i}.{fmt.lower()}",
        "size": 1000 + i,
        "sha256": secrets.token_hex(32),
        "position": i,
        "created_at": t,
        "modified_at": t,
    }
    body.update(extra)
    return ResourceDocument(**body).model_dump(mode="json")


def dataset(
    org: dict[str, Any], i: int = 0, *, status: str = "published", **extra: Any
) -> dict[str, Any]:
    t = now()
    did = uuid.uuid4()
    body: dict[str, Any] = {
        "id": did,
        "name": f"ds-{i}-{secrets.token_hex(3)}",
        "title": f"Реєстр об'єктів №{i}: пам’ятки та «ринки» м. Запоріжжя",
        "title_en": f"Register {i}",
        "description": "Перелік об'єктів з апострофами ' ’ ʼ та лапками «»."
        + " Дуже довгий опис." * 3,
        "description_en": "List of objects.",
        "status": status,
        "organization_id": org["id"],
        "organization_name": org["name"],
        "organization_title": org["title"],
        "maintainer": "Петренко Ольга Іванівна",
        "maintainer_email": "o.petrenko@zp.gov.ua; reserve@zp.gov.ua",
        "keywords": KEYWORDS[i % len(KEYWORDS)],
        "themes": THEMES[i % len(THEMES)],
        "license_id": "CC-BY-4.0" if i % 3 else "OGL-UA",
        "language": ["uk"],
        "legal_basis": "Постанова КМУ №835 від 21.10.2015. " * 20,
        "purpose": "Прозорість діяльності органів місцевого самоврядування",
        "update_frequency": FREQS[i % len(FREQS)],
        "temporal_start": "2021-01-01",
        "temporal_end": "2021-12-31",
        "spatial": "м. Запоріжжя",
        "version": "1.0",
        "structure_url": "https://data.zp.gov.ua/structures/s.json",
        "created_at": t,
        "modified_at": t,
        "first_published_at": t if status == "published" else None,
        "published_at": t if status == "published" else None,
        "revision": 1,
    }
    body.update(extra)
    body["resources"] = body.get("resources") or [resource(did, i), resource(did, i + 1)]
    return DatasetDocument(**body).model_dump(mode="json")


def bump(doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The next revision of a dataset document, with changes."""
    out = {**doc, **changes}
    out["revision"] = int(doc.get("revision", 1)) + 1
    out["modified_at"] = now().isoformat()
    return out
