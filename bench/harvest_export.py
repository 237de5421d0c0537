"""Harvest-export under a national-portal harvest: 10,000 published datasets, pulled through the
gateway exactly as ckanext-harvest does (package_search, rows=100, sort=id asc, until an empty
page) and as ckanext-dcat's RDF harvester does (catalog.ttl, following hydra:next), with the
harvest-export process's peak memory, beside the gateway's /healthz probed during the same load
and on its own (baseline, measured in the same run).

    uv run python -m bench.harvest_export [--datasets 10000] [--probes 200]

Starts its own servers and system (as ``make run`` does); loads the read model by writing the
same rows the event handlers build (the package dicts come from harvest_export.ckan, the code
the consumer runs; SHACL validation per dataset is skipped for the load, see docs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import psutil
from harvest_export import ckan, testing
from portal_dev.proc import free_port
from portal_dev.run import start_system
from portal_dev.servers import Servers
from rdflib import Graph, Namespace
from rdflib.namespace import RDF

HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")


async def load(dsn: str, n: int, base: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        orgs = [testing.organization() for _ in range(12)]
        for o in orgs:
            await conn.execute(
                "INSERT INTO hx_organization (id, revision, name, title, doc, deleted, created)"
                " VALUES ($1, 1, $2, $3, $4::jsonb, false, $5)",
                o["id"],
                o["name"],
                o["title"],
                json.dumps(o),
                datetime.utcnow(),
            )
        start = datetime.utcnow() - timedelta(days=30)
        batch = []
        for i in range(n):
            org = orgs[i % len(orgs)]
            doc = testing.dataset(org, i)
            view = ckan.org_view(org)
            created = start + timedelta(seconds=i)
            pkg = ckan.package_dict(
                doc, view, None, base=base, name_prefix="zp-", metadata_created=created
            )
            pkg["metadata_modified"] = ckan.ts(created)
            batch.append(
                (
                    doc["id"],
                    doc["name"],
                    doc["organization_id"],
                    json.dumps(doc),
                    created,
                    created.replace(tzinfo=UTC),
                    json.dumps(pkg),
                    pkg["title"],
                    org["name"],
                    pkg["license_id"],
                    [t["name"] for t in pkg["tags"]],
                    [g["name"] for g in pkg["groups"]],
                    sorted({r["format"] for r in pkg["resources"]}),
                    " ".join([pkg["title"], pkg["notes"]]).lower(),
                )
            )
            if len(batch) == 500 or i == n - 1:
                await conn.executemany(
                    "INSERT INTO hx_dataset (id, revision, name, status, organization_id, doc,"
                    " served, content_hash, metadata_created, metadata_modified, first_served_at,"
                    " package, valid, title, org_name, license_id, tags, groups, res_formats,"
                    " search_text) VALUES ($1, 1, $2, 'published', $3, $4::jsonb, true, 'x', $5,"
                    " $5, $6, $7::jsonb, true, $8, $9, $10, $11, $12, $13, $14)",
                    batch,
                )
                batch = []
        await conn.execute("ANALYZE hx_dataset")
    finally:
        await conn.close()


class Probe:
    """Hits the gateway's /healthz every few ms from another thread; records latencies."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                t = time.perf_counter()
                client.get(self.url)
                self.samples.append((time.perf_counter() - t) * 1000)
                time.sleep(0.02)


class Memory:
    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def rss(self) -> int:
        total = self.proc.memory_info().rss
        for child in self.proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.05)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def ckan_harvest(gw: str) -> tuple[int, list[float]]:
    ids: set[str] = set()
    lat: list[float] = []
    start = 0
    with httpx.Client(base_url=gw, timeout=120, headers={"User-Agent": "bench-ckan-harvest"}) as c:
        while True:
            t = time.perf_counter()
            r = c.get(
                "/api/3/action/package_search",
                params={"rows": "100", "start": str(start), "sort": "id asc"},
            )
            body = r.json()
            lat.append((time.perf_counter() - t) * 1000)
            page = body["result"]["results"]
            if not page:
                break
            ids.update(p["id"] for p in page)
            start += 100
    return len(ids), lat


def dcat_walk(gw: str) -> tuple[int, list[float]]:
    url = gw + "/catalog.ttl"
    datasets = 0
    lat: list[float] = []
    with httpx.Client(timeout=120, headers={"User-Agent": "bench-dcat-walk"}) as c:
        while url:
            t = time.perf_counter()
            r = c.get(url)
            lat.append((time.perf_counter() - t) * 1000)
            g = Graph().parse(data=r.content, format="turtle")
            datasets += len(
                set(g.subjects(RDF.type, Namespace("http://www.w3.org/ns/dcat#").Dataset))
            )
            nxt = None
            for node in g.subjects(RDF.type, HYDRA.PagedCollection):
                nxt = g.value(node, HYDRA.next)
            # the service builds links from its public URL; walk them through this gateway
            url = str(nxt) if nxt else ""
    return datasets, lat


def baseline(gw: str, n: int) -> list[float]:
    out = []
    with httpx.Client(timeout=30) as c:
        for _ in range(n):
            t = time.perf_counter()
            c.get(gw + "/healthz")
            out.append((time.perf_counter() - t) * 1000)
            time.sleep(0.02)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", type=int, default=10_000)
    ap.add_argument("--probes", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-harvest-") as tmp:
        servers = Servers(Path(tmp) / "servers", profile="test", persist_ports=False)
        servers.start()
        system = None
        try:
            gw_port = free_port()
            system = start_system(
                servers,
                Path(tmp) / "system",
                "test",
                "admin@example.com",
                secrets.token_urlsafe(12),
                db_suffix="_bench",
                gateway_port=gw_port,
                ports_from_env=False,
                inherit_portal_env=False,
            )
            gw = system.gateway_url
            t0 = time.perf_counter()
            asyncio.run(load(servers.postgres.dsn("portal_harvest_bench"), args.datasets, gw))
            print(
                f"loaded {args.datasets} datasets into the read model in "
                f"{time.perf_counter() - t0:.1f}s"
            )
            pid = system.procs["harvest"].process.pid
            idle_rss = psutil.Process(pid).memory_info().rss
            base = baseline(gw, args.probes)
            rows = []
            for name, fn in (
                ("package_search harvest", ckan_harvest),
                ("DCAT catalog.ttl walk", dcat_walk),
            ):
                mem = Memory(pid)
                probe = Probe(gw + "/healthz")
                mem.thread.start()
                probe.thread.start()
                t = time.perf_counter()
                count, lat = fn(gw)
                elapsed = time.perf_counter() - t
                probe.stop.set()
                mem.stop.set()
                probe.thread.join()
                mem.thread.join()
                rows.append((name, count, len(lat), elapsed, lat, probe.samples, mem.peak))
            print(f"\n{args.datasets} published datasets, through the gateway, 2 shared cores")
            print(
                f"{'run':26} {'datasets':>8} {'pages':>6} {'total s':>8} {'page p50':>9} "
                f"{'page p95':>9} {'healthz p50':>12} {'healthz p95':>12} {'peak RSS MB':>12}"
            )
            print(
                f"{'baseline (idle)':26} {'':>8} {'':>6} {'':>8} {'':>9} {'':>9} "
                f"{statistics.median(base):12.1f} {pct(base, 95):12.1f} "
                f"{idle_rss / 2**20:12.0f}"
            )
            for name, count, pages, elapsed, lat, probes, peak in rows:
                print(
                    f"{name:26} {count:8d} {pages:6d} {elapsed:8.1f} {statistics.median(lat):9.1f} "
                    f"{pct(lat, 95):9.1f} {statistics.median(probes):12.1f} "
                    f"{pct(probes, 95):12.1f} {peak / 2**20:12.0f}"
                )
        finally:
            if system is not None:
                system.stop()
            servers.stop()


if __name__ == "__main__":
    main()
