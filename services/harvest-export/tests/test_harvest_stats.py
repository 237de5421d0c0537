"""GET /api/v1/stats/harvest/organizations: per organization, served datasets the national
harvester fetched since their last change, after real CKAN and DCAT pulls over HTTP."""

from __future__ import annotations

from typing import Any

from harvest_export import testing as T

NATIONAL = {"User-Agent": "python-requests/2.31.0"}  # ckanext-harvest without a user_agent set
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"}


async def stats_of(hx: Any, org_id: str) -> dict[str, Any] | None:
    r = await hx.client.get("/api/v1/stats/harvest/organizations")  # public, no token
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["harvester"]["user_agents"] and "computed_at" in body
    return next((i for i in body["items"] if i["organization_id"] == org_id), None)


async def test_fetched_since_last_change_per_organization(hx) -> None:
    org = T.organization()
    assert await hx.feed_org(org)
    docs = [T.dataset(org, i) for i in (1, 2, 4)]
    for d in docs:
        assert await hx.feed_dataset(d)
    await hx.feed_dataset(T.dataset(org, 7, status="draft"))  # never served, never counted
    s = await stats_of(hx, org["id"])
    assert s is not None and s["organization_title"] == org["title"]
    assert (s["published"], s["fetched"], s["stale"], s["never"]) == (3, 0, 0, 3)
    assert s["last_fetch_at"] is None

    # a browser's search is not the national harvester
    fq = f"organization:{org['name']}"
    params = {"rows": "100", "start": "0", "sort": "id asc", "fq": fq}
    r = await hx.client.get("/api/3/action/package_search", params=params, headers=BROWSER)
    assert r.json()["result"]["count"] == 3
    assert (await stats_of(hx, org["id"]))["fetched"] == 0

    # the harvester's gather: package_search pages with its fq
    r = await hx.client.get("/api/3/action/package_search", params=params, headers=NATIONAL)
    assert {p["id"] for p in r.json()["result"]["results"]} == {d["id"] for d in docs}
    s = await stats_of(hx, org["id"])
    assert (s["published"], s["fetched"], s["stale"], s["never"]) == (3, 3, 0, 0)
    assert s["last_fetch_at"] is not None

    # a change after the pull: that dataset is stale until the harvester fetches it again
    assert await hx.feed_dataset(T.bump(docs[1], title="Мережа закладів освіти м. Запоріжжя"))
    s = await stats_of(hx, org["id"])
    assert (s["published"], s["fetched"], s["stale"], s["never"]) == (3, 2, 1, 0)

    # a DCAT pull of that one dataset counts too
    r = await hx.client.get(f"/dataset/{docs[1]['id']}.ttl", headers=NATIONAL)
    assert r.status_code == 200, r.text
    s = await stats_of(hx, org["id"])
    assert (s["published"], s["fetched"], s["stale"], s["never"]) == (3, 3, 0, 0)

    # archived: no longer served, no longer counted
    assert await hx.feed_dataset(T.bump(T.bump(docs[1]), status="archived"))
    s = await stats_of(hx, org["id"])
    assert (s["published"], s["fetched"]) == (2, 2)
