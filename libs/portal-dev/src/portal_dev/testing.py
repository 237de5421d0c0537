"""pytest plugin (loaded with ``-p portal_dev.testing`` from the root pyproject).

Session fixtures:
  ``servers``  real PostgreSQL, NATS JetStream and SeaweedFS S3, started once per session
               in a temp dir with the test profile (fsync off). A ``portal_dev.servers.Servers``:
               ``.postgres`` (``.port``, ``.dsn(db)``, ``.sqlalchemy_url(db)``, ``.psql(sql)``,
               ``.create_databases(names)``), ``.nats`` (``.url``, ``.port``, ``.monitor_url``),
               ``.s3`` (``.endpoint``, ``.url``, ``.access_key``, ``.secret_key``, ``.bucket``,
               ``.client()``), each with ``.stop()``, ``.start()``, ``.kill()``, ``.restart()``,
               ``.data_dir``, ``.log_path``; flat: ``pg_port``, ``nats_url``, ``s3_endpoint``,
               ``s3_access_key``, ``s3_secret_key``, ``s3_bucket``, ``database_url(db)``,
               ``create_databases(suffix)``.
  ``system``   every registered service and the gateway as subprocesses, migrated, on free
               ports, on fresh databases, through the same code path as ``make run`` (no seed).
               A ``portal_dev.services.System``: ``gateway_url``, ``service_urls`` (name -> URL),
               ``admin_email``, ``admin_password``, ``env`` (name -> PORTAL_* vars given),
               ``log_paths``, ``db_suffix``, ``databases()``, ``servers``,
               ``stop_service(name)``, ``start_service(name)``, ``kill_service(name)``,
               ``restart_service(name)``.
After each test, any server or service process that a test left stopped is started again.

Function fixtures: ``fresh_nats`` (a separate NATS server for one test), ``eventually``
and ``free_port`` (the helpers below).
"""

from __future__ import annotations

import asyncio
import inspect
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .proc import free_port as _free_port
from .servers import NatsServer, Servers

__all__ = ["eventually", "free_port"]

TEST_ADMIN_EMAIL = "admin@example.com"

_session: dict[str, Any] = {}


def free_port() -> int:
    """A TCP port free now on 127.0.0.1."""
    return _free_port()


async def eventually(
    fn: Callable[[], Any],
    timeout: float = 10.0,  # noqa: ASYNC109 - a deadline for retries, not one awaited call
    interval: float = 0.1,
) -> Any:
    """Call ``fn`` (sync or async) until it succeeds, then return its result.

    Succeeds when it returns without raising and its result is ``None`` (assertion
    style) or truthy (predicate style). A falsy result or an exception retries.
    On timeout: AssertionError, chained to the last exception."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    last_result: Any = None
    while True:
        try:
            result = fn()
            if inspect.isawaitable(result):
                result = await result
            if result is None or result:
                return result
            last_result, last_exc = result, None
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_exc = exc
        if time.monotonic() >= deadline:
            msg = f"not true after {timeout}s"
            if last_exc is not None:
                raise AssertionError(f"{msg}: {last_exc!r}") from last_exc
            raise AssertionError(f"{msg}: last result {last_result!r}")
        await asyncio.sleep(interval)


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    s = Servers(tmp_path_factory.mktemp("servers"), profile="test", persist_ports=False)
    s.start()
    _session["servers"] = s
    try:
        yield s
    finally:
        _session.pop("servers", None)
        s.stop()


@pytest.fixture(scope="session")
def system(servers: Servers, tmp_path_factory: pytest.TempPathFactory):
    from .run import start_system

    sysm = start_system(
        servers,
        tmp_path_factory.mktemp("system"),
        "test",
        TEST_ADMIN_EMAIL,
        secrets.token_urlsafe(16),
        db_suffix="_t" + secrets.token_hex(4),
        gateway_port=_free_port(),
        ports_from_env=False,
        inherit_portal_env=False,
    )
    _session["system"] = sysm
    try:
        yield sysm
    finally:
        _session.pop("system", None)
        sysm.stop()


@pytest.fixture(autouse=True)
def _portal_restore_processes() -> Iterator[None]:
    """Start again whatever a (fault) test left stopped, so later tests find it running."""
    yield
    s: Servers | None = _session.get("servers")
    if s is not None:
        for srv in s.all:
            if not srv.running():
                srv.start()
    sysm = _session.get("system")
    if sysm is not None:
        for name, sp in sysm.procs.items():
            if not sp.process.running():
                sysm.start_service(name)


@pytest.fixture
def fresh_nats(tmp_path) -> Iterator[NatsServer]:
    n = NatsServer(tmp_path / "fresh-nats")
    n.start()
    try:
        yield n
    finally:
        n.stop()


@pytest.fixture(name="eventually")
def eventually_fixture():
    return eventually


@pytest.fixture(name="free_port")
def free_port_fixture():
    return free_port
