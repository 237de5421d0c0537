"""Quality tests: the service in-process (ASGI) on the real PostgreSQL, NATS and S3 of
``portal_dev.testing``; documents and file events are fed to the real handlers."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from portal_kit.migrations import upgrade

from quality.main import MIGRATIONS_DIR, create_app
from quality.settings import Settings
from quality.testing import Q


@pytest.fixture
async def q(servers: Any) -> AsyncIterator[Q]:
    db = "quality_t" + secrets.token_hex(4)
    servers.postgres.create_databases([db])
    url = servers.postgres.sqlalchemy_url(db)
    await asyncio.to_thread(upgrade, MIGRATIONS_DIR, url)
    settings = Settings(
        database_url=url,
        nats_url=servers.nats.url,
        run_worker=False,
        s3_endpoint=servers.s3.endpoint,
        s3_access_key=servers.s3.access_key,
        s3_secret_key=servers.s3.secret_key,
        s3_bucket=servers.s3.bucket,
        log_json=False,
        environment="test",
    )
    app = create_app(settings)
    key = Ed25519PrivateKey.generate()
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "test", "alg": "EdDSA", "use": "sig"})
    async with AsyncExitStack() as stack:
        state = await stack.enter_async_context(app.router.lifespan_context(app))
        state["verifier"].set_jwks({"keys": [jwk]})

        async def asgi(scope: Any, receive: Any, send: Any) -> None:
            scope["state"] = dict(state)
            await app(scope, receive, send)

        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://quality")
        )
        yield Q(client, state["ctx"], key, servers.s3.bucket)
