"""Fixtures of the storage tests: a gateway client, users with memberships, helpers."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from gateway.testing import create_user, login

MiB = 1024 * 1024


@pytest.fixture(scope="session")
async def gw(system: Any) -> AsyncIterator[httpx.AsyncClient]:
    timeout = httpx.Timeout(120.0, connect=10.0)
    async with httpx.AsyncClient(base_url=system.gateway_url, timeout=timeout) as client:
        yield client


@pytest.fixture(scope="session")
async def admin_token(gw: httpx.AsyncClient, system: Any) -> str:
    return await login(gw, system.admin_email, system.admin_password)


@pytest.fixture(scope="session")
def admin(admin_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_token}"}


class Org:
    def __init__(self, id: uuid.UUID, editor: dict[str, Any]) -> None:
        self.id = id
        self.editor = editor
        self.h = editor["headers"]


@pytest.fixture
async def org(gw: httpx.AsyncClient, admin_token: str) -> Org:
    """A fresh organization id with an editor of it."""
    org_id = uuid.uuid4()
    editor = await create_user(gw, admin_token, memberships={org_id: "editor"})
    return Org(org_id, editor)


@pytest.fixture(scope="session")
async def outsider(gw: httpx.AsyncClient, admin_token: str) -> dict[str, str]:
    """A signed-in user who belongs to no organization."""
    return (await create_user(gw, admin_token))["headers"]


def s3_keys(servers: Any, prefix: str) -> list[str]:
    client = servers.s3.client()
    return [o.object_name for o in client.list_objects(servers.s3.bucket, prefix, recursive=True)]


def s3_multipart_uploads(servers: Any, prefix: str) -> list[str]:
    client = servers.s3.client()
    try:
        result = client._list_multipart_uploads(servers.s3.bucket, prefix=prefix)
    except Exception:  # noqa: BLE001 - a server without the call has none to show
        return []
    return [u.object_name for u in result.uploads]


@pytest.fixture(scope="module")
async def small_app(servers: Any, system: Any) -> Any:
    """The storage app in this process, with a 12 MiB limit, on the system's database and S3."""
    from storage.main import create_app
    from storage.settings import Settings

    env = system.env["storage"]
    settings = Settings(
        database_url=env["PORTAL_STORAGE_DATABASE_URL"],
        nats_url=servers.nats_url,
        s3_endpoint=servers.s3_endpoint,
        s3_access_key=servers.s3_access_key,
        s3_secret_key=servers.s3_secret_key,
        s3_bucket=servers.s3_bucket,
        jwks_url=env["PORTAL_STORAGE_JWKS_URL"],
        run_worker=False,
        max_file_size=12 * MiB,
        part_size=5 * MiB,
        log_json=False,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app) as state:
        yield app, state


def dataset_event(
    type_: str, ds: uuid.UUID, org_id: uuid.UUID, file_id: str, revision: int, status: str
) -> Any:
    """A catalog event carrying a dataset document whose one resource names ``file_id``."""
    from portal_kit.events.envelope import make_event

    now = "2026-11-27T10:00:00Z"
    res = {
        "id": str(uuid.uuid4()),
        "dataset_id": str(ds),
        "name": "Дані",
        "file_id": file_id,
        "created_at": now,
        "modified_at": now,
    }
    doc = {
        "id": str(ds),
        "name": f"ds-{ds.hex[:8]}",
        "title": "Набір",
        "status": status,
        "organization_id": str(org_id),
        "created_at": now,
        "modified_at": now,
        "revision": revision,
        "resources": [res],
    }
    return make_event(source="/catalog", type=type_, data=doc, subject=str(ds))


async def publish_events(servers: Any, *events: Any) -> None:
    """Publish CloudEvents to the real JetStream (subject = type). Each gets a fresh
    ``Nats-Msg-Id``, so an event published twice reaches the consumers twice (their inbox)."""
    import secrets

    import nats

    nc = await nats.connect(servers.nats_url)
    try:
        js = nc.jetstream()
        for ev in events:
            await js.publish(ev.type, ev.to_json(), headers={"Nats-Msg-Id": secrets.token_hex(8)})
    finally:
        await nc.close()


class Generated:
    """Bytes made on the fly (never held whole), hashed as they are produced."""

    def __init__(self, size: int, block: int = MiB, seed: bytes | None = None) -> None:
        self.size = size
        self.block = block
        self.seed = seed or os.urandom(block)
        self.digest = hashlib.sha256()

    def chunks(self) -> Iterator[bytes]:
        left, i = self.size, 0
        while left > 0:
            n = min(left, self.block)
            chunk = i.to_bytes(8, "big") + self.seed[8:n] if n > 8 else self.seed[:n]
            self.digest.update(chunk)
            yield chunk
            left -= n
            i += 1

    async def achunks(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks():
            yield chunk

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()


async def download_sha256(
    gw: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> tuple[httpx.Response, int, str]:
    digest = hashlib.sha256()
    size = 0
    async with gw.stream("GET", url, headers=headers) as resp:
        async for chunk in resp.aiter_bytes(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return resp, size, digest.hexdigest()
