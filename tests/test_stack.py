"""The embedded stack's real servers: PostgreSQL, NATS JetStream, SeaweedFS S3."""

from __future__ import annotations

import asyncio
import io
import json
import secrets

import asyncpg
import nats
import pytest
from minio import Minio
from minio.error import S3Error
from portal_dev.servers import SERVICE_DATABASES, Servers


async def test_postgres_accepts_connections_and_has_the_databases(servers: Servers):
    suffix = "_s" + secrets.token_hex(3)
    names = servers.create_databases(suffix)
    servers.create_databases(suffix)  # idempotent
    assert names == [f"{n}{suffix}" for n in SERVICE_DATABASES]

    conn = await asyncpg.connect(servers.postgres.dsn("postgres"))
    try:
        rows = await conn.fetch("SELECT datname FROM pg_database")
        assert set(names) <= {r["datname"] for r in rows}
        assert await conn.fetchval("SHOW server_encoding") == "UTF8"
        assert await conn.fetchval("SHOW max_connections") == "300"
        assert await conn.fetchval("SHOW listen_addresses") == "127.0.0.1"
    finally:
        await conn.close()

    conn = await asyncpg.connect(servers.postgres.dsn(names[1]))
    try:
        await conn.execute("CREATE TABLE t (title text)")
        await conn.execute("INSERT INTO t VALUES ($1)", "Реєстр наборів даних")
        assert await conn.fetchval("SELECT upper(title) FROM t") == "РЕЄСТР НАБОРІВ ДАНИХ"
    finally:
        await conn.close()


async def test_sqlalchemy_style_url_points_at_the_server(servers: Servers):
    url = servers.database_url("portal_catalog")
    assert url == f"postgresql+asyncpg://postgres@127.0.0.1:{servers.pg_port}/portal_catalog"


async def test_nats_jetstream_publish_consume_round_trip(servers: Servers):
    nc = await nats.connect(servers.nats_url)
    try:
        js = nc.jetstream()
        stream = "STACK" + secrets.token_hex(3).upper()
        subject = f"{stream.lower()}.thing.happened"
        await js.add_stream(name=stream, subjects=[f"{stream.lower()}.>"])
        event = {"id": secrets.token_hex(8), "type": subject, "data": {"назва": "тест"}}
        ack = await js.publish(
            subject, json.dumps(event).encode(), headers={"Nats-Msg-Id": event["id"]}
        )
        dup = await js.publish(
            subject, json.dumps(event).encode(), headers={"Nats-Msg-Id": event["id"]}
        )
        assert dup.duplicate and dup.seq == ack.seq

        sub = await js.pull_subscribe(subject, durable="stack-test")
        msgs = await sub.fetch(1, timeout=5)
        assert json.loads(msgs[0].data) == event
        await msgs[0].ack()
    finally:
        await nc.close()


def test_s3_put_get_with_a_cyrillic_object_name(servers: Servers):
    client = servers.s3.client()
    assert client.bucket_exists(servers.s3_bucket)
    key = f"datasets/{secrets.token_hex(4)}/Бюджет міста 2024 (ґ, є, ї).csv"
    body = "рік,сума\n2024,100\n".encode()
    client.put_object(servers.s3_bucket, key, io.BytesIO(body), len(body), content_type="text/csv")
    got = client.get_object(servers.s3_bucket, key)
    try:
        assert got.read() == body
    finally:
        got.close()
        got.release_conn()
    names = [o.object_name for o in client.list_objects(servers.s3_bucket, recursive=True)]
    assert key in names


def test_s3_requires_the_secret_key(servers: Servers):
    bad = Minio(
        servers.s3_endpoint, access_key=servers.s3_access_key, secret_key="wrong", secure=False
    )
    with pytest.raises(S3Error):
        bad.bucket_exists(servers.s3_bucket)


async def test_postgres_keeps_data_across_restart(servers: Servers):
    db = servers.create_databases("_r" + secrets.token_hex(3))[0]
    conn = await asyncpg.connect(servers.postgres.dsn(db))
    await conn.execute("CREATE TABLE kept (v text)")
    await conn.execute("INSERT INTO kept VALUES ('збережено')")
    await conn.close()

    port = servers.postgres.port
    servers.postgres.stop()
    with pytest.raises((OSError, asyncpg.PostgresError)):
        await asyncpg.connect(servers.postgres.dsn(db), timeout=2)
    servers.postgres.start()
    assert servers.postgres.port == port

    conn = await asyncpg.connect(servers.postgres.dsn(db))
    try:
        assert await conn.fetchval("SELECT v FROM kept") == "збережено"
    finally:
        await conn.close()


async def test_nats_keeps_stream_across_restart(servers: Servers):
    stream = "KEEP" + secrets.token_hex(3).upper()
    subject = f"{stream.lower()}.x"
    nc = await nats.connect(servers.nats_url)
    js = nc.jetstream()
    await js.add_stream(name=stream, subjects=[subject])
    await js.publish(subject, b"before restart")
    await nc.close()

    servers.nats.stop()
    servers.nats.start()

    nc = await nats.connect(servers.nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        assert info.state.messages == 1
        sub = await js.pull_subscribe(subject, durable="keep")
        msgs = await sub.fetch(1, timeout=5)
        assert msgs[0].data == b"before restart"
    finally:
        await nc.close()


def test_s3_keeps_objects_across_restart(servers: Servers):
    client = servers.s3.client()
    key = f"restart/{secrets.token_hex(4)}/файл.txt"
    client.put_object(servers.s3_bucket, key, io.BytesIO(b"kept"), 4)

    servers.s3.stop()
    servers.s3.start()

    got = servers.s3.client().get_object(servers.s3_bucket, key)
    try:
        assert got.read() == b"kept"
    finally:
        got.close()
        got.release_conn()


async def test_fresh_nats_is_separate_from_the_shared_one(servers: Servers, fresh_nats):
    assert fresh_nats.url != servers.nats_url
    fresh_nats.stop()
    nc = await nats.connect(servers.nats_url)  # the shared one is untouched
    try:
        assert nc.is_connected
    finally:
        await nc.close()
    fresh_nats.start()
    nc = await nats.connect(fresh_nats.url)
    await nc.close()


async def test_eventually_retries_until_true(eventually):
    box = {"n": 0}

    async def grows():
        box["n"] += 1
        return box["n"] >= 3

    assert await eventually(grows, timeout=5, interval=0.01)
    with pytest.raises(AssertionError):
        await eventually(lambda: False, timeout=0.2, interval=0.05)
    await asyncio.sleep(0)


def test_servers_restart_after_a_kill(tmp_path):
    """A server killed with SIGKILL (crash) starts again on its data."""
    s = Servers(tmp_path / "stack", profile="test", persist_ports=False)
    s.postgres.start()
    try:
        s.postgres.create_databases(["crashy"])
        s.postgres.kill()
        assert not s.postgres.running()
        s.postgres.start()
        assert "crashy" in s.postgres.databases()
    finally:
        s.stop()
