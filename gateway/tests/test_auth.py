"""Login, /me, JWKS, token checks, API tokens, users and memberships (admin), validation."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gateway.testing import bearer, create_user, login
from portal_kit.auth import TokenVerifier
from portal_kit.errors import Unauthorized

PROBLEM = "application/problem+json"


def assert_problem(resp: httpx.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM), resp.headers
    body = resp.json()
    assert body["status"] == status and body["type"].startswith("https://")
    return body


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def signing_key(key_dir: Path) -> tuple[str, Ed25519PrivateKey]:
    path = sorted(key_dir.glob("*.pem"))[-1]
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return path.stem, key


async def test_login_ok_and_me(stack, client):
    # email is case-insensitive
    resp = await client.post(
        "/api/v1/auth/token",
        data={"username": stack.admin_email.lower(), "password": stack.admin_password},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    me = await client.get("/api/v1/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["email"] == stack.admin_email and me.json()["roles"] == ["admin"]
    assert me.headers["x-request-id"]


async def test_bad_password_and_unknown_user_same_401(stack, client):
    wrong = await client.post(
        "/api/v1/auth/token", data={"username": stack.admin_email, "password": "nope-nope"}
    )
    unknown = await client.post(
        "/api/v1/auth/token", data={"username": "ghost@example.com", "password": "nope-nope"}
    )
    assert assert_problem(wrong, 401)["detail"] == assert_problem(unknown, 401)["detail"]


async def test_malformed_bodies_422(client, admin_token):
    resp = await client.post("/api/v1/auth/token", data={"username": "x"})
    assert_problem(resp, 422)
    resp = await client.post(
        "/api/v1/users",
        json={"email": "not-an-email", "password": "short"},
        headers=bearer(admin_token),
    )
    body = assert_problem(resp, 422)
    assert {tuple(e["loc"]) for e in body["errors"]} >= {("body", "email"), ("body", "password")}
    resp = await client.post(
        "/api/v1/users",
        content=b"{not json",
        headers={**bearer(admin_token), "content-type": "application/json"},
    )
    assert_problem(resp, 422)
    resp = await client.put(
        f"/api/v1/users/{uuid.uuid4()}/memberships",
        json={"organization_id": "x", "role": "boss"},
        headers=bearer(admin_token),
    )
    assert_problem(resp, 422)
    resp = await client.get("/api/v1/users/not-a-uuid", headers=bearer(admin_token))
    assert_problem(resp, 422)


async def test_jwks_verifies_tokens_with_portal_kit(stack, client, admin_token):
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert jwks["keys"] and all(k["kty"] == "OKP" and k["crv"] == "Ed25519" for k in jwks["keys"])
    assert all("d" not in k for k in jwks["keys"])  # public keys only
    async with httpx.AsyncClient() as http:
        verifier = TokenVerifier(
            f"{stack.url}/.well-known/jwks.json",
            issuer=stack.settings.jwt_issuer,
            audience=stack.settings.jwt_audience,
            client=http,
        )
        principal = await verifier.verify(admin_token)
        assert principal.email == stack.admin_email and principal.is_admin
        claims = jwt.decode(admin_token, options={"verify_signature": False})
        assert {"iss", "aud", "sub", "iat", "exp", "jti", "email", "name", "roles", "orgs"} <= set(
            claims
        )
        assert jwt.get_unverified_header(admin_token)["kid"] in {k["kid"] for k in jwks["keys"]}
        # tampered tokens fail in portal_kit as well
        head, payload, sig = admin_token.split(".")
        forged = ".".join([head, b64({**claims, "roles": ["admin", "moderator"]}), sig])
        with pytest.raises(Unauthorized):
            await verifier.verify(forged)


async def test_tampered_and_expired_tokens_401(stack, client):
    user = await create_user(client, await login(client, stack.admin_email, stack.admin_password))
    claims = jwt.decode(user["token"], options={"verify_signature": False})
    kid, key = signing_key(stack.key_dir)
    head, _, sig = user["token"].split(".")
    cases = {
        "alg none": b64({"alg": "none", "typ": "JWT"})
        + "."
        + b64({**claims, "roles": ["admin"]})
        + ".",
        "wrong key, known kid": jwt.encode(
            claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": kid}
        ),
        "unknown kid": jwt.encode(
            claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "nope"}
        ),
        "modified payload": head + "." + b64({**claims, "roles": ["admin"]}) + "." + sig,
        "HS256 with public key": jwt.encode(
            claims, "s" * 40, algorithm="HS256", headers={"kid": kid}
        ),
        "expired": jwt.encode(
            {**claims, "iat": int(time.time()) - 3600, "exp": int(time.time()) - 60},
            key,
            algorithm="EdDSA",
            headers={"kid": kid},
        ),
        "wrong audience": jwt.encode(
            {**claims, "aud": "someone-else"}, key, algorithm="EdDSA", headers={"kid": kid}
        ),
        "garbage": "not.a.jwt",
    }
    for name, token in cases.items():
        for path in ("/api/v1/auth/me", "/api/v1/datasets/echo/x"):
            resp = await client.get(path, headers=bearer(token))
            assert resp.status_code == 401, (name, path, resp.text)
            assert_problem(resp, 401)
            assert resp.headers.get("www-authenticate") == "Bearer"
    # the real one works, through the gateway and on the proxy path
    assert (await client.get("/api/v1/auth/me", headers=user["headers"])).status_code == 200
    assert (await client.get("/api/v1/datasets/echo/x", headers=user["headers"])).status_code == 200
    # a valid signature made with the real key is accepted (the test key really is the key)
    good = jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})
    assert (await client.get("/api/v1/auth/me", headers=bearer(good))).status_code == 200
    # non-bearer schemes are refused at the edge
    resp = await client.get("/api/v1/datasets/echo/x", headers={"Authorization": "Basic eDp5"})
    assert_problem(resp, 401)


async def test_api_token_lifecycle(stack, client, admin_token):
    org = str(uuid.uuid4())
    user = await create_user(client, admin_token, memberships={org: "editor"})
    resp = await client.post(
        "/api/v1/auth/api-tokens", json={"name": "etl script"}, headers=user["headers"]
    )
    assert resp.status_code == 201, resp.text
    created = resp.json()
    raw = created["token"]
    assert raw.startswith("zpt_") and created["prefix"] == raw[:12]
    # it works on the gateway's own routes ...
    me = await client.get("/api/v1/auth/me", headers=bearer(raw))
    assert me.status_code == 200 and me.json()["id"] == user["id"]
    # ... and on the proxy, exchanged for a short JWT that services can verify
    echo = await client.get("/api/v1/datasets/echo/t", headers=bearer(raw))
    assert echo.status_code == 200, echo.text
    forwarded = echo.json()["headers"]["authorization"].removeprefix("Bearer ")
    assert not forwarded.startswith("zpt_")
    claims = jwt.decode(forwarded, options={"verify_signature": False})
    assert claims["tid"] == created["id"] and claims["orgs"] == {org: "editor"}
    assert claims["exp"] - claims["iat"] <= stack.settings.exchanged_token_lifetime_seconds
    # an API token cannot mint more API tokens
    assert (
        await client.post("/api/v1/auth/api-tokens", json={"name": "x"}, headers=bearer(raw))
    ).status_code == 403
    # the list never shows the secret, and shows last use
    listing = (await client.get("/api/v1/auth/api-tokens", headers=user["headers"])).json()
    assert listing["total"] == 1 and "token" not in listing["items"][0]
    assert listing["items"][0]["last_used_at"] is not None
    # other users cannot revoke it
    other = await create_user(client, admin_token)
    resp = await client.delete(f"/api/v1/auth/api-tokens/{created['id']}", headers=other["headers"])
    assert_problem(resp, 404)
    # revoked: 401 everywhere
    resp = await client.delete(f"/api/v1/auth/api-tokens/{created['id']}", headers=user["headers"])
    assert resp.status_code == 204
    for path in ("/api/v1/auth/me", "/api/v1/datasets/echo/t"):
        assert_problem(await client.get(path, headers=bearer(raw)), 401)
    # unknown and expired tokens too
    assert_problem(await client.get("/api/v1/auth/me", headers=bearer("zpt_unknown")), 401)


async def test_deactivated_user_401(client, admin_token):
    user = await create_user(client, admin_token)
    token = (
        await client.post("/api/v1/auth/api-tokens", json={"name": "t"}, headers=user["headers"])
    ).json()["token"]
    assert (
        await client.delete(f"/api/v1/users/{user['id']}", headers=bearer(admin_token))
    ).status_code == 204
    for t in (user["token"], token):
        assert_problem(await client.get("/api/v1/auth/me", headers=bearer(t)), 401)
        assert_problem(await client.get("/api/v1/datasets/echo/x", headers=bearer(t)), 401)
    resp = await client.post(
        "/api/v1/auth/token", data={"username": user["email"], "password": user["password"]}
    )
    assert_problem(resp, 401)
    # reactivated: works again
    resp = await client.patch(
        f"/api/v1/users/{user['id']}", json={"is_active": True}, headers=bearer(admin_token)
    )
    assert resp.status_code == 200 and resp.json()["is_active"] is True
    await login(client, user["email"], user["password"])


async def test_admin_only_user_routes(client, admin_token):
    user = await create_user(client, admin_token)
    some_id = user["id"]
    calls = [
        ("GET", "/api/v1/users", None),
        ("POST", "/api/v1/users", {"email": "x@example.com", "password": "12345678"}),
        ("GET", f"/api/v1/users/{some_id}", None),
        ("PATCH", f"/api/v1/users/{some_id}", {"roles": ["admin"]}),
        ("DELETE", f"/api/v1/users/{some_id}", None),
        (
            "PUT",
            f"/api/v1/users/{some_id}/memberships",
            {"organization_id": str(uuid.uuid4()), "role": "editor"},
        ),
    ]
    for method, path, body in calls:
        anon = await client.request(method, path, json=body)
        assert_problem(anon, 401)
        normal = await client.request(method, path, json=body, headers=user["headers"])
        assert_problem(normal, 403)


async def test_users_crud_and_search(client, admin_token):
    tag = uuid.uuid4().hex[:8]
    user = await create_user(
        client,
        admin_token,
        email=f"Mixed.{tag}@Example.com",
        full_name=f"Петро {tag}",
        roles=["moderator"],
    )
    dup = await client.post(
        "/api/v1/users",
        json={"email": f"mixed.{tag}@example.com", "password": "12345678"},
        headers=bearer(admin_token),
    )
    assert_problem(dup, 409)
    page = (await client.get(f"/api/v1/users?q={tag}", headers=bearer(admin_token))).json()
    assert page["total"] == 1 and page["items"][0]["id"] == user["id"]
    assert set(page) == {"items", "total", "limit", "offset"}
    page = (await client.get("/api/v1/users?q=петро " + tag, headers=bearer(admin_token))).json()
    assert page["total"] == 1
    # q with LIKE wildcards matches literally
    assert (await client.get("/api/v1/users?q=%25_%25", headers=bearer(admin_token))).json()[
        "total"
    ] == 0
    assert_problem(await client.get("/api/v1/users?limit=1000", headers=bearer(admin_token)), 422)
    got = await client.get(f"/api/v1/users/{user['id']}", headers=bearer(admin_token))
    etag = got.headers["etag"]
    resp = await client.patch(
        f"/api/v1/users/{user['id']}",
        json={"full_name": "Новe імʼя", "password": "new-password-1"},
        headers={**bearer(admin_token), "If-Match": etag},
    )
    assert resp.status_code == 200 and resp.json()["full_name"] == "Новe імʼя"
    stale = await client.patch(
        f"/api/v1/users/{user['id']}",
        json={"full_name": "x"},
        headers={**bearer(admin_token), "If-Match": etag},
    )
    assert_problem(stale, 412)
    await login(client, user["email"], "new-password-1")
    assert_problem(
        await client.get(f"/api/v1/users/{uuid.uuid4()}", headers=bearer(admin_token)), 404
    )


async def test_memberships_in_new_token_and_org_admin_rights(client, admin_token):
    org, other_org = str(uuid.uuid4()), str(uuid.uuid4())
    boss = await create_user(client, admin_token, memberships={org: "org_admin"})
    claims = jwt.decode(boss["token"], options={"verify_signature": False})
    assert claims["orgs"] == {org: "org_admin"}
    member = await create_user(client, admin_token)
    # an org admin manages editors of their own organization
    resp = await client.put(
        f"/api/v1/users/{member['id']}/memberships",
        json={"organization_id": org, "role": "editor"},
        headers=boss["headers"],
    )
    assert resp.status_code == 200, resp.text
    # ... but cannot make org admins, nor touch another organization
    resp = await client.put(
        f"/api/v1/users/{member['id']}/memberships/{org}",
        json={"role": "org_admin"},
        headers=boss["headers"],
    )
    assert_problem(resp, 403)
    resp = await client.put(
        f"/api/v1/users/{member['id']}/memberships",
        json={"organization_id": other_org, "role": "editor"},
        headers=boss["headers"],
    )
    assert_problem(resp, 403)
    # admin adds another one; the member's new token carries both
    resp = await client.put(
        f"/api/v1/users/{member['id']}/memberships/{other_org}",
        json={"role": "org_admin"},
        headers=bearer(admin_token),
    )
    assert resp.status_code == 200
    token = await login(client, member["email"], member["password"])
    assert jwt.decode(token, options={"verify_signature": False})["orgs"] == {
        org: "editor",
        other_org: "org_admin",
    }
    me = (await client.get("/api/v1/auth/me", headers=bearer(token))).json()
    assert {m["organization_id"]: m["role"] for m in me["memberships"]} == {
        org: "editor",
        other_org: "org_admin",
    }
    # the org admin sees only their organization's membership of that user
    seen = (
        await client.get(f"/api/v1/users/{member['id']}/memberships", headers=boss["headers"])
    ).json()
    assert [m["organization_id"] for m in seen] == [org]
    assert (
        await client.delete(
            f"/api/v1/users/{member['id']}/memberships/{org}", headers=boss["headers"]
        )
    ).status_code == 204
    assert_problem(
        await client.delete(
            f"/api/v1/users/{member['id']}/memberships/{other_org}", headers=boss["headers"]
        ),
        403,
    )
    token = await login(client, member["email"], member["password"])
    assert jwt.decode(token, options={"verify_signature": False})["orgs"] == {
        other_org: "org_admin"
    }


async def test_admin_cannot_lock_themselves_out(client, admin_token):
    me = (await client.get("/api/v1/auth/me", headers=bearer(admin_token))).json()
    resp = await client.patch(
        f"/api/v1/users/{me['id']}", json={"roles": []}, headers=bearer(admin_token)
    )
    assert_problem(resp, 409)
