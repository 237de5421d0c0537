"""Minting and checking the gateway's JWTs, and API token helpers."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from typing import Any

import jwt
from portal_kit.auth import ALGORITHMS, Principal, principal_from_claims
from portal_kit.errors import Unauthorized

from gateway.keys import KeyRing

API_TOKEN_PREFIX = "zpt_"


def mint(
    keys: KeyRing,
    *,
    issuer: str,
    audience: str,
    lifetime: int,
    user_id: uuid.UUID,
    email: str,
    name: str,
    roles: list[str],
    orgs: dict[str, str],
    token_id: uuid.UUID | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": str(user_id),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
        "email": email,
        "name": name,
        "roles": sorted(roles),
        "orgs": orgs,
    }
    if token_id is not None:
        claims["tid"] = str(token_id)
    key = keys.current
    return jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": key.kid})


def verify(keys: KeyRing, token: str, *, issuer: str, audience: str) -> Principal:
    """The same checks as portal_kit.auth.TokenVerifier, against the local key ring."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthorized("Malformed token") from exc
    if header.get("alg") not in ALGORITHMS:
        raise Unauthorized("Token algorithm not accepted")
    kid = header.get("kid")
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise Unauthorized("Token signed by an unknown key")
    try:
        claims = jwt.decode(
            token,
            key=key.private.public_key(),
            algorithms=ALGORITHMS,
            audience=audience,
            issuer=issuer,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            leeway=10,
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("Token expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("Invalid token") from exc
    try:
        uuid.UUID(str(claims["sub"]))
        return principal_from_claims(claims)
    except Exception as exc:
        raise Unauthorized("Invalid token claims") from exc


def new_api_token() -> str:
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_api_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def is_api_token(token: str) -> bool:
    return token.startswith(API_TOKEN_PREFIX)
