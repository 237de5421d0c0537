"""Root fixtures: a client on the gateway and real users with real tokens.

The real ``gateway`` package is imported first: pytest's importlib mode would otherwise name
``gateway/tests`` modules ``gateway.tests.*`` and shadow the package with the project folder.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import gateway.testing  # noqa: F401  (see the module docstring)
import httpx
import pytest
from gateway.testing import create_user, login


@pytest.fixture
async def gw(system: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on the running system's gateway."""
    async with httpx.AsyncClient(base_url=system.gateway_url, timeout=60.0) as client:
        yield client


@pytest.fixture(scope="session")
async def admin_token(system: Any) -> str:
    async with httpx.AsyncClient(base_url=system.gateway_url, timeout=60.0) as client:
        return await login(client, system.admin_email, system.admin_password)


@pytest.fixture
def make_user(gw: httpx.AsyncClient, admin_token: str) -> Callable[..., Awaitable[dict[str, Any]]]:
    """``await make_user(roles=["moderator"], memberships={org_id: "editor"})`` → a dict with
    ``id``, ``email``, ``password``, ``token`` and ``headers``."""

    async def factory(**kwargs: Any) -> dict[str, Any]:
        return await create_user(gw, admin_token, **kwargs)

    return factory
