# ruff: noqa: E402  (the import fix below must run before the other imports)
"""A gateway of our own (in-process uvicorn, own database on the real PostgreSQL and NATS of the
``servers`` fixture) in front of small real upstreams, so tests control timeouts and limits."""

from __future__ import annotations

import sys as _sys

# pytest's importlib mode names this file "gateway.tests.conftest" (from the folder names) and,
# when the real ``gateway`` package is not imported yet, makes a namespace module "gateway" of
# this project folder, which hides the package. Put the real one back, keeping this folder on
# its path so "gateway.tests.*" still resolves.
_placeholder = _sys.modules.get("gateway")
if _placeholder is not None and getattr(_placeholder, "__file__", None) is None:
    del _sys.modules["gateway"]
    import gateway as _real_gateway

    _real_gateway.__path__ = [*_real_gateway.__path__, *_placeholder.__path__]

import asyncio
import hashlib
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from gateway.main import MIGRATIONS_DIR, create_app
from gateway.settings import Settings
from gateway.testing import login
from portal_kit.migrations import upgrade
from pydantic import BaseModel


class TokenResponse(BaseModel):  # same name as a gateway schema, different shape
    upstream_only_field: int


class Probe:
    """Lets a test see what the upstream received while a request is still in flight."""

    def __init__(self) -> None:
        self.first_bytes = threading.Event()
        self.received = 0


def make_upstream(name: str) -> tuple[FastAPI, Probe]:
    app = FastAPI(title=f"fake {name}")
    probe = Probe()

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.api_route("/api/v1/datasets/echo/{rest:path}", methods=["GET", "POST", "PUT", "DELETE"])
    async def echo(rest: str, request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse(
            {
                "service": name,
                "method": request.method,
                "raw_path": request.scope["raw_path"].decode(),
                "query": request.scope["query_string"].decode(),
                "headers": dict(request.headers.items()),
                "header_list": [[k.decode(), v.decode()] for k, v in request.scope["headers"]],
                "body_len": len(body),
            },
            headers={"X-Upstream": name, "Connection": "close, x-hop", "X-Hop": "1"},
        )

    @app.get("/api/v1/datasets/cookies")
    async def cookies() -> JSONResponse:
        resp = JSONResponse({"ok": True})
        resp.set_cookie("a", "1")
        resp.set_cookie("b", "2")
        return resp

    @app.get("/api/v1/datasets/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(5)
        return {"slow": "done"}

    @app.post("/api/v1/uploads/sink", response_model=None)
    async def sink(request: Request) -> dict[str, Any]:
        digest = hashlib.sha256()
        probe.received = 0
        probe.first_bytes.clear()
        started = time.monotonic()
        async for chunk in request.stream():
            if chunk:
                digest.update(chunk)
                probe.received += len(chunk)
                probe.first_bytes.set()
        return {
            "size": probe.received,
            "sha256": digest.hexdigest(),
            "seconds": time.monotonic() - started,
            "transfer_encoding": request.headers.get("transfer-encoding"),
            "content_length": request.headers.get("content-length"),
        }

    @app.get("/api/v1/downloads/bytes/{size}")
    async def download(size: int) -> StreamingResponse:
        chunk = b"z" * 65536

        async def gen():  # type: ignore[no-untyped-def]
            left = size
            while left > 0:
                n = min(left, len(chunk))
                yield chunk[:n]
                left -= n

        return StreamingResponse(
            gen(), media_type="application/octet-stream", headers={"Content-Length": str(size)}
        )

    @app.get("/api/v1/stats/catalog/summary")
    async def stats() -> dict[str, int]:
        return {"datasets": 0}

    @app.get("/internal/not-routed")
    async def internal() -> dict[str, str]:
        return {"hidden": "yes"}

    @app.get("/api/v1/datasets/model", response_model=TokenResponse)
    async def model() -> TokenResponse:
        return TokenResponse(upstream_only_field=1)

    return app, probe


HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class ThreadServer:
    """A real uvicorn server on a free port, in a thread of this process."""

    def __init__(self, app: FastAPI, *, trusted: str = "127.0.0.1") -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        config = uvicorn.Config(
            app,
            host=HOST,
            port=self.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            proxy_headers=True,
            forwarded_allow_ips=trusted,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, timeout: float = 60) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@dataclass
class Stack:
    url: str
    settings: Settings
    admin_email: str
    admin_password: str
    key_dir: Path
    probe: Probe
    catalog_url: str
    closed_port: int


@pytest.fixture(scope="session")
def stack(servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:  # type: ignore[no-untyped-def]
    db = "portal_gateway_gw" + secrets.token_hex(4)
    servers.postgres.create_databases([db])
    db_url = servers.database_url(db)
    t = threading.Thread(target=upgrade, args=(MIGRATIONS_DIR, db_url))
    t.start()
    t.join()

    catalog_app, _ = make_upstream("catalog")
    catalog = ThreadServer(catalog_app).start()
    storage_app, probe = make_upstream("storage")  # uploads go to storage
    storage = ThreadServer(storage_app).start()
    closed_port = free_port()  # nothing listens here: the quality service is "down"
    key_dir = tmp_path_factory.mktemp("gw-keys")
    admin_email, admin_password = "Root.Admin@Example.com", secrets.token_urlsafe(16)
    settings = Settings(
        environment="test",
        database_url=db_url,
        nats_url=servers.nats_url,
        catalog_url=catalog.url,
        storage_url=storage.url,
        quality_url=f"http://{HOST}:{closed_port}",
        harvest_url=catalog.url,
        feedback_url=catalog.url,
        signing_key_dir=key_dir,
        upstream_read_timeout=1.5,
        log_json=False,
        cors_origins=["https://spa.example.org"],
        rate_limit_exempt=["127.0.0.1/32"],
        rate_limit_auth_per_minute=6,
        rate_limit_auth_burst=5,
        rate_limit_token_write_per_minute=6,
        rate_limit_token_write_burst=5,
        PORTAL_ADMIN_EMAIL=admin_email,
        PORTAL_ADMIN_PASSWORD=admin_password,
    )
    gw = ThreadServer(create_app(settings)).start()
    jwks_url = f"{gw.url}/.well-known/jwks.json"
    settings.jwks_url = jwks_url
    try:
        yield Stack(
            url=gw.url,
            settings=settings,
            admin_email=admin_email,
            admin_password=admin_password,
            key_dir=key_dir,
            probe=probe,
            catalog_url=catalog.url,
            closed_port=closed_port,
        )
    finally:
        gw.stop()
        catalog.stop()
        storage.stop()


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as c:
        yield c


@pytest.fixture
async def admin_token(stack: Stack, client: httpx.AsyncClient) -> str:
    return await login(client, stack.admin_email, stack.admin_password)
