"""Seed step: the demo users (a moderator; stewards come with their organizations)."""

from __future__ import annotations

import secrets

from . import SeedContext, SkipStep

MODERATOR = {
    "email": "moderator@example.com",
    "full_name": "Олена Коваленко",
    "roles": ["moderator"],
}


async def create_user(ctx: SeedContext, user: dict) -> str | None:
    """Create a user as admin; returns its id (None if it existed already)."""
    password = secrets.token_urlsafe(12)
    r = await ctx.client.post(
        "/api/v1/users", json={**user, "password": password}, headers=await ctx.as_admin()
    )
    if r.status_code == 404:
        raise SkipStep("POST /api/v1/users does not exist yet")
    if r.status_code == 409:
        ctx.log.info("user %s exists already", user["email"])
        return None
    r.raise_for_status()
    ctx.accounts[user["email"]] = password
    return r.json().get("id")


async def seed(ctx: SeedContext) -> None:
    await ctx.admin_token()
    moderator_id = await create_user(ctx, MODERATOR)
    ctx.ids["moderator_id"] = moderator_id
    if moderator_id is not None:
        await ctx.login(MODERATOR["email"], ctx.accounts[MODERATOR["email"]])
