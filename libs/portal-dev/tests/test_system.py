"""The ``system`` fixture: every registered process, migrated and ready, controllable."""

from __future__ import annotations

import httpx
import pytest
from portal_dev.services import System, SystemNotReady, registry


def test_every_registered_process_is_up(system: System):
    assert set(system.procs) == {s.name for s in registry()}
    for name, url in system.service_urls.items():
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200, name
        assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200, name


def test_each_process_got_its_settings(system: System):
    servers = system.servers
    for name, env in system.env.items():
        spec = system.procs[name].spec
        p = spec.prefix
        assert env[f"{p}DATABASE_URL"] == servers.database_url(spec.database + system.db_suffix)
        assert env[f"{p}NATS_URL"] == servers.nats_url
        assert env[f"{p}S3_ENDPOINT"] == servers.s3_endpoint
        assert env[f"{p}S3_SECRET_KEY"] == servers.s3_secret_key
        assert env[f"{p}ENVIRONMENT"] == "test"
        assert env[f"{p}JWKS_URL"] == f"{system.gateway_url}/.well-known/jwks.json"
        assert system.log_paths[name].exists()
    assert set(system.databases()) <= servers.postgres.databases()


def test_a_stopped_service_starts_again(system: System):
    name = next(n for n in system.procs if n != "gateway")
    url = system.service_urls[name]
    system.stop_service(name)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/healthz", timeout=2)
    assert system.dead() == {}  # stopped on purpose: not reported as dead
    system.start_service(name)
    assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200


def test_a_killed_service_is_reported_and_restored_after_the_test(system: System):
    name = next(n for n in system.procs if n != "gateway")
    proc = system.procs[name].process
    proc.kill()  # a crash, not a planned stop
    assert name in system.dead()
    with pytest.raises(SystemNotReady):
        system.wait_ready(timeout=1, names=[name])
    # the plugin starts it again after this test


def test_the_killed_service_was_restored(system: System):
    assert system.dead() == {}
    for url in system.service_urls.values():
        assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200
