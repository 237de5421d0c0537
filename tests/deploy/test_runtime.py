"""The images' entry point outside a container: graceful SIGTERM, and /metrics on every process."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import nats
from portal_dev.testing import eventually, free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def image_command(service: str) -> list[str]:
    """The argv PID 1 of the image runs: ENTRYPOINT + CMD of the Dockerfile, $SERVICE expanded.

    The entry point is ``sh -c 'exec python -m "$SERVICE" "$@"' -- serve``; ``exec`` replaces
    the shell, so the process is exactly ``python -m <service> serve``."""
    text = DOCKERFILE.read_text()
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M).group(1))
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))
    assert entrypoint[:2] == ["/bin/sh", "-c"] and entrypoint[3] == "--"
    script = entrypoint[2]
    assert script.startswith("exec ")
    words = shlex.split(script[len("exec ") :])
    argv = []
    for word in words:
        if word == "$@":
            argv += cmd
        else:
            argv.append(word.replace("$SERVICE", service))
    assert argv[:2] == ["python", "-m"]
    return [sys.executable, *argv[1:]]


def test_image_command_is_python_m_service_serve():
    assert image_command("catalog")[1:] == ["-m", "catalog", "serve"]


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        body = line[len(name) + 1 : line.rindex("}")]
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', body))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_metrics_on_every_process_show_request_and_event_counters_moving(system):
    from gateway.testing import create_user, login

    urls = system.service_urls
    assert set(urls) >= {"gateway", "catalog", "storage", "quality", "harvest", "feedback"}
    async with httpx.AsyncClient(timeout=15) as client:
        before = {n: (await client.get(f"{u}/metrics")).text for n, u in urls.items()}
        for url in urls.values():
            for _ in range(3):
                assert (await client.get(f"{url}/readyz")).status_code == 200
            assert (
                await client.get(f"{url}/no-such-route-{secrets.token_hex(2)}")
            ).status_code == 404
        after = {}
        for name, url in urls.items():
            r = await client.get(f"{url}/metrics")
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
            after[name] = r.text
            for metric in ("portal_http_requests_total", "portal_http_request_duration_seconds"):
                assert f"# TYPE {metric}" in r.text, (name, metric)
            moved = _metric(
                r.text, "portal_http_requests_total", route="/readyz", status="200"
            ) - _metric(before[name], "portal_http_requests_total", route="/readyz", status="200")
            assert moved >= 3, name
            if name != "gateway":  # the gateway proxies unknown paths (its catch-all route)
                assert _metric(r.text, "portal_http_requests_total", status="404") >= 1
            assert (
                _metric(r.text, "portal_http_request_duration_seconds_count", route="/readyz") >= 3
            )

        # events published: the gateway records identity.user.created in its outbox
        gw = system.gateway_url
        async with httpx.AsyncClient(base_url=gw, timeout=30) as api:
            admin = await login(api, system.admin_email, system.admin_password)
            published0 = _metric(
                after["gateway"], "portal_events_published_total", type="identity.user.created"
            )
            await create_user(api, admin, full_name="Олена Коваль-Дем'яненко")

        async def published_moved():
            text = (await client.get(f"{urls['gateway']}/metrics")).text
            assert (
                _metric(text, "portal_events_published_total", type="identity.user.created")
                >= published0 + 1
            )
            assert "portal_outbox_backlog" in text

        await eventually(published_moved, timeout=15)

        # events consumed: a storage.file.deleted event (as storage's relay publishes it) is
        # handled by catalog's durable consumer catalog__files
        consumed0 = _metric(
            after["catalog"],
            "portal_events_consumed_total",
            consumer="catalog__files",
            type="storage.file.deleted",
        )
        event = {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "/storage",
            "type": "storage.file.deleted",
            "subject": str(uuid.uuid4()),
            "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "data": {
                "id": str(uuid.uuid4()),
                "organization_id": str(uuid.uuid4()),
                "bucket": "portal",
                "key": "datasets/звіт.csv",
            },
        }
        nc = await nats.connect(system.servers.nats_url)
        try:
            js = nc.jetstream()
            await eventually(lambda: js.stream_info("STORAGE"), timeout=15)
            await js.publish(
                "storage.file.deleted",
                json.dumps(event).encode(),
                headers={"Nats-Msg-Id": event["id"]},
            )
        finally:
            await nc.close()

        async def consumed_moved():
            text = (await client.get(f"{urls['catalog']}/metrics")).text
            assert (
                _metric(
                    text,
                    "portal_events_consumed_total",
                    consumer="catalog__files",
                    type="storage.file.deleted",
                )
                >= consumed0 + 1
            )

        await eventually(consumed_moved, timeout=20)


async def test_sigterm_finishes_in_flight_requests_and_loses_no_event(system, tmp_path):
    """The gateway image's command on its own database: SIGTERM while a slow request is being
    sent and a burst of writes is in flight; every accepted write's event reaches JetStream."""
    servers = system.servers
    database = "portal_gateway_sig" + secrets.token_hex(3)
    servers.postgres.create_databases([database])
    port = free_port()
    admin_password = secrets.token_urlsafe(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "OTEL_"))}
    env.update(system.env["gateway"])
    env.update(
        {
            "PORTAL_GATEWAY_PORT": str(port),
            "PORTAL_GATEWAY_DATABASE_URL": servers.database_url(database),
            "PORTAL_GATEWAY_SIGNING_KEY_DIR": str(tmp_path / "keys"),
            "PORTAL_ADMIN_EMAIL": "sigterm-admin@example.com",
            "PORTAL_ADMIN_PASSWORD": admin_password,
            "PYTHONUNBUFFERED": "1",
        }
    )
    argv = image_command("gateway")
    migrate = await asyncio.to_thread(
        subprocess.run, [*argv[:-1], "migrate"], env=env, capture_output=True, timeout=120
    )
    assert migrate.returncode == 0, migrate.stderr.decode()[-2000:]
    log = (tmp_path / "gateway.log").open("wb")
    proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once
        argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:

            async def ready():
                assert proc.poll() is None, (tmp_path / "gateway.log").read_text()[-3000:]
                assert (await client.get("/readyz")).status_code == 200

            await eventually(ready, timeout=90, interval=0.3)
            from gateway.testing import bearer, login

            admin = bearer(await login(client, "sigterm-admin@example.com", admin_password))

            def user_body(i: int) -> dict:
                return {
                    "email": f"sig-{secrets.token_hex(4)}-{i}@example.com",
                    "password": secrets.token_urlsafe(16),
                    "full_name": f"Тарас Григорович Шевченко-{i} (обʼєкт’с)",
                    "roles": [],
                }

            first_chunk_sent, sigterm_sent = asyncio.Event(), asyncio.Event()

            async def slow_body():
                body = json.dumps(user_body(999)).encode()
                yield body[:10]
                first_chunk_sent.set()
                await sigterm_sent.wait()  # the request is in flight when SIGTERM arrives
                await asyncio.sleep(1.0)
                yield body[10:]

            async def post(i: int):
                try:
                    return await client.post("/api/v1/users", json=user_body(i), headers=admin)
                except httpx.HTTPError as exc:
                    # sent on a keep-alive connection the server closed before reading it,
                    # or after the listener closed: the app never saw it
                    return exc

            # its own connection, so the server has parsed its headers before the burst
            async with httpx.AsyncClient(base_url=base, timeout=60) as slow_client:
                slow = asyncio.create_task(
                    slow_client.post(
                        "/api/v1/users",
                        content=slow_body(),
                        headers={**admin, "content-type": "application/json"},
                    )
                )
                await first_chunk_sent.wait()
                await asyncio.sleep(0.5)
                # a burst of writes, then another one still in flight when SIGTERM arrives
                results = list(await asyncio.gather(*(post(i) for i in range(10))))
                in_flight = [asyncio.create_task(post(100 + i)) for i in range(10)]
                await asyncio.sleep(0)
                proc.send_signal(signal.SIGTERM)
                sigterm_sent.set()
                slow_resp = await slow
                assert slow_resp.status_code == 201, slow_resp.text
                results += await asyncio.gather(*in_flight)
            assert all(isinstance(r, httpx.Response) and r.status_code == 201 for r in results[:10])
        created = [slow_resp.json()["id"]] + [
            r.json()["id"]
            for r in results
            if isinstance(r, httpx.Response) and r.status_code == 201
        ]
        assert len(created) >= 2
        for r in results:  # nothing half-done: accepted (201) or never reached the app
            assert isinstance(r, httpx.HTTPError) or r.status_code == 201, r

        rc = await asyncio.to_thread(proc.wait, 60)
        out = (tmp_path / "gateway.log").read_text()
        # uvicorn re-raises the captured SIGTERM after its graceful shutdown (exit 143 in a
        # container); what matters is that the lifespan shutdown (worker stop, relay flush) ran
        assert rc in (0, -signal.SIGTERM), out[-3000:]
        assert "Application shutdown complete" in out, out[-3000:]

        # the relay flushed before exit: nothing left in the outbox of this process's database
        conn = await asyncpg.connect(servers.postgres.dsn(database))
        try:
            pending = await conn.fetchval(
                "SELECT count(*) FROM outbox_message WHERE published_at IS NULL"
            )
            total = await conn.fetchval(
                "SELECT count(*) FROM outbox_message WHERE type = 'identity.user.created'"
            )
        finally:
            await conn.close()
        assert pending == 0
        assert total >= len(created)

        # and every accepted write's event is in the stream (counted with a NATS consumer)
        nc = await nats.connect(servers.nats_url)
        try:
            js = nc.jetstream()
            sub = await js.pull_subscribe("identity.user.created", stream="IDENTITY")
            subjects: set[str] = set()
            while True:
                try:
                    msgs = await sub.fetch(200, timeout=2)
                except (TimeoutError, nats.errors.TimeoutError):
                    break
                for m in msgs:
                    subjects.add(json.loads(m.data)["subject"])
                    await m.ack()
            await sub.unsubscribe()
        finally:
            await nc.close()
        missing = set(created) - subjects
        assert not missing, f"{len(missing)} of {len(created)} events lost"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
