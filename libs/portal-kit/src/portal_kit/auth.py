"""Token checks every service does itself: a JWT signed by the gateway, verified with its JWKS.

The gateway exchanges long-lived API tokens for short-lived JWTs when it forwards a request,
so a service only ever sees JWTs. Roles: ``admin``, ``moderator``; per organization ``editor``
or ``org_admin``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Annotated, Any, Literal

import httpx
import jwt
from fastapi import Depends, Request
from pydantic import BaseModel, Field

from portal_kit.errors import Forbidden, Unauthorized

log = logging.getLogger("portal.auth")

ALGORITHMS = ["EdDSA"]
OrgRole = Literal["editor", "org_admin"]


class Principal(BaseModel):
    """Who is calling, from the verified token's claims."""

    sub: str
    email: str | None = None
    name: str | None = None
    roles: list[str] = Field(default_factory=list)
    # organization id -> role in it
    orgs: dict[str, OrgRole] = Field(default_factory=dict)
    token_id: str | None = None

    @property
    def user_id(self) -> uuid.UUID:
        return uuid.UUID(self.sub)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_moderator(self) -> bool:
        return "moderator" in self.roles or self.is_admin

    def org_role(self, organization_id: uuid.UUID | str | None) -> OrgRole | None:
        if organization_id is None:
            return None
        return self.orgs.get(str(organization_id))

    def is_member(self, organization_id: uuid.UUID | str | None) -> bool:
        return self.org_role(organization_id) is not None

    def can_edit(self, organization_id: uuid.UUID | str | None) -> bool:
        """Editors and org admins of the organization, and portal admins."""
        return self.is_admin or self.is_member(organization_id)

    def can_manage(self, organization_id: uuid.UUID | str | None) -> bool:
        return self.is_admin or self.org_role(organization_id) == "org_admin"

    def organization_ids(self) -> list[uuid.UUID]:
        return [uuid.UUID(o) for o in self.orgs]


class TokenVerifier:
    """Verifies JWTs with keys from the gateway's JWKS, cached and refreshed on an unknown kid."""

    def __init__(
        self,
        jwks_url: str,
        *,
        issuer: str,
        audience: str,
        ttl: float = 300.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        self._client = client
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._min_refetch = 5.0
        self._lock = asyncio.Lock()

    def set_jwks(self, jwks: dict[str, Any]) -> None:
        keys = {}
        for entry in jwks.get("keys", []):
            try:
                keys[entry["kid"]] = jwt.PyJWK.from_dict(entry)
            except Exception:
                log.warning("skipping unusable JWK %s", entry.get("kid"))
        self._keys = keys
        self._fetched_at = time.monotonic()

    async def _refresh(self, force: bool = False) -> None:
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            if not force and self._keys and age < self.ttl:
                return
            if force and age < self._min_refetch and self._keys:
                return
            client = self._client or httpx.AsyncClient(timeout=5.0)
            try:
                resp = await client.get(self.jwks_url)
                resp.raise_for_status()
                self.set_jwks(resp.json())
            except (httpx.HTTPError, json.JSONDecodeError, ValueError) as exc:
                log.warning("could not fetch JWKS from %s: %r", self.jwks_url, exc)
            finally:
                if self._client is None:
                    await client.aclose()

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("Malformed token") from exc
        if header.get("alg") not in ALGORITHMS:
            raise Unauthorized("Token algorithm not accepted")
        kid = header.get("kid")
        await self._refresh()
        if kid not in self._keys:
            await self._refresh(force=True)
        key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("Token signed by an unknown key")
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
                leeway=10,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Token expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("Invalid token") from exc
        return principal_from_claims(claims)


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    return Principal(
        sub=str(claims["sub"]),
        email=claims.get("email"),
        name=claims.get("name"),
        roles=list(claims.get("roles") or []),
        orgs=dict(claims.get("orgs") or {}),
        token_id=claims.get("tid"),
    )


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization must be 'Bearer <token>'")
    return token.strip()


async def optional_principal(request: Request) -> Principal | None:
    token = bearer_token(request)
    if token is None:
        return None
    verifier: TokenVerifier = request.state.verifier
    return await verifier.verify(token)


async def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise Unauthorized()
    return principal


def require_roles(*roles: str) -> Any:
    """Dependency: the caller has one of ``roles`` (admin always passes)."""

    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.is_admin or any(r in principal.roles for r in roles):
            return principal
        if "moderator" in roles and principal.is_moderator:
            return principal
        raise Forbidden(f"Requires role: {' or '.join(roles)}")

    return dependency


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
Moderator = Annotated[Principal, Depends(require_roles("moderator"))]
Admin = Annotated[Principal, Depends(require_roles("admin"))]
