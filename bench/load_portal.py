"""Bounded load test of the whole portal through the gateway (issue 10, part 6).

    make run                                   # in another terminal (seeded demo data)
    uv run python -m bench.load_portal --duration 60 --concurrency 16
    uv run python -m bench.load_portal --self-contained --duration 30   # own servers+system
    uv run python -m bench.load_portal --self-contained --find-rate --duration 20

A realistic mix — catalog search, dataset pages, file downloads, CKAN harvesting
(package_search pages, package_show) and writes (editors creating draft datasets) — for a
bounded time with bounded concurrency on loopback, beside the gateway's bare /healthz
ceiling measured in the same run. Prints throughput, p50/p99 and error rate per endpoint
and the RSS of every service process at start and end.

Two ways to load: closed loop (`--concurrency` clients, each sending its next request when the
last one answers: the throughput ceiling, where latency is all queueing) and open loop (`--rate`:
requests arrive on a Poisson clock whatever the answers take, latency counted from when each was
due). `--find-rate` raises the open-loop rate by 1.4x per step until reads miss p99 <= 300 ms or
anything fails, and reports the mix at the highest rate that held: the load the machine sustains.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

MIX = (  # (name, weight)
    ("search", 25),
    ("dataset_page", 20),
    ("download", 10),
    ("ckan_search", 15),
    ("ckan_show", 15),
    ("dataset_list_org", 5),
    ("write_dataset", 10),
)


@dataclass
class Stats:
    lat: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    server_errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, seconds: float, status: int | None, expect=(200, 201)) -> None:
        self.lat[name].append(seconds)
        if status not in expect:
            self.errors[name] += 1
            self.samples.setdefault(name, str(status))
            if status is None or status >= 500:
                self.server_errors[name] += 1


def _pct(xs: list[float], p: float) -> float:
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def service_rss(gateway_url: str, pids: dict[str, int] | None = None) -> dict[str, float]:
    """RSS in MiB of each portal process serving this gateway (found by its environment)."""
    import psutil

    port = gateway_url.rsplit(":", 1)[-1].rstrip("/")
    out: dict[str, float] = {}
    if pids:
        for name, pid in pids.items():
            try:
                out[name] = psutil.Process(pid).memory_info().rss / 2**20
            except psutil.Error:
                pass
        return out
    needle = f"127.0.0.1:{port}/.well-known/jwks.json"
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = p.info["cmdline"] or []
        if len(cmd) >= 4 and cmd[-1] == "serve" and cmd[-3] == "-m":
            try:
                env = p.environ()
            except psutil.Error:
                continue
            if any(needle in v for v in env.values()):
                out[cmd[-2]] = p.memory_info().rss / 2**20
    return out


async def _publish_one(client: httpx.AsyncClient, org: str, editor: dict, admin: dict) -> None:
    r = await client.post(
        "/api/v1/datasets",
        headers=editor,
        json={
            "name": f"load-{secrets.token_hex(5)}",
            "organization_id": org,
            "title": "Графік вивезення побутових відходів",
            "description": "Графік вивезення відходів по районах Запоріжжя.",
            "maintainer": "Олена Мʼясник",
            "maintainer_email": "olena@zp.gov.ua",
            "keywords": ["відходи"],
            "themes": ["ENVI"],
            "license_id": "CC-BY-4.0",
            "language": ["uk"],
            "purpose": "Інформування мешканців",
            "update_frequency": "monthly",
        },
    )
    r.raise_for_status()
    ds_id = r.json()["id"]
    r = await client.post(
        f"/api/v1/datasets/{ds_id}/resources",
        headers=editor,
        json={"name": "Графік", "format": "CSV", "url": "https://data.zp.gov.ua/vidhody.csv"},
    )
    r.raise_for_status()
    for verb, who, body in (
        ("submit", editor, {}),
        ("publish", admin, {"override_reason": "навантажувальний тест"}),
    ):
        g = await client.get(f"/api/v1/datasets/{ds_id}", headers=who)
        r = await client.post(
            f"/api/v1/datasets/{ds_id}/{verb}",
            json=body,
            headers={**who, "If-Match": g.headers["etag"]},
        )
        r.raise_for_status()


async def _prepare(client: httpx.AsyncClient, admin_email: str, admin_password: str) -> dict:
    from gateway.testing import bearer, create_user, login

    admin = await login(client, admin_email, admin_password)
    from portal_dev.seed.catalog import _edrpou

    r = await client.post(
        "/api/v1/organizations",
        headers=bearer(admin),
        json={
            "name": f"load-{secrets.token_hex(3)}",
            "title": "Навантажувальний тест",
            "edrpou": _edrpou(str(secrets.randbelow(10**7)).zfill(7)),
            "email": "load@zp.gov.ua",
        },
    )
    r.raise_for_status()
    org = r.json()["id"]
    editor = await create_user(client, admin, memberships={org: "editor"})
    ds = (await client.get("/api/v1/datasets", params={"limit": 100})).json()["items"]
    if not ds:  # an empty system: publish one dataset so pages and CKAN reads have a target
        await _publish_one(client, org, editor["headers"], bearer(admin))
        ds = (await client.get("/api/v1/datasets", params={"limit": 100})).json()["items"]
    downloads = [
        res["download_url"]
        for d in ds
        for res in d.get("resources") or []
        if res.get("file_id") and res.get("download_url")
    ]
    if not downloads:  # make one downloadable file so the mix has downloads
        f = await client.post(
            f"/api/v1/files?organization_id={org}",
            content="район;кількість\nОлександрівський;42\n".encode() * 200,
            headers={
                **editor["headers"],
                "X-File-Name": "load.csv",
                "Content-Type": "application/octet-stream",
            },
        )
        f.raise_for_status()
        info = f.json()
        downloads = [info.get("download_url") or f"/files/{info['id']}/load.csv"]
        dl_headers = editor["headers"]
    else:
        dl_headers = {}
    return {
        "org": org,
        "editor": editor["headers"],
        "datasets": [d["id"] for d in ds] or [None],
        "orgs": list({d["organization_id"] for d in ds}) or [org],
        "downloads": downloads,
        "dl_headers": dl_headers,
        "words": [
            "бюджет",
            "освіта",
            "дороги",
            "екологія",
            "мʼясо",
            "п’ять",
            "Запоріжжя",
            "транспорт",
            "бюджету",
            "школи",
        ],
    }


async def _one(client: httpx.AsyncClient, name: str, ctx: dict, stats: Stats) -> None:
    t0 = time.perf_counter()
    status, expect = await _send(client, name, ctx)
    stats.add(name, time.perf_counter() - t0, status, expect)


async def _send(client: httpx.AsyncClient, name: str, ctx: dict) -> tuple[int | None, tuple]:
    """One request of the mix: (status or None when the connection failed, expected statuses)."""
    status: int | None = None
    expect: tuple = (200,)
    try:
        if name == "health":
            r = await client.get("/healthz")
        elif name == "search":
            r = await client.get("/api/v1/datasets", params={"q": random.choice(ctx["words"])})
        elif name == "dataset_page":
            r = await client.get(f"/api/v1/datasets/{random.choice(ctx['datasets'])}")
        elif name == "dataset_list_org":
            r = await client.get(
                "/api/v1/datasets", params={"organization": random.choice(ctx["orgs"]), "limit": 20}
            )
        elif name == "download":
            r = await client.get(random.choice(ctx["downloads"]), headers=ctx["dl_headers"])
        elif name == "ckan_search":
            r = await client.get(
                "/api/3/action/package_search",
                params={"rows": 20, "start": random.choice((0, 0, 20))},
            )
        elif name == "ckan_show":
            r = await client.get(
                "/api/3/action/package_show", params={"id": random.choice(ctx["datasets"])}
            )
        elif name == "write_dataset":
            expect = (201,)
            r = await client.post(
                "/api/v1/datasets",
                headers=ctx["editor"],
                json={
                    "name": f"load-{secrets.token_hex(6)}",
                    "organization_id": ctx["org"],
                    "title": "Навантаження: графік прибирання вулиць",
                    "description": "Чернетка, створена навантажувальним тестом.",
                    "keywords": ["тест"],
                },
            )
        else:
            raise ValueError(name)
        status = r.status_code
    except httpx.HTTPError:
        status = None
    return status, expect


async def _phase(
    url: str, ctx: dict, names: list[str], weights: list[int], seconds: float, concurrency: int
) -> tuple[Stats, float]:
    stats = Stats()
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def worker() -> None:
            while time.monotonic() < deadline:
                await _one(client, random.choices(names, weights)[0], ctx, stats)

        t0 = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return stats, time.monotonic() - t0


async def _open_phase(
    url: str,
    ctx: dict,
    names: list[str],
    weights: list[int],
    seconds: float,
    rate: float,
    max_inflight: int = 64,
) -> tuple[Stats, float]:
    """Open loop: requests arrive at `rate` per second (Poisson), whatever the answers take.

    Latency is measured from the moment a request was due, not from when it was sent, so a
    stalled server is charged for the queue it causes (no coordinated omission). A request that
    finds `max_inflight` requests outstanding is not sent and counts as an error (`dropped`).
    """
    stats = Stats()
    limits = httpx.Limits(max_connections=max_inflight, max_keepalive_connections=max_inflight)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        inflight: set[asyncio.Task] = set()

        async def timed(name: str, due: float) -> None:
            status, expect = await _send(client, name, ctx)
            stats.add(name, time.perf_counter() - due, status, expect)

        t0 = time.perf_counter()
        due = t0
        end = t0 + seconds
        while True:
            due += random.expovariate(rate)
            if due >= end:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            name = random.choices(names, weights)[0]
            if len(inflight) >= max_inflight:  # an error, but no latency to record
                stats.errors[name] += 1
                stats.samples.setdefault(name, "dropped: too many outstanding")
                continue
            task = asyncio.create_task(timed(name, due))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
        if inflight:
            await asyncio.gather(*inflight)
        return stats, time.perf_counter() - t0


READS = ("search", "dataset_page", "dataset_list_org", "download", "ckan_search", "ckan_show")


def reads_p99(st: Stats) -> float:
    return _pct([x for n in READS for x in st.lat.get(n, [])], 99)


def table(rows: list[tuple[str, Stats, float]]) -> str:
    head = (
        f"{'endpoint':<18}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}{'5xx':>6}"
    )
    lines = [head, "-" * len(head)]
    for label, st, elapsed in rows:
        for name in sorted(st.lat):
            xs = st.lat[name]
            lines.append(
                f"{(label + name) if label else name:<18}{len(xs):>9}{len(xs) / elapsed:>9.1f}"
                f"{_pct(xs, 50) * 1000:>9.1f}{_pct(xs, 99) * 1000:>9.1f}"
                f"{st.errors[name]:>8}{st.server_errors[name]:>6}"
            )
        total = sum(len(x) for x in st.lat.values())
        lines.append(f"{'= ' + (label or 'mix') + ' total':<18}{total:>9}{total / elapsed:>9.1f}")
    return "\n".join(lines)


async def run_load(
    url: str,
    admin_email: str,
    admin_password: str,
    *,
    duration: float,
    concurrency: int,
    pids: dict[str, int] | None = None,
    rate: float | None = None,
    find_rate: bool = False,
    max_rate: float = 400.0,
    target_ms: float = 300.0,
) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        ctx = await _prepare(client, admin_email, admin_password)
    rss_start = service_rss(url, pids)
    ceiling, t_ceiling = await _phase(
        url, ctx, ["health"], [1], max(2.0, duration / 4), concurrency
    )
    names, weights = [n for n, _ in MIX], [w for _, w in MIX]
    steps: list[tuple[float, Stats, float]] = []
    if find_rate:
        # open loop, rising rate: the highest rate whose reads keep p99 under the target with no
        # errors is the load the machine sustains; the mix table is reported at that rate
        r = rate or 5.0
        mix, t_mix = Stats(), 0.0
        while r <= max_rate:
            st, el = await _open_phase(url, ctx, names, weights, duration, r)
            steps.append((r, st, el))
            ok = reads_p99(st) * 1000 <= target_ms and not any(st.errors.values())
            if not ok:
                break
            mix, t_mix = st, el
            r = round(r * 1.4, 1)
    elif rate:
        mix, t_mix = await _open_phase(url, ctx, names, weights, duration, rate)
    else:
        mix, t_mix = await _phase(url, ctx, names, weights, duration, concurrency)
    rss_end = service_rss(url, pids)
    return {
        "ceiling": (ceiling, t_ceiling),
        "mix": (mix, t_mix),
        "steps": steps,
        "rate": rate,
        "target_ms": target_ms,
        "rss_start": rss_start,
        "rss_end": rss_end,
    }


def report(res: dict[str, Any], concurrency: int) -> str:
    import platform

    ceiling, t_c = res["ceiling"]
    mix, t_m = res["mix"]
    load = f"concurrency {concurrency} (closed loop)"
    if res.get("steps"):
        load = f"open loop, highest rate with reads p99 <= {res['target_ms']:g} ms and no errors"
    elif res.get("rate"):
        load = f"open loop at {res['rate']:g} req/s"
    out = [
        f"load_portal {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
        f"{platform.node()} ({os.cpu_count()} CPUs, {platform.machine()}, load average "
        f"{os.getloadavg()[0]:.1f}), {load}, mix {t_m:.0f} s",
    ]
    if res.get("steps"):
        out.append(
            f"{'rate req/s':>11}{'achieved':>10}{'reads p50 ms':>14}{'reads p99 ms':>14}"
            f"{'errors':>8}"
        )
        for r, st, el in res["steps"]:
            reads = [x for n in READS for x in st.lat.get(n, [])]
            n = sum(len(x) for x in st.lat.values())
            out.append(
                f"{r:>11g}{n / el:>10.1f}{_pct(reads, 50) * 1000:>14.1f}"
                f"{reads_p99(st) * 1000:>14.1f}{sum(st.errors.values()):>8}"
            )
        out.append("")
    out += [
        table([("", ceiling, t_c), ("", mix, t_m)]),
        "",
        f"{'process':<16}{'RSS start MiB':>14}{'RSS end MiB':>13}",
    ]
    for name in sorted(res["rss_start"]):
        out.append(f"{name:<16}{res['rss_start'][name]:>14.1f}{res['rss_end'].get(name, 0):>13.1f}")
    if mix.samples:
        out.append(f"error samples: {dict(mix.samples)}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.load_portal")
    ap.add_argument(
        "--gateway", default=os.environ.get("PORTAL_GATEWAY_URL", "http://127.0.0.1:8000")
    )
    ap.add_argument(
        "--admin-email", default=os.environ.get("PORTAL_ADMIN_EMAIL", "admin@example.com")
    )
    ap.add_argument("--admin-password", default=os.environ.get("PORTAL_ADMIN_PASSWORD"))
    ap.add_argument("--data-dir", default=os.environ.get("PORTAL_DATA_DIR", "./var"))
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rate", type=float, help="open loop: requests per second (Poisson arrivals)")
    ap.add_argument(
        "--find-rate",
        action="store_true",
        help="open loop, rate x1.4 per step (from --rate, default 5) until reads p99 > --target-ms",
    )
    ap.add_argument("--target-ms", type=float, default=300.0)
    ap.add_argument(
        "--self-contained",
        action="store_true",
        help="start fresh servers and a seeded system in a temp dir",
    )
    args = ap.parse_args(argv)
    load = {
        "duration": args.duration,
        "concurrency": args.concurrency,
        "rate": args.rate,
        "find_rate": args.find_rate,
        "target_ms": args.target_ms,
    }
    if args.self_contained:
        import tempfile

        from portal_dev.proc import free_port
        from portal_dev.run import start_system
        from portal_dev.seed import run_seed
        from portal_dev.servers import Servers

        tmp = Path(tempfile.mkdtemp(prefix="load-portal-"))
        servers = Servers(tmp / "servers", profile="local", persist_ports=False)
        servers.start()
        password = secrets.token_urlsafe(16)
        system = start_system(
            servers,
            tmp / "system",
            "local",
            args.admin_email,
            password,
            gateway_port=free_port(),
            ports_from_env=False,
            inherit_portal_env=False,
        )
        try:
            run_seed(system.gateway_url, args.admin_email, password)
            pids = {
                n: sp.process.pid
                for n, sp in system.procs.items()
                if getattr(sp.process, "pid", None)
            }
            res = asyncio.run(
                run_load(system.gateway_url, args.admin_email, password, pids=pids or None, **load)
            )
        finally:
            system.stop()
            servers.stop()
    else:
        password = args.admin_password
        if not password:
            pw = Path(args.data_dir) / "admin-password"
            if not pw.exists():
                print("give --admin-password or run `make run` first", file=sys.stderr)
                return 2
            password = pw.read_text().strip()
        res = asyncio.run(run_load(args.gateway, args.admin_email, password, **load))
    print(report(res, args.concurrency))
    mix, _ = res["mix"]
    return 1 if sum(mix.server_errors.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
