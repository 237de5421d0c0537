"""Routing, header handling, streaming both ways, 502/504/404, rate limits, CORS, OpenAPI."""

from __future__ import annotations

import asyncio
import hashlib
import resource
import uuid

import httpx
import jwt
from gateway.proxy import ROUTES, route_for
from gateway.testing import bearer, create_user, login

PROBLEM = "application/problem+json"


def assert_problem(resp: httpx.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM), resp.headers
    return resp.json()


def test_route_table():
    assert route_for("/api/v1/datasets") == "catalog"
    assert route_for("/api/v1/datasets/abc/resources") == "catalog"
    assert route_for("/api/v1/datasetsx") is None
    assert route_for("/api/v1/files/1/content") == "storage"
    assert route_for("/files/ab/cd.csv") == "storage"
    assert route_for("/api/3/action/package_search") == "harvest"
    assert route_for("/api/action/package_show") == "harvest"
    assert route_for("/catalog.ttl") == "harvest"
    assert route_for("/dataset/budget-2024.jsonld") == "harvest"
    assert route_for("/sitemap.xml") == "harvest"
    assert route_for("/api/v1/surveys/1/answers") == "feedback"
    assert route_for("/api/v1/quality/reports") == "quality"
    assert route_for("/api/v1/stats/quality/x", {"quality"}) == "quality"
    assert route_for("/api/v1/stats/harvest-export/x", {"harvest"}) == "harvest"
    assert route_for("/api/v1/stats/nope/x", {"quality"}) is None
    assert route_for("/api/v1/users") is None  # the gateway's own
    assert set(ROUTES.values()) == {"catalog", "storage", "quality", "harvest", "feedback"}


async def test_forwarding_headers_query_and_request_id(client):
    resp = await client.post(
        "/api/v1/datasets/echo/a%2Fb/%D0%BA?q=%D0%B1%D1%8E%D0%B4%D0%B6%D0%B5%D1%82&x=1&x=2",
        content=b"hello",
        headers={
            "X-Request-ID": "req-123",
            "Connection": "keep-alive, x-secret-hop",
            "X-Secret-Hop": "drop me",
            "X-Forwarded-For": "203.0.113.9",
            "Host": "portal.example.org",
        },
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["raw_path"] == "/api/v1/datasets/echo/a%2Fb/%D0%BA"
    assert body["query"] == "q=%D0%B1%D1%8E%D0%B4%D0%B6%D0%B5%D1%82&x=1&x=2"
    assert body["body_len"] == 5
    h = body["headers"]
    assert h["x-request-id"] == "req-123"
    assert h["x-forwarded-for"] == "203.0.113.9"  # peer 127.0.0.1 is a trusted proxy here
    assert h["x-forwarded-proto"] == "http"
    assert h["x-forwarded-host"] == "portal.example.org"
    assert "x-secret-hop" not in h
    # the response: request id echoed, upstream's hop-by-hop headers dropped
    assert resp.headers["x-request-id"] == "req-123"
    assert resp.headers["x-upstream"] == "catalog"
    assert "x-hop" not in resp.headers
    # one generated when the client sends none, and it reaches the service
    resp = await client.get("/api/v1/datasets/echo/b")
    assert resp.headers["x-request-id"] == resp.json()["headers"]["x-request-id"]


async def test_multiple_set_cookie_headers_survive(client):
    resp = await client.get("/api/v1/datasets/cookies")
    assert len(resp.headers.get_list("set-cookie")) == 2


async def test_unknown_path_404_problem(client):
    body = assert_problem(await client.get("/api/v1/nothing-here"), 404)
    assert "No route" in body["detail"]
    assert_problem(await client.post("/totally/unknown", json={}), 404)


async def test_upstream_down_502_and_slow_504(client):
    body = assert_problem(await client.get("/api/v1/quality/reports"), 502)
    assert body["service"] == "quality"
    body = assert_problem(await client.get("/api/v1/datasets/slow"), 504)
    assert body["service"] == "catalog"
    # the rest keeps working
    assert (await client.get("/api/v1/datasets/echo/z")).status_code == 200


async def test_upload_streams_to_upstream_before_body_ends(stack, client):
    """The upstream sees the first bytes while the client is still sending: no buffering."""
    release = asyncio.Event()
    chunk = b"x" * 65536

    async def body():
        yield chunk
        # wait until the upstream has received bytes; a buffering proxy would deadlock here
        for _ in range(200):
            if stack.probe.first_bytes.is_set():
                break
            await asyncio.sleep(0.05)
        release.set()
        for _ in range(15):
            yield chunk

    resp = await client.post("/api/v1/uploads/sink", content=body())
    assert resp.status_code == 200, resp.text
    assert release.is_set() and stack.probe.first_bytes.is_set()
    assert resp.json()["size"] == 16 * 65536
    assert resp.json()["transfer_encoding"] == "chunked"


async def test_large_upload_and_download_in_constant_memory(client):
    size = 256 * 1024 * 1024
    block = bytes(range(256)) * 4096  # 1 MiB
    digest = hashlib.sha256()
    for _ in range(size // len(block)):
        digest.update(block)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB, peak so far

    async def body():
        for _ in range(size // len(block)):
            yield block

    resp = await client.post(
        "/api/v1/uploads/sink", content=body(), headers={"Content-Length": str(size)}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["size"] == size and resp.json()["sha256"] == digest.hexdigest()
    assert resp.json()["content_length"] == str(size)  # length kept, not re-chunked

    got = 0
    async with client.stream("GET", f"/api/v1/downloads/bytes/{size}") as r:
        assert r.status_code == 200 and r.headers["content-length"] == str(size)
        async for part in r.aiter_raw():
            got += len(part)
    assert got == size
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    # this process holds client, gateway and upstream: buffering 256 MiB anywhere would show
    assert grown_mib < 64, f"peak memory grew by {grown_mib:.0f} MiB"


async def test_stats_route_to_named_service(client):
    resp = await client.get("/api/v1/stats/catalog/summary")
    assert resp.status_code == 200 and resp.json() == {"datasets": 0}
    assert_problem(await client.get("/api/v1/stats/unknown/summary"), 404)


async def test_rate_limit_on_login_is_per_client(stack, client):
    attacker = {"X-Forwarded-For": f"198.51.100.{uuid.uuid4().int % 250 + 1}"}
    bystander = {"X-Forwarded-For": "192.0.2.77"}
    statuses = []
    for _ in range(stack.settings.rate_limit_auth_burst + 2):
        r = await client.post(
            "/api/v1/auth/token",
            data={"username": stack.admin_email, "password": "wrong-password"},
            headers=attacker,
        )
        statuses.append(r.status_code)
    assert (
        statuses[: stack.settings.rate_limit_auth_burst]
        == [401] * stack.settings.rate_limit_auth_burst
    )
    assert statuses[-1] == 429
    r = await client.post(
        "/api/v1/auth/token",
        data={"username": stack.admin_email, "password": "x"},
        headers=attacker,
    )
    body = assert_problem(r, 429)
    assert int(r.headers["retry-after"]) >= 1 and body["retry_after"] >= 1
    # another client logs in fine at the same moment, with the right password
    r = await client.post(
        "/api/v1/auth/token",
        data={"username": stack.admin_email, "password": stack.admin_password},
        headers=bystander,
    )
    assert r.status_code == 200, r.text


async def test_rate_limit_per_token_on_writes(stack, client, admin_token):
    user = await create_user(client, admin_token)
    other = await create_user(client, admin_token)
    burst = stack.settings.rate_limit_token_write_burst
    codes = []
    for i in range(burst + 1):
        # a different IP each time: the token's own bucket runs dry
        r = await client.delete(
            f"/api/v1/auth/api-tokens/{uuid.uuid4()}",
            headers={**user["headers"], "X-Forwarded-For": f"203.0.113.{i + 1}"},
        )
        codes.append(r.status_code)
    assert codes[:burst] == [404] * burst and codes[-1] == 429
    # reads are never limited, and other tokens write on
    assert (await client.get("/api/v1/auth/me", headers=user["headers"])).status_code == 200
    r = await client.delete(
        f"/api/v1/auth/api-tokens/{uuid.uuid4()}",
        headers={**other["headers"], "X-Forwarded-For": "203.0.113.1"},
    )
    assert r.status_code == 404


async def test_cors(client):
    r = await client.options(
        "/api/v1/datasets",
        headers={
            "Origin": "https://spa.example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://spa.example.org"
    r = await client.get("/api/v1/datasets/echo/c", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    r = await client.get("/healthz", headers={"Origin": "https://spa.example.org"})
    assert r.headers["access-control-allow-origin"] == "https://spa.example.org"
    assert "x-request-id" in r.headers


async def test_merged_openapi(client):
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    paths = doc["paths"]
    # the gateway's own
    for p in (
        "/api/v1/auth/token",
        "/api/v1/users",
        "/api/v1/users/{user_id}/memberships",
        "/.well-known/jwks.json",
        "/healthz",
        "/readyz",
    ):
        assert p in paths, p
    # the upstreams', only those routed to them
    assert "/api/v1/datasets/echo/{rest}" in paths
    assert "/api/v1/uploads/sink" in paths and "/api/v1/downloads/bytes/{size}" in paths
    assert "/api/v1/stats/catalog/summary" in paths
    assert "/internal/not-routed" not in paths
    # quality is down: said so
    assert "quality" in doc["info"]["x-services-missing"]
    assert "quality" in doc["info"]["description"]
    # colliding component names are prefixed, and refs follow
    schemas = doc["components"]["schemas"]
    assert "access_token" in schemas["TokenResponse"]["properties"]
    assert "upstream_only_field" in schemas["Catalog_TokenResponse"]["properties"]
    ref = paths["/api/v1/datasets/model"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ]["$ref"]
    assert ref == "#/components/schemas/Catalog_TokenResponse"
    scheme = doc["components"]["securitySchemes"]["OAuth2Password"]
    assert scheme["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"
    ops = [
        op["operationId"]
        for item in paths.values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    ]
    assert len(ops) == len(set(ops))
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text


async def test_readyz_lists_what_is_not_ready(client):
    r = await client.get("/readyz")
    body = assert_problem(r, 503)
    assert body["failing"] == ["service:quality"]
    assert body["checks"]["database"] is True and body["checks"]["nats"] is True
    assert (await client.get("/healthz")).status_code == 200


async def test_signing_key_rotation(stack, client, admin_token):
    from gateway.keys import write_new_key

    old_kid = jwt.get_unverified_header(admin_token)["kid"]
    new_kid = write_new_key(stack.key_dir)

    async def jwks_kids():
        return {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}

    # a token signed by the new key is accepted at once (unknown kid -> rescan)
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(
        (stack.key_dir / f"{new_kid}.pem").read_bytes(), password=None
    )
    claims = jwt.decode(admin_token, options={"verify_signature": False})
    token = jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": new_kid})
    assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status_code == 200
    kids = await jwks_kids()
    assert {old_kid, new_kid} <= kids
    # new logins are signed with the newest key; old tokens stay valid
    fresh = await login(client, stack.admin_email, stack.admin_password)
    assert jwt.get_unverified_header(fresh)["kid"] == new_kid
    assert (await client.get("/api/v1/auth/me", headers=bearer(admin_token))).status_code == 200


async def test_double_leading_slash_from_a_harvest_source_url_is_routed(client):
    """A harvest source saved as "https://portal/" makes CKAN ask for "//api/3/action/...":
    the gateway routes it like the single-slash path and forwards one slash upstream."""
    url = httpx.URL(str(client.base_url)).copy_with(raw_path=b"//api/v1/datasets/echo/x")
    resp = await client.get(url)
    assert resp.status_code == 200
    assert resp.json()["raw_path"] == "/api/v1/datasets/echo/x"


async def test_a_stale_kept_alive_connection_is_retried_for_a_bodyless_get(stack):
    """A service may close an idle keep-alive connection just as the gateway reuses it (seen
    after an error response): a GET is sent once more on a fresh connection instead of 502."""
    from gateway.main import create_app

    from .conftest import ThreadServer

    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        first_connection, served = connections == 1, 0
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                if first_connection and served == 1:
                    return  # read the second request, then hang up without an answer
                body = b'{"ok": true}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()
                served += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = stack.settings.model_copy(update={"feedback_url": f"http://127.0.0.1:{port}"})
    gw = ThreadServer(create_app(settings)).start()
    try:
        async with httpx.AsyncClient(base_url=gw.url, timeout=10) as c:
            assert (await c.get("/api/v1/feedback/a")).status_code == 200
            second = await c.get("/api/v1/feedback/b")
            assert second.status_code == 200, second.text
        assert connections == 2
    finally:
        gw.stop()
        server.close()
