"""The CKAN harvester's own gather loop over 350 published datasets, full and incremental.

``search_for_datasets`` re-implements ckanext-harvest's ``CKANHarvester._search_for_datasets``
(ckanext/harvest/harvesters/ckanharvester.py, gather_stage L215-249 and L295-368) faithfully:
``requests.get`` with a urlencoded query, params rows=100, start=0, sort='id asc', the ``fq``
terms joined by spaces, reads only result.results, drops ids already seen, stops only on an
empty page, always advances start by 100, and fails if two pages are byte-identical.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import uuid
from urllib.parse import urlencode

import pytest
import requests
import sqlalchemy as sa
from harvest_export import testing as T
from harvest_export.models import HxDataset

pytestmark = pytest.mark.asyncio(loop_scope="session")

N = 350
UA = "ckanext-harvest/1.6 (data.gov.ua)"


class SearchError(Exception):
    pass


def search_for_datasets(remote_ckan_base_url: str, fq_terms: list[str] | None = None) -> list[dict]:
    """ckanext-harvest's _search_for_datasets, its loop and stop rule unchanged."""
    base_search_url = remote_ckan_base_url + "/api/3/action/package_search"
    params = {"rows": "100", "start": "0"}
    params["sort"] = "id asc"
    if fq_terms:
        params["fq"] = " ".join(fq_terms)
    pkg_dicts: list[dict] = []
    pkg_ids: set[str] = set()
    previous_content = None
    while True:
        url = base_search_url + "?" + urlencode(params)
        content = requests.get(url, headers={"User-Agent": UA}).text  # no raise_for_status
        if previous_content and content == previous_content:
            raise SearchError("The paging doesn't seem to work. URL: %s" % url)
        try:
            response_dict = json.loads(content)
        except ValueError as exc:
            raise SearchError("Response from remote CKAN was not JSON: %r" % content) from exc
        try:
            pkg_dicts_page = response_dict.get("result", {}).get("results", [])
        except ValueError as exc:
            raise SearchError(
                "Response JSON did not contain result/results: %r" % response_dict
            ) from exc
        ids_in_page = {p["id"] for p in pkg_dicts_page}
        duplicate_ids = ids_in_page & pkg_ids
        if duplicate_ids:
            pkg_dicts_page = [p for p in pkg_dicts_page if p["id"] not in duplicate_ids]
        pkg_ids |= ids_in_page
        pkg_dicts.extend(pkg_dicts_page)
        if len(pkg_dicts_page) == 0:
            break
        params["start"] = str(int(params["start"]) + int(params["rows"]))
    return pkg_dicts


def incremental_fq(last_gather_started: datetime.datetime) -> str:
    """gather_stage L224-234: the previous job's start minus one hour, isoformat + 'Z'."""
    get_changes_since = (last_gather_started - datetime.timedelta(hours=1)).isoformat()
    return f"metadata_modified:[{get_changes_since}Z TO *]"


async def served_ids(hx, organization_id: str | None = None) -> set[str]:
    query = sa.select(HxDataset.id).where(HxDataset.served.is_(True))
    if organization_id:
        query = query.where(HxDataset.organization_id == uuid.UUID(organization_id))
    async with hx.ctx.sessionmaker() as session:
        rows = await session.exec(query)
        return {str(r) for r in rows.scalars().all()}


async def test_full_then_incremental_harvest_gets_everything_then_exactly_the_changed_five(
    hx, catalog350
):
    await hx.age()  # whatever other tests changed happened long before this harvester's job
    everything = await served_ids(hx)
    assert catalog350["ids"] <= everything
    assert not (catalog350["hidden"] & everything)

    gather_started = datetime.datetime.utcnow()
    full = await asyncio.to_thread(search_for_datasets, hx.url)
    got = [p["id"] for p in full]
    assert len(got) == len(set(got)) == len(everything)
    assert set(got) == everything
    assert not (catalog350["hidden"] & set(got))
    # every result is a full package_show dict the import stage can use
    first = full[0]
    for key in (
        "id",
        "name",
        "tags",
        "extras",
        "resources",
        "groups",
        "organization",
        "owner_org",
        "metadata_modified",
        "tag_string",
        "purpose_of_collecting_information",
        "update_frequency",
        "language",
        "notes",
        "num_resources",
        "num_tags",
    ):
        assert key in first, key

    # organisation filters, as the harvester builds them from its source config
    a, b = catalog350["orgs"]
    only_a = await asyncio.to_thread(
        search_for_datasets, hx.url, [f"organization:{a['name']} OR organization:nobody"]
    )
    in_a = await served_ids(hx, a["id"])
    assert {d["id"] for d in catalog350["docs"][0::2]} <= in_a
    assert {p["id"] for p in only_a} == in_a
    not_a = await asyncio.to_thread(search_for_datasets, hx.url, [f"-organization:{a['name']}"])
    assert {p["id"] for p in not_a} == everything - {p["id"] for p in only_a}

    # nothing changed since: the incremental run finds nothing (the job ends with no objects)
    assert (
        await asyncio.to_thread(search_for_datasets, hx.url, [incremental_fq(gather_started)]) == []
    )

    # five changes of different kinds, each through the real read-model code
    docs = catalog350["docs"]
    before = {p["id"]: p["metadata_modified"] for p in full}
    changed = [docs[3], docs[77], docs[150], docs[222], docs[349]]
    await hx.feed_dataset(T.bump(changed[0], title="Нова назва: пам’ятки міста"))
    new_res = T.resource(changed[1]["id"], 9)
    await hx.feed_dataset(T.bump(changed[1], resources=[*changed[1]["resources"], new_res]))
    await hx.feed_dataset(T.bump(changed[2], keywords=["нове'слово", "бюджет"]))
    replaced = {**changed[3]["resources"][0], "sha256": "f" * 64, "size": 99, "version": 2}
    await hx.feed_dataset(T.bump(changed[3], resources=[replaced, *changed[3]["resources"][1:]]))
    assert await hx.feed_quality(
        {
            "dataset_id": changed[4]["id"],
            "organization_id": changed[4]["organization_id"],
            "dataset_revision": 1,
            "methodology_version": "2026.1",
            "score": 91.5,
            "band": "high",
            "compliant": True,
            "findings": [],
            "assessed_at": T.now().isoformat(),
        }
    )
    # noise that must not move anything: a redelivered old revision, an unchanged republish
    assert not await hx.feed_dataset(changed[0])
    assert not await hx.feed_dataset({**docs[10], "title": "застаріла ревізія"})
    same = T.bump(docs[11])  # new revision, nothing exported changed
    assert await hx.feed_dataset(same)

    incremental = await asyncio.to_thread(
        search_for_datasets, hx.url, [incremental_fq(gather_started)]
    )
    assert {p["id"] for p in incremental} == {d["id"] for d in changed}
    for p in incremental:
        # naive UTC with microseconds, later than before as a string (the harvester's test)
        assert p["metadata_modified"] > before[p["id"]]
        datetime.datetime.strptime(p["metadata_modified"], "%Y-%m-%dT%H:%M:%S.%f")
    by_id = {p["id"]: p for p in incremental}
    assert by_id[changed[0]["id"]]["title"] == "Нова назва: пам’ятки міста"
    assert by_id[changed[1]["id"]]["num_resources"] == 3
    assert "новеʼслово" in by_id[changed[2]["id"]]["tag_string"].split(",")
    assert by_id[changed[3]["id"]]["resources"][0]["hash"] == "f" * 64
    extras = {e["key"]: e["value"] for e in by_id[changed[4]["id"]]["extras"]}
    assert extras["quality_score"] == "91.5"

    # a stale quality assessment arriving late changes nothing
    assert not await hx.feed_quality(
        {
            "dataset_id": changed[4]["id"],
            "organization_id": changed[4]["organization_id"],
            "dataset_revision": 1,
            "methodology_version": "2026.1",
            "score": 10,
            "band": "low",
            "compliant": False,
            "assessed_at": "2020-01-01T00:00:00Z",
        }
    )


async def test_archived_disappears_and_returns_with_a_later_timestamp(hx, catalog350):
    doc = catalog350["docs"][5]
    shown = (await hx.action("package_show", id=doc["id"])).json()["result"]
    archived = T.bump(doc, status="archived")
    await hx.feed_dataset(archived)
    r = await hx.action("package_show", id=doc["id"])
    assert r.status_code == 404
    assert r.json()["error"]["__type"] == "Not Found Error"
    r = await hx.action("package_search", fq=f"id:{doc['id']}")
    assert r.json()["result"]["count"] == 0
    await hx.feed_dataset(T.bump(archived, status="published"))
    again = (await hx.action("package_show", id=doc["id"])).json()["result"]
    assert again["metadata_modified"] > shown["metadata_modified"]
    assert again["metadata_created"] == shown["metadata_created"]
    assert again["id"] == shown["id"] and again["name"] == shown["name"]


async def test_harvest_status_reports_the_last_run_and_what_it_missed(hx, catalog350):
    await asyncio.to_thread(search_for_datasets, hx.url)
    moderator = hx.token(roles=["moderator"])
    r = await hx.client.get("/api/v1/harvest/status", headers=moderator)
    assert r.status_code == 200, r.text
    mine = [h for h in r.json()["harvesters"] if h["user_agent"] == UA]
    assert mine and mine[0]["last_run"]["complete"] is True
    assert mine[0]["last_run"]["mode"] == "full"
    assert mine[0]["last_run"]["missing"] == 0

    # a run that stopped after the first page did not get everything
    def one_page() -> None:
        requests.get(
            hx.url + "/api/3/action/package_search?rows=100&start=0&sort=id+asc",
            headers={"User-Agent": "broken-harvester/0.1"},
        )

    await asyncio.to_thread(one_page)
    r = await hx.client.get("/api/v1/harvest/status", headers=moderator)
    broken = [h for h in r.json()["harvesters"] if h["user_agent"] == "broken-harvester/0.1"][0]
    assert broken["last_run"]["complete"] is False
    assert broken["last_run"]["datasets_seen"] == 100
    assert broken["last_run"]["missing"] == r.json()["published"] - 100

    r = await hx.client.get(
        "/api/v1/harvest/log", params={"user_agent": "broken", "limit": 5}, headers=moderator
    )
    assert r.status_code == 200
    item = r.json()["items"][0]
    assert item["action"] == "package_search" and item["count"] == 100
    assert item["params"]["sort"] == "id asc"

    # moderators only; bad input is a 422 naming the field
    assert (await hx.client.get("/api/v1/harvest/status")).status_code == 401
    editor = hx.token(orgs={catalog350["orgs"][0]["id"]: "editor"})
    assert (await hx.client.get("/api/v1/harvest/log", headers=editor)).status_code == 403
    r = await hx.client.get("/api/v1/harvest/log", params={"limit": 1000}, headers=moderator)
    assert r.status_code == 422 and "limit" in r.text
    r = await hx.client.get("/api/v1/harvest/log", params={"since": "вчора"}, headers=moderator)
    assert r.status_code == 422 and "since" in r.text


async def test_uuid_ids_ascii_names_valid_tags_emails_and_absolute_urls(hx, catalog350):
    import re

    r = await hx.action("package_search", rows=1000)
    results = r.json()["result"]["results"]
    assert len(results) >= N
    tag_re = re.compile(r"^[\w \-.]*$", re.UNICODE)
    for p in results:
        uuid.UUID(p["id"])
        assert re.fullmatch(r"[a-z0-9_-]{2,100}", p["name"]) and p["name"].startswith("zp-")
        for t in p["tags"]:
            assert 2 <= len(t["name"]) <= 100 and tag_re.match(t["name"]), t
        assert p["tag_string"] == ",".join(t["name"] for t in p["tags"])
        assert p["maintainer_email"] is None or re.fullmatch(
            r"[^@\s,;]+@[^@\s,;]+", p["maintainer_email"]
        )
        assert len(p["purpose_of_collecting_information"]) <= 512
        assert p["language"] == "ua"
        assert p["update_frequency"] in {
            "more than once a day",
            "once a day",
            "once a week",
            "once a month",
            "once a quarter",
            "once a half year",
            "once a year",
            "immediately after making changes",
            "unscheduled",
        }
        assert p["private"] is False and p["state"] == "active" and p["type"] == "dataset"
        for res in p["resources"]:
            uuid.UUID(res["id"])
            assert res["url"].startswith(hx.url + "/files/")
            assert res["url_type"] is None and isinstance(res["size"], int)
            assert res["format"] == res["format"].upper()
            for key in ("created", "last_modified", "metadata_modified"):
                datetime.datetime.strptime(res[key], "%Y-%m-%dT%H:%M:%S.%f")
        for key in ("metadata_created", "metadata_modified"):
            assert not p[key].endswith("Z") and "+" not in p[key]
    # the original keyword text is kept
    apostrophe = next(p for p in results if "мʼясо" in p["tag_string"].split(","))
    extras = {e["key"]: e["value"] for e in apostrophe["extras"]}
    assert "м'ясо" in json.loads(extras["original_tags"])
    assert len(extras) == len(apostrophe["extras"])  # no duplicate extra keys
