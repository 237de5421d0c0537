"""The gateway as ``make run`` starts it (the ``system`` fixture): real services behind it."""

from __future__ import annotations

import httpx
import pytest
from gateway.testing import bearer, create_user, login
from portal_kit.auth import TokenVerifier

pytestmark = pytest.mark.usefixtures("system")


@pytest.fixture
async def gw(system):  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=system.gateway_url, timeout=30) as c:
        yield c


async def test_ready_and_every_service_in_openapi(system, gw):
    r = await gw.get("/readyz")
    assert r.status_code == 200, r.text
    doc = (await gw.get("/openapi.json")).json()
    assert doc["info"]["x-services-missing"] == []
    assert "/api/v1/auth/token" in doc["paths"]


async def test_admin_login_and_services_verify_our_tokens(system, gw):
    admin = await login(gw, system.admin_email, system.admin_password)
    user = await create_user(gw, admin, roles=["moderator"])
    async with httpx.AsyncClient() as http:
        verifier = TokenVerifier(
            f"{system.gateway_url}/.well-known/jwks.json",
            issuer="zp-open-data-portal",
            audience="portal",
            client=http,
        )
        principal = await verifier.verify(user["token"])
    assert principal.is_moderator and principal.email == user["email"]
    me = await gw.get("/api/v1/auth/me", headers=bearer(user["token"]))
    assert me.json()["roles"] == ["moderator"]


async def test_stopped_service_gives_502_and_the_rest_works(system, gw):
    system.stop_service("quality")
    try:
        r = await gw.get("/api/v1/quality/reports")
        assert r.status_code in (502, 504), r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["service"] == "quality"
        r = await gw.get("/readyz")
        assert r.status_code == 503 and "service:quality" in r.json()["failing"]
        assert (await gw.get("/.well-known/jwks.json")).status_code == 200
    finally:
        system.start_service("quality")
    assert (await gw.get("/readyz")).status_code == 200
