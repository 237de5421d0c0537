"""Test helpers: a quality service in-process on real servers, event feeding, documents."""

from __future__ import annotations

import io
import json
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from portal_kit.events.envelope import CloudEvent

from quality import handlers, jobs


class Q:
    """One quality service instance on a fresh database, with helpers."""

    def __init__(
        self, client: httpx.AsyncClient, ctx: Any, key: Ed25519PrivateKey, bucket: str
    ) -> None:
        self.client, self.ctx, self.key, self.bucket = client, ctx, key, bucket

    def token(
        self, *, roles: list[str] | None = None, orgs: dict[str, str] | None = None
    ) -> dict[str, str]:
        now = int(time.time())
        claims = {
            "sub": str(uuid.uuid4()),
            "iss": "zp-open-data-portal",
            "aud": "portal",
            "iat": now,
            "exp": now + 600,
            "roles": roles or [],
            "orgs": orgs or {},
        }
        tok = jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": "test"})
        return {"Authorization": f"Bearer {tok}"}

    async def feed(self, type_: str, data: dict[str, Any]) -> None:
        ev = CloudEvent(source="/test", type=type_, data=json.loads(json.dumps(data, default=str)))
        for sub in handlers.subscriptions(self.ctx):
            h = sub.handler_for(type_)
            if h is not None:
                async with self.ctx.sessionmaker() as session, session.begin():
                    await h(session, ev)

    async def deliver(self, event: CloudEvent) -> bool:
        """Hand one event to its subscription as the consumer does: the inbox row and the effect in
        one transaction. False when the inbox already had it (a redelivery)."""
        from portal_kit.events.consumer import first_delivery

        for sub in handlers.subscriptions(self.ctx):
            h = sub.handler_for(event.type)
            if h is not None:
                async with self.ctx.sessionmaker() as session, session.begin():
                    if not await first_delivery(session, consumer=sub.durable, event=event):
                        return False
                    await h(session, event)
                return True
        raise AssertionError(f"no subscription handles {event.type}")

    async def upload(
        self, content: bytes, name: str, org: uuid.UUID, declared_size: int | None = None
    ) -> uuid.UUID:
        fid = uuid.uuid4()
        key = f"test/{fid}/{name}"
        self.ctx.s3.put_object(self.bucket, key, io.BytesIO(content), len(content))
        import hashlib

        await self.feed(
            "storage.file.stored",
            {
                "id": str(fid),
                "organization_id": str(org),
                "bucket": self.bucket,
                "key": key,
                "size": declared_size if declared_size is not None else len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
                "media_type": "application/octet-stream",
                "original_name": name,
                "created_at": datetime.now(UTC).isoformat(),
            },
        )
        return fid

    async def validate_all(self) -> None:
        while await jobs.validate_one(self.ctx):
            pass


# ---------------------------------------------------------------- documents
LONG_DESC = (
    "Перелік зупинок громадського транспорту міста Запоріжжя з координатами, назвами, "
    "типами транспорту та інформацією про облаштування павільйонів; оновлюється щомісяця."
)


def org_doc(edrpou: str | None = "04054055", persons: bool = True, **kw: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    oid = kw.pop("id", None) or uuid.uuid4()
    return {
        "id": str(oid),
        "name": f"org-{secrets.token_hex(3)}",
        "title": "Департамент транспорту",
        "edrpou": edrpou,
        "created_at": now,
        "modified_at": now,
        "revision": kw.pop("revision", 1),
        "responsible_persons": [{"name": "Олена Коваль", "email": "o.koval@zp.gov.ua"}]
        if persons
        else [],
        **kw,
    }


def resource_doc(
    dataset_id: Any,
    *,
    file_id: Any = None,
    url: str | None = None,
    fmt: str = "CSV",
    modified: datetime | None = None,
    **kw: Any,
) -> dict[str, Any]:
    m = modified or datetime.now(UTC)
    return {
        "id": str(kw.pop("id", uuid.uuid4())),
        "dataset_id": str(dataset_id),
        "name": kw.pop("name", "Зупинки"),
        "format": fmt,
        "file_id": str(file_id) if file_id else None,
        "url": url,
        "structure_url": kw.pop("structure_url", "https://data.zp.gov.ua/structure/stops.json"),
        "created_at": m,
        "modified_at": m,
        **kw,
    }


def dataset_doc(
    org_id: Any,
    *,
    resources: list[dict[str, Any]] | None = None,
    status: str = "published",
    published_days_ago: int = 30,
    **kw: Any,
) -> dict[str, Any]:
    now = datetime.now(UTC)
    did = kw.pop("id", None) or uuid.uuid4()
    first = now - timedelta(days=published_days_ago)
    d = {
        "id": str(did),
        "name": f"zupynky-{secrets.token_hex(3)}",
        "title": "Перелік зупинок громадського транспорту Департаменту транспорту",
        "description": LONG_DESC,
        "status": status,
        "organization_id": str(org_id),
        "maintainer": "Олена Коваль",
        "maintainer_email": "o.koval@zp.gov.ua",
        "keywords": ["транспорт", "зупинки", "м’ясокомбінат"],
        "themes": ["TRAN"],
        "license_id": "CC-BY-4.0",
        "language": ["uk"],
        "purpose": "Рішення міської ради № 12 від 01.02.2024 «Про відкриті дані»",
        "update_frequency": "monthly",
        "spatial": "м. Запоріжжя",
        "temporal_start": "2024-01-01",
        "data_actuality_date": (now - timedelta(days=1)).date().isoformat(),
        "access_rights": "PUBLIC",
        "created_at": first - timedelta(days=1),
        "modified_at": now,
        "first_published_at": first,
        "published_at": first,
        "revision": kw.pop("revision", 1),
        "resources": resources if resources is not None else [],
    }
    d.update(kw)
    return d
