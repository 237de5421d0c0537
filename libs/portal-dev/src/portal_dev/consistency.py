"""Consistency checker: do the read models agree with the catalog? Through the public API only.

The catalog owns datasets; harvest-export (CKAN API), catalog search, quality and storage
hold read models fed by events. After faults they must converge to the catalog's state:

- every published dataset of the catalog is in CKAN ``package_search`` and ``package_show``
  with the same title and number of resources (derived CSV copies are resources there), and
  nothing else is there (no unpublished, deleted or half-written dataset);
- catalog search by the dataset's id-bearing listing returns exactly the published set;
- quality has a report for every published dataset, as published, not ahead of the catalog;
- every stored file attached to a published dataset, and each of its derived copies, downloads
  anonymously with the sha256 the catalog recorded.

``python -m portal_dev consistency [--gateway URL]`` prints the differences (exit 1 if any);
tests call ``await check(client)`` and ``await converge(client)``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Report:
    catalog: int = 0
    differences: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.differences

    def __str__(self) -> str:
        head = f"{self.catalog} published datasets; checked {self.checked}"
        if self.ok:
            return head + ": consistent"
        return (
            head + f": {len(self.differences)} differences\n  " + "\n  ".join(self.differences[:50])
        )


async def _catalog_published(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    offset = 0
    while True:
        r = await client.get(
            "/api/v1/datasets", params={"limit": 100, "offset": offset, "sort": "newest"}
        )
        r.raise_for_status()
        page = r.json()
        for d in page["items"]:
            out[d["id"]] = d
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return out


async def _ckan_all(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    start = 0
    while True:
        r = await client.get("/api/3/action/package_search", params={"rows": 1000, "start": start})
        r.raise_for_status()
        res = r.json()["result"]
        for p in res["results"]:
            out[p["id"]] = p
        start += len(res["results"])
        if not res["results"] or start >= res["count"]:
            return out


async def check(
    client: httpx.AsyncClient,
    *,
    quality: bool = True,
    files: bool = True,
    show_sample: int = 20,
) -> Report:
    """One comparison pass; ``client`` has the gateway as base_url (anonymous is enough)."""
    rep = Report()
    catalog = await _catalog_published(client)
    rep.catalog = len(catalog)
    # 1. CKAN package_search: same set, same titles and resource counts
    ckan = await _ckan_all(client)
    rep.checked["ckan_search"] = len(ckan)
    for ds_id, d in catalog.items():
        p = ckan.get(ds_id)
        if p is None:
            rep.differences.append(f"ckan: published {d['name']} ({ds_id}) missing")
            continue
        if p.get("title") != d["title"]:
            rep.differences.append(f"ckan: {d['name']} title {p.get('title')!r} != {d['title']!r}")
        n = p.get("num_resources", len(p.get("resources") or []))
        # CKAN lists each derived copy (a spreadsheet's CSV) as a resource of its own
        resources = d.get("resources") or []
        expected = len(resources) + sum(len(r.get("derived") or []) for r in resources)
        if n != expected:
            rep.differences.append(
                f"ckan: {d['name']} has {n} resources, catalog {expected} "
                f"({len(resources)} + derived copies)"
            )
    for ds_id, p in ckan.items():
        if ds_id not in catalog:
            rep.differences.append(f"ckan: {p.get('name')} ({ds_id}) is not published in catalog")
    # 2. CKAN package_show on a sample (the per-dataset read path)
    for ds_id in list(catalog)[:show_sample]:
        r = await client.get("/api/3/action/package_show", params={"id": ds_id})
        if r.status_code != 200 or r.json()["result"]["title"] != catalog[ds_id]["title"]:
            rep.differences.append(f"ckan: package_show {ds_id} -> {r.status_code}")
    rep.checked["ckan_show"] = min(show_sample, len(catalog))
    # 3. catalog search of each sampled title finds the dataset (search index in step)
    for ds_id in list(catalog)[:show_sample]:
        d = catalog[ds_id]
        r = await client.get(
            "/api/v1/datasets", params={"organization": d["organization_id"], "limit": 100}
        )
        if r.status_code != 200 or ds_id not in {x["id"] for x in r.json()["items"]}:
            rep.differences.append(f"search: {d['name']} not listed in its organization")
    rep.checked["search"] = min(show_sample, len(catalog))
    # 4. quality: a report at the catalog's revision
    if quality:
        for ds_id, d in catalog.items():
            r = await client.get(f"/api/v1/quality/datasets/{ds_id}")
            if r.status_code != 200:
                rep.differences.append(f"quality: {d['name']} no report ({r.status_code})")
                continue
            q = r.json()
            # the catalog's revision also counts pending (moderated, not yet public) changes,
            # which emit no event: quality may lag behind it, never run ahead of it
            if q.get("dataset_revision") is not None and q["dataset_revision"] > d["revision"]:
                rep.differences.append(
                    f"quality: {d['name']} at revision {q['dataset_revision']}, "
                    f"catalog {d['revision']}"
                )
            if q.get("status") not in (None, "published"):
                rep.differences.append(f"quality: {d['name']} is {q['status']} in quality")
        rep.checked["quality"] = len(catalog)
    # 5. storage: stored files of published datasets download anonymously, same sha256
    if files:
        n = 0
        for d in catalog.values():
            for res in d.get("resources") or []:
                if not res.get("file_id") or not res.get("download_url"):
                    continue
                # the file itself, then its derived copies (public exactly when it is)
                copies = [
                    (c.get("url"), c.get("sha256"), "CSV copy") for c in res.get("derived") or []
                ]
                for url, sha, what in [(res["download_url"], res.get("sha256"), "file"), *copies]:
                    n += 1
                    r = await client.get(url)
                    if r.status_code != 200:
                        rep.differences.append(
                            f"storage: {d['name']}/{res['name']} {what} download -> {r.status_code}"
                        )
                    elif sha and hashlib.sha256(r.content).hexdigest() != sha:
                        rep.differences.append(
                            f"storage: {d['name']}/{res['name']} {what} sha256 differs"
                        )
        rep.checked["files"] = n
    return rep


async def converge(
    client: httpx.AsyncClient,
    timeout: float = 60.0,  # noqa: ASYNC109 - a deadline over several passes
    **kw: Any,
) -> Report:
    """Check until consistent or the deadline; returns the last report."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            rep = await check(client, **kw)
        except httpx.HTTPError as exc:
            rep = Report(differences=[f"unreachable: {exc!r}"])
        if rep.ok or time.monotonic() > deadline:
            return rep
        await asyncio.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m portal_dev consistency")
    ap.add_argument("--gateway", default="http://127.0.0.1:8000")
    ap.add_argument("--wait", type=float, default=0.0, help="retry up to this many seconds")
    args = ap.parse_args(argv)

    async def run() -> Report:
        async with httpx.AsyncClient(base_url=args.gateway, timeout=30) as client:
            return await converge(client, timeout=args.wait)

    rep = asyncio.run(run())
    print(rep)
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main())
