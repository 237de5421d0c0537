"""End to end: a steward publishes in the catalog, a moderator approves, the harvest-export
subprocess learns it from the CATALOG stream, and data.gov.ua pulls it through the gateway."""

from __future__ import annotations

import httpx
import pytest
from catalog.testing import Api, upload, xlsx_bytes
from gateway.testing import bearer, create_user, login
from rdflib import Graph, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF

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


async def test_derived_csv_reaches_dcat_and_ckan(gw, system, eventually):
    """Issue 5 end to end: a Cyrillic XLSX uploaded through the gateway and attached, the real
    quality conversion and storage record, then published: the catalog resource shows
    ``derived``, the DCAT (Turtle) has the CSV distribution (downloadURL = the copy's public
    URL, prov:wasDerivedFrom the XLSX) and passes SHACL, package_show has the marked resource;
    a new version of the resource drops the old copy from both."""
    import asyncio

    from harvest_export.dcat import shapes_graph
    from pyshacl import validate
    from rdflib import Literal, Namespace

    prov = Namespace("http://www.w3.org/ns/prov#")
    admin = bearer(await login(gw, system.admin_email, system.admin_password))
    api = Api(gw, admin)
    moderator = (await create_user(gw, admin["Authorization"].split()[1], roles=["moderator"]))[
        "headers"
    ]
    org = await api.org(title="Управління культури Запорізької міськради")
    editor = await api.editor(org["id"])
    rows = [["Назва", "Адреса", "Рік"], ["Дуб запорізький", "о. Хортиця", 1700]]
    src = await upload(gw, editor, org["id"], xlsx_bytes(rows), "Пам’ятки 2026.xlsx")
    ds = (await api.dataset(org["id"], editor, title="Пам’ятки природи (таблиця)")).json()
    rpath = f"/api/v1/datasets/{ds['id']}/resources"

    async def attach() -> dict:
        r = await gw.post(rpath, json={"name": "Пам’ятки", "file_id": src["id"]}, headers=editor)
        assert r.status_code == 201, r.text
        return r.json()

    res = await eventually(attach, timeout=30, interval=0.3)

    async def with_copy() -> dict:
        r = await gw.get(f"{rpath}/{res['id']}", headers=editor)
        assert r.json()["derived"], r.json()
        return r.json()["derived"][0]

    copy = await eventually(with_copy, timeout=90, interval=0.5)
    info = (await gw.get(f"/api/v1/files/{copy['file_id']}/info", headers=editor)).json()
    assert info["derived_from"] == src["id"] and copy["url"] == info["download_url"]
    assert (await api.action(ds["id"], "submit", editor)).status_code == 200
    r = await api.action(ds["id"], "publish", moderator, {"override_reason": "перевірено"})
    assert r.status_code == 200, r.text

    async def in_ckan() -> dict:
        r = await gw.get("/api/3/action/package_show", params={"id": ds["id"]})
        assert r.status_code == 200, r.text
        pkg = r.json()["result"]
        assert any(x.get("derived_from") for x in pkg["resources"]), pkg["resources"]
        return pkg

    pkg = await eventually(in_ckan, timeout=60, interval=0.5)
    [orig] = [x for x in pkg["resources"] if not x.get("derived_from")]
    [csv] = [x for x in pkg["resources"] if x.get("derived_from")]
    assert orig["id"] == res["id"] and orig["format"] == "XLSX"
    assert csv["id"] == copy["file_id"] and csv["derived_from"] == res["id"]
    assert csv["name"] == "Пам’ятки (CSV, автоматично створено з XLSX)"
    assert csv["url"] == copy["url"] and csv["format"] == "CSV"
    assert (csv["size"], csv["hash"]) == (copy["size"], copy["sha256"])
    # the URL serves the UTF-8 CSV, Cyrillic intact (the dataset is public now)
    r = await gw.get("/files/" + copy["url"].split("/files/", 1)[1])
    assert r.status_code == 200 and "Дуб запорізький" in r.content.decode("utf-8")

    r = await gw.get(f"/dataset/{ds['id']}.ttl")
    assert r.status_code == 200
    g = Graph().parse(data=r.content, format="turtle")
    base = system.gateway_url
    dist = URIRef(f"{base}/dataset/{ds['id']}/resource/{copy['file_id']}")
    assert (URIRef(f"{base}/dataset/{ds['id']}"), DCAT.distribution, dist) in g
    assert (dist, DCAT.downloadURL, URIRef(copy["url"])) in g
    assert (
        dist,
        prov.wasDerivedFrom,
        URIRef(f"{base}/dataset/{ds['id']}/resource/{res['id']}"),
    ) in g
    assert (dist, DCTERMS.title, Literal(csv["name"], lang="uk")) in g
    conforms, _report, text = await asyncio.to_thread(
        validate, g, shacl_graph=shapes_graph(), inference="none", allow_warnings=True
    )
    assert conforms, text

    # a new version of the resource: the old copy leaves the export at once
    tag = (await gw.get(f"{rpath}/{res['id']}", headers=editor)).headers["etag"]
    v2 = await upload(
        gw, editor, org["id"], xlsx_bytes([*rows, ["Скеля", "Хортиця", 1800]]), "v2.xlsx"
    )

    async def replace() -> None:
        r = await gw.post(
            f"{rpath}/{res['id']}/versions",
            json={"file_id": v2["id"]},
            headers={**editor, "If-Match": tag},
        )
        assert r.status_code == 201, r.text

    await eventually(replace, timeout=30, interval=0.3)

    async def old_copy_gone() -> None:
        r = await gw.get("/api/3/action/package_show", params={"id": ds["id"]})
        ids = [x["id"] for x in r.json()["result"]["resources"]]
        assert copy["file_id"] not in ids and res["id"] in ids, ids

    await eventually(old_copy_gone, timeout=60, interval=0.5)
    g = Graph().parse(data=(await gw.get(f"/dataset/{ds['id']}.ttl")).content, format="turtle")
    assert (None, DCAT.downloadURL, URIRef(copy["url"])) not in g
