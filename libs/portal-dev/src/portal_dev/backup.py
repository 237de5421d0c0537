"""Back up and restore the whole portal: every database, the object store, the event streams.

    python -m portal_dev backup  <dir>     # of the `make run` stack (PORTAL_DATA_DIR, ./var)
    python -m portal_dev restore <dir>     # into a stack whose services are stopped

Layout of <dir>:
  manifest.json               when, what, counts, sha256 of every dump
  postgres/<db>.dump          pg_dump -Fc of each portal_* database (embedded PostgreSQL's binaries)
  s3/<bucket>/objects/<key>   every object, byte for byte
  s3/<bucket>/index.json      key -> size, sha256, content type, user metadata
  nats/<stream>.jsonl         every message still in each JetStream stream (subject, headers,
                              base64 data), replayed on restore with the same Nats-Msg-Id

Consistency: databases are dumped one after another, each in one snapshot transaction
(pg_dump). The events of the streams are replayed on restore; the services' consumers
are idempotent (inbox), so an event both in a dump's inbox and in the stream is applied
once; outbox rows not yet relayed at dump time are relayed after the restore. Take the
backup with writes stopped (or accept that writes during the backup may be in the object
store but not the catalog: they show as unattached files, never as broken datasets).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .servers import HOST, PG_SUPERUSER, S3_BUCKET, _pg_bin


@dataclass
class Endpoints:
    pg_port: int
    nats_url: str
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    s3_bucket: str = S3_BUCKET

    @classmethod
    def from_servers(cls, servers: Any) -> Endpoints:
        return cls(
            servers.pg_port,
            servers.nats_url,
            servers.s3_endpoint,
            servers.s3_access_key,
            servers.s3_secret_key,
            servers.s3_bucket,
        )

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> Endpoints:
        """The addresses of a running ``make run`` stack (ports.json, S3 credentials)."""
        ports = json.loads((data_dir / "ports.json").read_text())
        creds = json.loads((data_dir / "s3" / "s3-credentials.json").read_text())
        return cls(
            int(ports["postgres"]),
            f"nats://{HOST}:{ports['nats']}",
            f"{HOST}:{ports['s3_s3']}",
            creds["access_key"],
            creds["secret_key"],
        )

    def minio(self):  # type: ignore[no-untyped-def]
        from minio import Minio

        return Minio(
            self.s3_endpoint,
            access_key=self.s3_access_key,
            secret_key=self.s3_secret_key,
            secure=False,
        )


def _pg(tool: str, ep: Endpoints, *args: str, timeout: float = 600) -> str:
    res = subprocess.run(
        [str(_pg_bin() / tool), "-h", HOST, "-p", str(ep.pg_port), "-U", PG_SUPERUSER, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PGCONNECT_TIMEOUT": "5"},
    )
    if res.returncode != 0:
        raise RuntimeError(f"{tool} {' '.join(args)} failed: {res.stderr.strip()[-2000:]}")
    return res.stdout


def portal_databases(ep: Endpoints) -> list[str]:
    out = _pg(
        "psql",
        ep,
        "-X",
        "-tA",
        "-d",
        "postgres",
        "-c",
        "SELECT datname FROM pg_database WHERE datname LIKE 'portal\\_%' ORDER BY 1",
    )
    return [line.strip() for line in out.splitlines() if line.strip()]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# -- NATS streams
async def _dump_streams(nats_url: str, out_dir: Path) -> dict[str, int]:
    import nats

    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=1)
    counts: dict[str, int] = {}
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            name = info.config.name
            path = out_dir / f"{name}.jsonl"
            n = 0
            with path.open("w", encoding="utf-8") as f:
                first, last = info.state.first_seq, info.state.last_seq
                for seq in range(first, last + 1) if info.state.messages else ():
                    try:
                        msg = await js.get_msg(name, seq)
                    except nats.js.errors.NotFoundError:
                        continue  # deleted or purged
                    f.write(
                        json.dumps(
                            {
                                "seq": seq,
                                "subject": msg.subject,
                                "headers": dict(msg.headers or {}),
                                "data": base64.b64encode(msg.data or b"").decode(),
                            },
                            ensure_ascii=False,
                        )
                        + "\n"
                    )
                    n += 1
            (out_dir / f"{name}.config.json").write_text(
                json.dumps({"subjects": list(info.config.subjects or [])})
            )
            counts[name] = n
    finally:
        await nc.close()
    return counts


async def _replay_streams(nats_url: str, in_dir: Path) -> dict[str, int]:
    import nats
    from nats.js.api import StreamConfig

    nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=1)
    counts: dict[str, int] = {}
    try:
        js = nc.jetstream()
        for path in sorted(in_dir.glob("*.jsonl")):  # noqa: ASYNC240 - a local dir listing
            name = path.stem
            cfg = json.loads((in_dir / f"{name}.config.json").read_text())
            try:
                await js.stream_info(name)
            except nats.js.errors.NotFoundError:
                await js.add_stream(StreamConfig(name=name, subjects=cfg["subjects"]))
            n = 0
            with path.open(encoding="utf-8") as f:
                for line in f:
                    m = json.loads(line)
                    await js.publish(
                        m["subject"], base64.b64decode(m["data"]), headers=m["headers"] or None
                    )
                    n += 1
            counts[name] = n
    finally:
        await nc.close()
    return counts


# -- the two operations
def backup(target: Path | str, ep: Endpoints, *, streams: bool = True) -> dict[str, Any]:
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    manifest: dict[str, Any] = {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "databases": {},
        "s3": {},
        "streams": {},
    }
    pg_dir = target / "postgres"
    pg_dir.mkdir(exist_ok=True)
    for db in portal_databases(ep):
        out = pg_dir / f"{db}.dump"
        _pg("pg_dump", ep, "-Fc", "--no-owner", "--no-acl", "-d", db, "-f", str(out))
        manifest["databases"][db] = {"bytes": out.stat().st_size, "sha256": _sha256(out)}
    client = ep.minio()
    bucket_dir = target / "s3" / ep.s3_bucket
    objects_dir = bucket_dir / "objects"
    objects_dir.mkdir(parents=True, exist_ok=True)
    index: dict[str, Any] = {}
    for obj in client.list_objects(ep.s3_bucket, recursive=True):
        key = obj.object_name
        dest = objects_dir / key
        if ".." in Path(key).parts:
            raise RuntimeError(f"refusing object key {key!r}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        client.fget_object(ep.s3_bucket, key, str(dest))
        stat = client.stat_object(ep.s3_bucket, key)
        index[key] = {
            "size": dest.stat().st_size,
            "sha256": _sha256(dest),
            "content_type": stat.content_type,
            "metadata": {
                k[len("x-amz-meta-") :]: v
                for k, v in (stat.metadata or {}).items()
                if k.lower().startswith("x-amz-meta-")
            },
        }
    (bucket_dir / "index.json").write_text(json.dumps(index, ensure_ascii=False, indent=1))
    manifest["s3"] = {"bucket": ep.s3_bucket, "objects": len(index)}
    if streams:
        nats_dir = target / "nats"
        nats_dir.mkdir(exist_ok=True)
        manifest["streams"] = asyncio.run(_dump_streams(ep.nats_url, nats_dir))
    manifest["seconds"] = round(time.monotonic() - t0, 2)
    (target / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def restore(source: Path | str, ep: Endpoints, *, streams: bool = True) -> dict[str, Any]:
    """Into an empty (or to-be-overwritten) stack whose services are stopped."""
    source = Path(source)
    manifest = json.loads((source / "manifest.json").read_text())
    for db, meta in manifest["databases"].items():
        dump = source / "postgres" / f"{db}.dump"
        if _sha256(dump) != meta["sha256"]:
            raise RuntimeError(f"{dump} is damaged (sha256 differs from the manifest)")
        for sql in (
            f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)',
            f"CREATE DATABASE \"{db}\" ENCODING 'UTF8' TEMPLATE template0",
        ):
            _pg("psql", ep, "-X", "-q", "-d", "postgres", "-c", sql)
        _pg("pg_restore", ep, "--no-owner", "--no-acl", "--exit-on-error", "-d", db, str(dump))
    client = ep.minio()
    bucket = manifest["s3"]["bucket"]
    if not client.bucket_exists(ep.s3_bucket):
        client.make_bucket(ep.s3_bucket)
    bucket_dir = source / "s3" / bucket
    index = json.loads((bucket_dir / "index.json").read_text())
    for key, meta in index.items():
        src = bucket_dir / "objects" / key
        if _sha256(src) != meta["sha256"]:
            raise RuntimeError(f"object {key} is damaged in the backup")
        client.fput_object(
            ep.s3_bucket,
            key,
            str(src),
            content_type=meta.get("content_type") or "application/octet-stream",
            metadata=meta.get("metadata") or None,
        )
    replayed: dict[str, int] = {}
    if streams and (source / "nats").is_dir():
        replayed = asyncio.run(_replay_streams(ep.nats_url, source / "nats"))
    return {"databases": list(manifest["databases"]), "objects": len(index), "streams": replayed}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("backup", "restore"):
        print("usage: python -m portal_dev backup|restore <dir>", file=sys.stderr)
        return 2
    data_dir = Path(os.environ.get("PORTAL_DATA_DIR") or "./var").resolve()
    ep = Endpoints.from_data_dir(data_dir)
    if argv[0] == "backup":
        m = backup(argv[1], ep)
        print(
            f"backed up {len(m['databases'])} databases, {m['s3']['objects']} objects, "
            f"streams {m['streams']} into {argv[1]} in {m['seconds']} s"
        )
    else:
        r = restore(argv[1], ep)
        print(
            f"restored {len(r['databases'])} databases, {r['objects']} objects, "
            f"replayed streams {r['streams']}; now start the services (make run)"
        )
    return 0
