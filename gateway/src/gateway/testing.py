"""Helpers for tests anywhere (pure httpx, no fixtures): log in, make users with memberships.

async with httpx.AsyncClient(base_url=system.gateway_url) as client:
    admin = await login(client, system.admin_email, system.admin_password)
    editor = await create_user(client, admin, memberships={org_id: "editor"})
    await client.post("/api/v1/datasets", json=..., headers=editor["headers"])
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import httpx


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client: httpx.AsyncClient, email: str, password: str) -> str:
    """POST /api/v1/auth/token; returns the access token (raises on failure)."""
    resp = await client.post(
        "/api/v1/auth/token",
        data={"username": email, "password": password, "grant_type": "password"},
    )
    if resp.status_code != 200:
        raise AssertionError(f"login as {email} failed: {resp.status_code} {resp.text}")
    return str(resp.json()["access_token"])


async def create_user(
    client: httpx.AsyncClient,
    admin_token: str,
    *,
    email: str | None = None,
    password: str | None = None,
    full_name: str | None = None,
    roles: Iterable[str] = (),
    memberships: Mapping[str | uuid.UUID, str] | None = None,
) -> dict[str, Any]:
    """Create a user as admin, give it memberships ({org_id: "editor"|"org_admin"}), log it in.

    Returns {"id", "email", "password", "token", "headers", "user"}; the token is minted after
    the memberships are set, so its ``orgs`` claim carries them.
    """
    email = email or f"user-{secrets.token_hex(6)}@example.com"
    password = password or secrets.token_urlsafe(16)
    resp = await client.post(
        "/api/v1/users",
        json={
            "email": email,
            "password": password,
            "full_name": full_name if full_name is not None else email.split("@")[0],
            "roles": list(roles),
        },
        headers=bearer(admin_token),
    )
    if resp.status_code != 201:
        raise AssertionError(f"creating user {email} failed: {resp.status_code} {resp.text}")
    user = resp.json()
    for org_id, role in (memberships or {}).items():
        r = await client.put(
            f"/api/v1/users/{user['id']}/memberships",
            json={"organization_id": str(org_id), "role": role},
            headers=bearer(admin_token),
        )
        if r.status_code != 200:
            raise AssertionError(f"membership {org_id}={role} failed: {r.status_code} {r.text}")
    token = await login(client, email, password)
    return {
        "id": user["id"],
        "email": email,
        "password": password,
        "token": token,
        "headers": bearer(token),
        "user": user,
    }
