"""Harvest-export tests.

``hx``: the service in-process on the real PostgreSQL of ``portal_dev.testing``, served by a real
uvicorn on a free port (so ``ckanapi``/``requests`` and the harvester loop talk real HTTP);
catalog-shaped documents are fed to the real read-model code. ``gw``/``system`` tests go end to
end through the gateway with the catalog publishing for real.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from harvest_export import readmodel
from harvest_export import testing as T
from harvest_export.main import MIGRATIONS_DIR, create_app
from harvest_export.settings import Settings
from portal_dev.testing import free_port
from portal_kit.migrations import upgrade


@dataclass
class Hx:
    url: str
    client: httpx.AsyncClient
    ctx: Any
    settings: Settings
    key: Ed25519PrivateKey

    async def feed_dataset(self, doc: dict[str, Any]) -> bool:
        async with self.ctx.sessionmaker() as session, session.begin():
            return await readmodel.apply_dataset(session, doc, self.settings)

    async def feed_org(self, doc: dict[str, Any], deleted: bool = False) -> bool:
        async with self.ctx.sessionmaker() as session, session.begin():
            return await readmodel.apply_organization(session, doc, self.settings, deleted=deleted)

    async def feed_quality(self, data: dict[str, Any]) -> bool:
        async with self.ctx.sessionmaker() as session, session.begin():
            return await readmodel.apply_quality(session, data, self.settings)

    def token(
        self, roles: list[str] | None = None, orgs: dict[str, str] | None = None
    ) -> dict[str, str]:
        now = int(time.time())
        claims = {
            "sub": str(uuid.uuid4()),
            "email": "m@example.com",
            "roles": roles or [],
            "orgs": orgs or {},
            "iss": self.settings.jwt_issuer,
            "aud": self.settings.jwt_audience,
            "iat": now,
            "exp": now + 600,
        }
        token = jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": "test"})
        return {"Authorization": f"Bearer {token}"}

    async def age(self, hours: int = 3) -> None:
        await age_read_model(self, hours)

    async def action(self, name: str, **params: Any) -> httpx.Response:
        return await self.client.get(f"/api/3/action/{name}", params=params)


@pytest.fixture(scope="session")
async def hx(servers: Any) -> AsyncIterator[Hx]:
    db = "hx_t" + secrets.token_hex(4)
    servers.postgres.create_databases([db])
    url = servers.postgres.sqlalchemy_url(db)
    await asyncio.to_thread(upgrade, MIGRATIONS_DIR, url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=url,
        nats_url=servers.nats.url,
        run_worker=False,
        log_json=False,
        environment="test",
        site_url=base,
        validate_shacl=True,
        log_level="WARNING",
    )
    app = create_app(settings)
    key = Ed25519PrivateKey.generate()
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "test", "alg": "EdDSA", "use": "sig"})
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", access_log=False
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started, "harvest-export did not start"
    ctx = None
    # the lifespan state lives in the server's app; reach the ctx through a request
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=60))
        ctx = _ctx_of(server)
        ctx.verifier.set_jwks({"keys": [jwk]})
        yield Hx(base, client, ctx, settings, key)
    server.should_exit = True
    await task


def _ctx_of(server: uvicorn.Server) -> Any:
    state = server.lifespan.state  # type: ignore[union-attr]
    return state["ctx"]


N = 350


@pytest.fixture(scope="session")
async def catalog350(hx) -> dict[str, Any]:
    """350 published datasets in two organizations (plus hidden ones that must never appear),
    built through the real read-model code; then aged three hours, as if loaded long before the
    first harvest (so the harvester's one-hour incremental overlap does not cover them)."""
    orgs = [T.organization(), T.organization()]
    for org in orgs:
        assert await hx.feed_org(org)
    hx.settings.validate_shacl = False  # per-entry SHACL is exercised in test_dcat; the whole
    try:  # catalog is validated there too
        docs = []
        for i in range(N):
            doc = T.dataset(orgs[i % 2], i)
            assert await hx.feed_dataset(doc)
            docs.append(doc)
        hidden = [T.dataset(orgs[0], 900, status=s) for s in ("draft", "submitted", "rejected")]
        for doc in hidden:
            await hx.feed_dataset(doc)
        archived = T.dataset(orgs[1], 901)
        await hx.feed_dataset(archived)
        await hx.feed_dataset(T.bump(archived, status="archived"))
    finally:
        hx.settings.validate_shacl = True
    ids = [d["id"] for d in docs]
    await age_read_model(hx)
    return {
        "orgs": orgs,
        "docs": docs,
        "ids": set(ids),
        "hidden": {d["id"] for d in [*hidden, archived]},
    }


async def age_read_model(hx: Hx, hours: int = 3) -> None:
    """Move every export timestamp back, as if the catalog had been loaded hours before the
    harvester's last job (so its one-hour incremental overlap does not cover it)."""
    async with hx.ctx.sessionmaker() as session, session.begin():
        await session.exec(
            sa.text(
                "UPDATE hx_dataset SET metadata_modified = metadata_modified - make_interval(hours => :h),"
                " metadata_created = metadata_created - make_interval(hours => :h),"
                " first_served_at = first_served_at - make_interval(hours => :h)"
            ).bindparams(h=hours)
        )
        await session.exec(
            sa.text(
                "UPDATE hx_dataset SET package = jsonb_set(jsonb_set(package, '{metadata_modified}',"
                " to_jsonb(to_char(metadata_modified, 'YYYY-MM-DD\"T\"HH24:MI:SS.US'))),"
                " '{metadata_created}', to_jsonb(to_char(metadata_created,"
                " 'YYYY-MM-DD\"T\"HH24:MI:SS.US'))) WHERE package IS NOT NULL"
            )
        )
