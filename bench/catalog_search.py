"""Catalog search under load: 10,000 realistic datasets, search latency p50/p99 and throughput
through the gateway, beside the gateway's bare /healthz under the same load.

    uv run python -m bench.catalog_search [--datasets 10000] [--requests 600] [--concurrency 16]

The repeated queries are answered from the catalog's search cache after their first run; the
"all distinct" row asks a different question (word x page) every time, so it measures the SQL.

Starts its own servers and system (as ``make run`` does), loads the datasets by direct insert
into the catalog's database (lexemes built by the catalog's own code), then runs bounded loads
against 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from catalog import text
from catalog.register import mandatory_rows
from portal_dev.proc import free_port
from portal_dev.run import start_system
from portal_dev.servers import Servers

WORDS = [
    "бюджет",
    "міста",
    "зупинки",
    "транспорту",
    "освіти",
    "закладів",
    "дитячі",
    "майданчики",
    "земельні",
    "ділянки",
    "оренда",
    "комунального",
    "майна",
    "реєстр",
    "дозволів",
    "тарифи",
    "вивезення",
    "відходів",
    "енергоспоживання",
    "укриття",
    "громадський",
    "петиції",
    "об’єкти",
]
ORGS = [
    "Департамент фінансів",
    "Департамент транспорту",
    "Департамент освіти",
    "КП «Водоканал»",
    "КП «Зеленбуд»",
    "Департамент екології",
    "ЦНАП",
    "Департамент архітектури",
]
THEMES = ["ECON", "GOVE", "TRAN", "EDUC", "ENVI", "REGI", "SOCI", "ENER"]
FREQS = ["monthly", "quarterly", "yearly", "weekly", "on_change"]
FORMATS = ["CSV", "XLSX", "JSON", "XML"]
QUERIES = [
    "бюджет",
    "бюджету",
    "зупинки транспорту",
    "обʼєкти",
    "оренда майна",
    "дитячі майданчики",
    "тарифи",
    "реєстр",
    "відходів",
    "петиції",
]


async def load(dsn: str, n: int) -> None:
    rng = random.Random(42)
    titles = [r["title"] for r in mandatory_rows()]
    conn = await asyncpg.connect(dsn)
    try:
        org_ids = []
        now = datetime.now(UTC)
        for i, title in enumerate(ORGS):
            oid = uuid.uuid4()
            org_ids.append(oid)
            await conn.execute(
                "INSERT INTO organization (id, name, title, responsible_persons,"
                " requires_update_moderation, created_at, modified_at, revision, deleted)"
                " VALUES ($1,$2,$3,'[]',true,$4,$4,1,false)",
                oid,
                f"bench-org-{i}-{secrets.token_hex(2)}",
                title,
                now,
            )
        rows = []
        for i in range(n):
            base = rng.choice(titles)[:150]
            extra = " ".join(rng.sample(WORDS, 3))
            title = f"{base} — {extra} {2015 + i % 11}"
            desc = f"{base}. {' '.join(rng.sample(WORDS, 8))}."
            kws = rng.sample(WORDS, 3)
            org = rng.randrange(len(ORGS))
            a = text.lexemes(title)
            b = text.lexemes(" ".join(kws), ORGS[org])
            c = text.lexemes(desc)
            t = now - timedelta(days=rng.randrange(1000))
            rows.append(
                (
                    uuid.uuid4(),
                    f"bench-{i}-{secrets.token_hex(3)}",
                    title,
                    desc,
                    org_ids[org],
                    kws,
                    rng.sample(THEMES, 2),
                    rng.choice(FREQS),
                    [rng.choice(FORMATS)],
                    t,
                    text.normalize(title),
                    a,
                    b,
                    c,
                )
            )
        await conn.execute(
            "CREATE TEMP TABLE tmp_ds (id uuid, name text, title text, description text,"
            " organization_id uuid, keywords text[], themes text[], update_frequency text,"
            " formats text[], t timestamptz, search_title text, a text[], b text[], c text[])"
        )
        await conn.copy_records_to_table("tmp_ds", records=rows)
        await conn.execute(
            "INSERT INTO dataset (id, name, title, description, status, organization_id,"
            " keywords, themes, license_id, language, update_frequency, formats, access_rights,"
            " created_at, modified_at, first_published_at, published_at, revision, search_title,"
            " search_vector)"
            " SELECT id, name, title, description, 'published', organization_id, keywords,"
            " themes, 'CC-BY-4.0', ARRAY['uk'], update_frequency, formats, 'PUBLIC', t, t, t, t,"
            " 1, search_title,"
            " setweight(array_to_tsvector(a),'A') || setweight(array_to_tsvector(b),'B')"
            " || setweight(array_to_tsvector(c),'C') FROM tmp_ds"
        )
        await conn.execute("ANALYZE dataset")
    finally:
        await conn.close()


async def run_load(
    url: str, paths: list[str], requests: int, concurrency: int, first: int = 0
) -> tuple[list[float], int, float]:
    """``requests`` GETs by ``concurrency`` workers from paths[first:]: latencies, errors, wall."""
    lat: list[float] = []
    errors = 0
    counter = iter(range(first, first + requests))
    async with httpx.AsyncClient(
        base_url=url, timeout=60, limits=httpx.Limits(max_connections=concurrency)
    ) as c:

        async def worker() -> None:
            nonlocal errors
            for i in counter:
                t0 = time.perf_counter()
                r = await c.get(paths[i % len(paths)])
                lat.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        wall = time.perf_counter() - t0
    return lat, errors, wall


def summary(lat: list[float], errors: int, wall: float) -> dict[str, float]:
    lat = sorted(lat)
    return {
        "n": len(lat),
        "errors": errors,
        "p50": statistics.median(lat) * 1000,
        "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
        "rps": len(lat) / wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=600)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=6, help="rows interleaved in this many rounds")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-catalog-") as tmp:
        servers = Servers(Path(tmp) / "servers", profile="test", persist_ports=False)
        servers.start()
        system = None
        try:
            system = start_system(
                servers,
                Path(tmp) / "system",
                "test",
                "admin@example.com",
                secrets.token_urlsafe(12),
                db_suffix="_bench",
                gateway_port=free_port(),
                ports_from_env=False,
                inherit_portal_env=False,
            )
            t0 = time.perf_counter()
            asyncio.run(load(servers.postgres.dsn("portal_catalog_bench"), args.datasets))
            print(f"loaded {args.datasets} datasets in {time.perf_counter() - t0:.1f}s")
            gw = system.gateway_url
            catalog = system.service_urls["catalog"]
            search = [f"/api/v1/datasets?q={q}" for q in QUERIES]
            faceted = [f"/api/v1/datasets?q={q}&theme=ECON&sort=modified" for q in QUERIES]
            browse = ["/api/v1/datasets?limit=20", "/api/v1/datasets?theme=TRAN&format=CSV"]
            # every request a different question (word x page): the search cache never answers
            distinct = [f"/api/v1/datasets?q={w}&offset={20 * k}" for k in range(40) for w in WORDS]
            rows = [
                ("gateway /healthz (baseline)", gw, ["/healthz"]),
                ("search ?q= (with facets)", gw, search),
                ("  same, catalog direct (no gw)", catalog, search),
                ("search ?q=&theme=&sort=", gw, faceted),
                ("browse (no q, facets)", gw, browse),
                ("search, all distinct (uncached)", gw, distinct),
                ("  same, catalog direct (no gw) ", catalog, distinct[::-1]),
            ]
            # the rows run interleaved in rounds, so that each sees the same share of whatever
            # else the shared machine is doing
            per_round = max(1, args.requests // args.rounds)
            acc: dict[str, list] = {name: [[], 0, 0.0] for name, _, _ in rows}
            for k in range(args.rounds):
                for name, base, paths in rows:
                    lat, err, wall = asyncio.run(
                        run_load(base, paths, per_round, args.concurrency, first=k * per_round)
                    )
                    acc[name][0] += lat
                    acc[name][1] += err
                    acc[name][2] += wall
            print(
                f"\n{per_round * args.rounds} requests per row in {args.rounds} interleaved"
                f" rounds, concurrency {args.concurrency}, 2 shared cores"
            )
            print(f"{'load':32} {'n':>5} {'err':>4} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
            for name, _, _ in rows:
                r = summary(*acc[name])
                print(
                    f"{name:32} {r['n']:5d} {r['errors']:4d} {r['p50']:8.1f}"
                    f" {r['p99']:8.1f} {r['rps']:8.1f}"
                )
        finally:
            if system is not None:
                system.stop()
            servers.stop()


if __name__ == "__main__":
    main()
