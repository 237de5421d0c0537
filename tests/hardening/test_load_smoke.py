"""A small bounded run of bench/load_portal.py against the suite's system: the realistic mix
gives zero errors and no 5xx (no timing asserts; the full run is documented in
docs/hardening.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, for bench/
from bench.load_portal import report, run_load  # noqa: E402

pytestmark = pytest.mark.timeout(300)


async def test_load_smoke(system) -> None:
    pids = {n: sp.process.pid for n, sp in system.procs.items() if sp.process.pid}
    res = await run_load(
        system.gateway_url,
        system.admin_email,
        system.admin_password,
        duration=6,
        concurrency=4,
        pids=pids,
    )
    mix, _ = res["mix"]
    ceiling, _ = res["ceiling"]
    print(report(res, 4))
    assert sum(len(v) for v in ceiling.lat.values()) > 0
    assert set(mix.lat) >= {
        "search",
        "dataset_page",
        "ckan_search",
        "ckan_show",
        "download",
        "write_dataset",
    }, set(mix.lat)
    assert sum(mix.server_errors.values()) == 0, dict(mix.samples)
    assert sum(mix.errors.values()) == 0, dict(mix.samples)
    assert set(res["rss_end"]) == set(res["rss_start"])  # every process still alive
