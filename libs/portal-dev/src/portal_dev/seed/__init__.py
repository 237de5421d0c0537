"""Demo data, created through the public gateway API as real users would.

``run_seed(gateway_url, admin_email, admin_password)`` runs, in order, the step
modules of this package that exist (``STEPS``); each has ``async def seed(ctx)``.
Steps share one ``SeedContext``: an httpx client on the gateway, the tokens of the
users created so far, a dict of created ids, and the demo accounts (email ->
password) that ``make run`` stores in ``var/demo-accounts.json``.
A step that meets an API which does not exist yet (404) logs it and skips.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger("portal_dev.seed")

STEPS = ("identity", "catalog", "storage", "quality", "feedback")


class SkipStep(Exception):
    """Raised by a step when the API it needs is not there yet."""


@dataclass
class SeedContext:
    client: httpx.AsyncClient
    gateway_url: str
    admin_email: str
    admin_password: str
    tokens: dict[str, str] = field(default_factory=dict)  # email -> access token
    ids: dict[str, Any] = field(default_factory=dict)  # shared between steps
    accounts: dict[str, str] = field(default_factory=dict)  # demo email -> password
    log: logging.Logger = log

    @property
    def data(self) -> dict[str, Any]:
        """The same dict as ``ids`` (the name the step authors were told)."""
        return self.ids

    async def login(self, email: str, password: str) -> str:
        """Get a JWT for a user (OAuth2 password form) and remember it."""
        r = await self.client.post(
            "/api/v1/auth/token", data={"username": email, "password": password}
        )
        if r.status_code == 404:
            raise SkipStep("POST /api/v1/auth/token does not exist yet")
        r.raise_for_status()
        token = r.json()["access_token"]
        self.tokens[email] = token
        return token

    async def admin_token(self) -> str:
        if self.admin_email not in self.tokens:
            await self.login(self.admin_email, self.admin_password)
        return self.tokens[self.admin_email]

    def headers(self, email: str | None = None) -> dict[str, str]:
        token = self.tokens[email or self.admin_email]
        return {"Authorization": f"Bearer {token}"}

    async def as_admin(self) -> dict[str, str]:
        await self.admin_token()
        return self.headers()


def _load_steps() -> list[tuple[str, Any]]:
    steps = []
    for name in STEPS:
        modname = f"{__name__}.{name}"
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name == modname:
                continue
            raise
        steps.append((name, mod))
    return steps


async def seed_async(
    gateway_url: str, admin_email: str, admin_password: str, http_timeout: float = 30
) -> SeedContext:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=http_timeout) as client:
        ctx = SeedContext(client, gateway_url, admin_email, admin_password)
        for name, mod in _load_steps():
            log.info("seed step %s", name)
            try:
                await mod.seed(ctx)
            except SkipStep as exc:
                log.warning("seed step %s skipped: %s", name, exc)
        return ctx


def run_seed(gateway_url: str, admin_email: str, admin_password: str) -> SeedContext:
    """Run every seed step against a running gateway (blocking)."""
    return asyncio.run(seed_async(gateway_url, admin_email, admin_password))
