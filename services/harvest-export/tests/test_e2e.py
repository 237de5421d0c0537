"""End to end: a steward publishes in the catalog, a moderator approves, the harvest-export
subprocess learns it from the CATALOG stream, and data.gov.ua pulls it through the gateway."""

from __future__ import annotations

import httpx
import pytest
from catalog.testing import Api
from gateway.testing import bearer, create_user, login
from rdflib import Graph, URIRef
from rdflib.namespace import DCAT, RDF

pytestmark = pytest.mark.asyncio(loop_scope="session")

UA = "CKAN harvester (data.gov.ua)"


@pytest.fixture(scope="session")
async def gw(system):
    async with httpx.AsyncClient(base_url=system.gateway_url, timeout=60) as client:
        yield client


async def test_publish_in_catalog_then_harvest_through_the_gateway(gw, system, eventually):
    admin = bearer(await login(gw, system.admin_email, system.admin_password))
    api = Api(gw, admin)
    moderator = (await create_user(gw, admin["Authorization"].split()[1], roles=["moderator"]))[
        "headers"
    ]
    org = await api.org(title="Департамент культури Запорізької міськради")
    editor = await api.editor(org["id"])
    ds = await api.published(
        org["id"],
        editor,
        moderator,
        title="Пам’ятки культурної спадщини м. Запоріжжя",
        keywords=["пам'ятки", "культура", "ЖКГ/ОСББ"],
        maintainer_email="heritage@zp.gov.ua",
    )
    headers = {"User-Agent": UA}

    async def shown() -> dict:
        r = await gw.get("/api/3/action/package_show", params={"id": ds["id"]}, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()["result"]

    pkg = await eventually(shown, timeout=60)
    assert pkg["title"] == "Пам’ятки культурної спадщини м. Запоріжжя"
    assert pkg["name"].startswith("zp-") and pkg["owner_org"] == org["id"]
    assert "памʼятки" in pkg["tag_string"].split(",") and "ЖКГ ОСББ" in pkg["tag_string"]
    assert pkg["maintainer_email"] == "heritage@zp.gov.ua"
    assert pkg["resources"] and pkg["resources"][0]["url"].startswith("https://")

    # the harvester's first call, through the gateway, with its fq
    r = await gw.get(
        "/api/3/action/package_search",
        params={"rows": "100", "start": "0", "sort": "id asc", "fq": f"organization:{org['name']}"},
        headers=headers,
    )
    assert [p["id"] for p in r.json()["result"]["results"]] == [ds["id"]]
    r = await gw.get(
        "/api/3/action/package_search",
        params={
            "rows": "100",
            "start": "100",
            "sort": "id asc",
            "fq": f"organization:{org['name']}",
        },
        headers=headers,
    )
    assert r.json()["result"]["results"] == []

    r = await gw.get("/catalog.ttl", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/turtle")
    g = Graph().parse(data=r.content, format="turtle")
    # URIs and links use the public (gateway) URL
    assert (URIRef(f"{system.gateway_url}/dataset/{ds['id']}"), RDF.type, DCAT.Dataset) in g
    r = await gw.get(f"/dataset/{pkg['name']}.jsonld")
    assert r.status_code == 200 and r.headers["content-type"] == "application/ld+json"

    # moderators see who pulled; others may not
    r = await gw.get("/api/v1/harvest/status", headers=moderator)
    assert r.status_code == 200, r.text
    mine = [h for h in r.json()["harvesters"] if h["user_agent"] == UA]
    assert mine and mine[0]["runs"]["ckan"]["complete"] is True
    assert mine[0]["runs"]["dcat"]["via"] == "dcat"
    assert (await gw.get("/api/v1/harvest/status")).status_code == 401
    assert (await gw.get("/api/v1/harvest/log", headers=editor)).status_code == 403

    # archived in the catalog: gone from the export
    r = await api.action(ds["id"], "archive", editor, {"note": "Дані застаріли"})
    assert r.status_code == 200, r.text

    async def gone() -> None:
        r = await gw.get("/api/3/action/package_show", params={"id": ds["id"]})
        assert r.status_code == 404
        assert r.json()["error"]["__type"] == "Not Found Error"

    await eventually(gone, timeout=60)
