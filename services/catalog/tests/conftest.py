"""Catalog tests: through the gateway of the real system, with real tokens."""

from __future__ import annotations

import asyncio
import json

import httpx
import nats
import pytest
from catalog.testing import Api, Events
from gateway.testing import bearer, create_user, login


@pytest.fixture(scope="session")
async def gw(system):
    async with httpx.AsyncClient(base_url=system.gateway_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
async def admin(gw, system) -> dict[str, str]:
    return bearer(await login(gw, system.admin_email, system.admin_password))


@pytest.fixture(scope="session")
async def moderator(gw, admin) -> dict[str, str]:
    u = await create_user(gw, admin["Authorization"].split()[1], roles=["moderator"])
    return u["headers"]


@pytest.fixture(scope="session")
async def api(gw, admin) -> Api:
    return Api(gw, admin)


@pytest.fixture(scope="session")
async def events(system):
    nc = await nats.connect(system.servers.nats_url)
    js = nc.jetstream()
    ev = Events()
    for _ in range(100):
        try:
            await js.stream_info("CATALOG")
            break
        except Exception:
            await asyncio.sleep(0.2)

    async def cb(msg):
        ev.items.append(json.loads(msg.data))
        await msg.ack()

    sub = await js.subscribe(
        "catalog.>", stream="CATALOG", cb=cb, ordered_consumer=False, manual_ack=True
    )
    yield ev
    await sub.unsubscribe()
    await nc.close()
