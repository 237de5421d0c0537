"""Slow clients (slow-loris) and the gateway's response headers (issue 10 hardening).

A second gateway process on the suite's system, with the same settings as the system's gateway
but small slow-client bounds (``PORTAL_GATEWAY_BODY_IDLE_TIMEOUT``/``HEADER_TIMEOUT``), so the
test waits seconds instead of the production defaults (30 s / 20 s). Clients are raw sockets:
they send exactly what a slow-loris attacker sends and then stall.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from portal_dev.proc import ManagedProcess, free_port

from .conftest import World

IDLE_S = 2
HEADER_S = 3
# generous: how long a socket read may block before the test calls the server unbounded
BOUND_S = 60
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def slow_gateway(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    if os.environ.get("HARDENING_GATEWAY"):
        pytest.skip("needs the suite's own system (a second gateway with small bounds)")
    system = request.getfixturevalue("system")
    request.getfixturevalue("world")  # the world's data lives behind both gateways
    port = free_port()
    env = dict(system.procs["gateway"].process.env or {})
    env.update(
        PORTAL_GATEWAY_PORT=str(port),
        PORTAL_GATEWAY_BODY_IDLE_TIMEOUT=str(IDLE_S),
        PORTAL_GATEWAY_HEADER_TIMEOUT=str(HEADER_S),
    )
    log = Path(tmp_path_factory.mktemp("slow-gateway")) / "gateway.log"
    proc = ManagedProcess("slow-gateway", [sys.executable, "-m", "gateway", "api"], log, env=env)
    proc.start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url, port
    finally:
        proc.stop()


def _wait_healthy(url: str, proc: ManagedProcess) -> None:
    for _ in range(240):
        error = proc.exit_error()
        assert error is None, error
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"slow gateway did not start; log {proc.log_path}")


def _read_response(
    sock: socket.socket, then_closed: bool = True
) -> tuple[int, dict[str, str], bytes, bool]:
    """Status, headers, body of one response, and (then_closed) whether the server closed."""
    sock.settimeout(BOUND_S)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed without a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    closed = False
    if not then_closed:
        return status, headers, body, closed
    try:
        closed = sock.recv(1) == b""
    except (ConnectionResetError, TimeoutError):
        closed = True
    return status, headers, body, closed


@pytest.fixture
def stalled() -> Iterator[list[socket.socket]]:
    socks: list[socket.socket] = []
    yield socks
    for s in socks:
        s.close()


def _names_in(world: World, url: str, org_id: str) -> set[str]:
    r = httpx.get(
        f"{url}/api/v1/files",
        params={"organization_id": org_id, "limit": 100},
        headers=world.editor_b["headers"],
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return {f["name"] for f in r.json()["items"]}


@pytest.mark.parametrize("sent_mib", [0, 6], ids=["small", "multipart-started"])
def test_stalled_upload_body_gets_408_and_leaves_nothing(
    world: World, slow_gateway, stalled, system, sent_mib: int
) -> None:
    """Headers and part of the body, then silence: 408 problem+json and the connection closed
    after the idle bound; meanwhile the gateway serves others; afterwards no file record and
    (for 6 MiB sent, past storage's 5 MiB part: a multipart upload had begun) no S3 upload."""
    url, port = slow_gateway
    org = world.org_b["id"]
    name = f"slow-{secrets.token_hex(4)}.csv"
    token = world.editor_b["headers"]["Authorization"]
    head = (
        f"POST /api/v1/files?organization_id={org} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Authorization: {token}\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"X-File-Name: {name}\r\n"
        f"Content-Length: {(sent_mib + 10) * MiB}\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=BOUND_S)
    stalled.append(sock)
    sock.sendall(head + b"district;value\n" + b"1;2\n" * (sent_mib * MiB // 4))

    # the server keeps serving others while this client stalls
    for _ in range(3):
        assert httpx.get(f"{url}/healthz", timeout=30).status_code == 200
        assert name not in _names_in(world, url, org)

    status, headers, body, closed = _read_response(sock)
    assert status == 408, body
    assert headers["content-type"].startswith("application/problem+json")
    problem = json.loads(body)
    assert problem["status"] == 408 and problem["type"].endswith("/request-timeout")
    assert closed, "the connection must be closed after a 408"

    # nothing half-written: no file record (via the API), no S3 upload left open
    assert name not in _names_in(world, url, org)
    assert name not in _names_in(world, world.url, org)
    client = system.servers.s3.client()
    uploads = client._list_multipart_uploads(system.servers.s3.bucket, prefix=f"files/{org}/")
    assert [u.object_name for u in uploads.uploads if name in u.object_name] == []
    keys = client.list_objects(system.servers.s3.bucket, f"files/{org}/", recursive=True)
    assert [o.object_name for o in keys if name in o.object_name] == []


def test_stalled_headers_get_408_and_close(slow_gateway, stalled) -> None:
    url, port = slow_gateway
    sock = socket.create_connection(("127.0.0.1", port), timeout=BOUND_S)
    stalled.append(sock)
    sock.sendall(b"GET /api/v1/datasets HTTP/1.1\r\nHost: x\r\nX-Slow: 1")
    assert httpx.get(f"{url}/healthz", timeout=30).status_code == 200
    status, headers, body, closed = _read_response(sock)
    assert status == 408, body
    assert headers["content-type"].startswith("application/problem+json")
    assert closed
    # a kept-alive connection that goes quiet mid-headers of its second request: same bound
    sock2 = socket.create_connection(("127.0.0.1", port), timeout=BOUND_S)
    stalled.append(sock2)
    sock2.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, _, _ = _read_response(sock2, then_closed=False)
    assert status == 200
    sock2.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    status, _, _, closed = _read_response(sock2)
    assert status == 408 and closed


@pytest.mark.parametrize(
    "path", ["/healthz", "/api/v1/datasets", "/api/v1/nothing-routes-here", "/api/v1/auth/me"]
)
def test_one_date_and_one_server_header_without_version(world: World, path: str) -> None:
    r = httpx.get(f"{world.url}{path}", headers=world.admin, timeout=30)
    assert r.status_code < 500
    assert len(r.headers.get_list("date")) == 1, r.headers
    servers = r.headers.get_list("server")
    assert len(servers) <= 1, r.headers
    assert not any(ch.isdigit() for ch in "".join(servers)), servers
