"""DCAT-AP: the whole catalog, walked through Hydra next links, validated with pyshacl against
the official DCAT-AP 3.0.1 shapes in Turtle, RDF/XML and JSON-LD; per-dataset documents,
profiles, HEAD, schema.org and the sitemap; one bad record never breaks the catalog."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from xml.etree import ElementTree

import pytest
import requests
from harvest_export import dcat as dcat_module
from harvest_export import testing as T
from pyshacl import validate
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF, XSD

pytestmark = pytest.mark.asyncio(loop_scope="session")

DATA = Path(__file__).parent / "data"
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
T_EU = "http://publications.europa.eu/resource/authority/"
SH = Namespace("http://www.w3.org/ns/shacl#")
RDFLIB_FORMAT = {"ttl": "turtle", "rdf": "xml", "jsonld": "json-ld", "n3": "n3", "xml": "xml"}
CONTENT_TYPE = {
    "ttl": "text/turtle",
    "rdf": "application/rdf+xml",
    "xml": "application/rdf+xml",
    "jsonld": "application/ld+json",
    "n3": "text/n3",
}


def shapes(*names: str) -> Graph:
    g = Graph()
    for name in names:
        g.parse(DATA / name, format="turtle")
    return g


SHAPES_3 = ("shapes.ttl", "range.ttl", "mdr-vocabularies.shape.ttl")


def violations(data: Graph, shacl: Graph) -> list[str]:
    _conforms, report, _text = validate(
        data, shacl_graph=shacl, inference="none", allow_warnings=True
    )
    return [
        f"{report.value(r, SH.focusNode)} {report.value(r, SH.resultPath)} "
        f"{report.value(r, SH.resultMessage)}"
        for r in report.objects(None, SH.result)
        if report.value(r, SH.resultSeverity) == SH.Violation
    ]


def walk(url: str) -> tuple[Graph, list[str], list[requests.Response]]:
    """Follow hydra:next (then hydra:nextPage) from the first page to the end, as ckanext-dcat's
    RDF harvester does, parsing each page with the format its Content-Type names."""
    merged = Graph()
    pages: list[str] = []
    responses = []
    seen = set()
    while url:
        assert url not in seen, f"next link loops back to {url}"
        seen.add(url)
        r = requests.get(url, timeout=60, headers={"User-Agent": "dcat-walker/1"})
        assert r.status_code == 200, r.text[:300]
        media = r.headers["content-type"].split(";")[0].strip()
        page = Graph().parse(data=r.content, format=media)
        merged += page
        pages.append(url)
        responses.append(r)
        nxt = None
        for node in page.subjects(RDF.type, HYDRA.PagedCollection):
            nxt = page.value(node, HYDRA.next) or page.value(node, HYDRA.nextPage)
        url = str(nxt) if nxt else ""
    return merged, pages, responses


@pytest.mark.parametrize("fmt", ["ttl", "rdf", "jsonld"])
async def test_whole_catalog_validates_and_pages_to_the_end(hx, catalog350, fmt):
    graph, pages, responses = await asyncio.to_thread(walk, f"{hx.url}/catalog.{fmt}")
    for r in responses:
        assert r.headers["content-type"].split(";")[0] == CONTENT_TYPE[fmt]
    datasets = {str(s) for s in graph.subjects(RDF.type, DCAT.Dataset)}
    served = (await hx.action("package_list")).json()["result"]
    assert len(datasets) == len(served) >= 350
    assert {f"{hx.url}/dataset/{i}" for i in catalog350["ids"]} <= datasets
    assert not any(f"{hx.url}/dataset/{i}" in datasets for i in catalog350["hidden"])
    assert len(pages) == -(-len(served) // 100)
    # every page is 100 datasets (but the last), and a catalog with its publisher
    cat = URIRef(f"{hx.url}/catalog")
    assert graph.value(cat, DCTERMS.publisher) is not None
    assert len(set(graph.objects(cat, DCAT.dataset))) == len(datasets)
    problems = await asyncio.to_thread(violations, graph, shapes(*SHAPES_3))
    assert problems == []


async def test_profiles_paging_filters_and_head(hx, catalog350):
    def calls() -> dict:
        r = {}
        r["p2"] = requests.get(f"{hx.url}/catalog.ttl?profiles=euro_dcat_ap_2", timeout=60)
        r["p3"] = requests.get(f"{hx.url}/catalog.ttl", timeout=60)
        r["head"] = requests.head(f"{hx.url}/catalog.rdf", timeout=60)
        r["xml"] = requests.get(f"{hx.url}/catalog.xml?page=2", timeout=60)
        r["page0"] = requests.get(f"{hx.url}/catalog.ttl?page=0", timeout=60)
        r["page_text"] = requests.get(f"{hx.url}/catalog.ttl?page=друга", timeout=60)
        r["bad_since"] = requests.get(f"{hx.url}/catalog.ttl?modified_since=учора", timeout=60)
        r["bad_profile"] = requests.get(f"{hx.url}/catalog.ttl?profiles=mine", timeout=60)
        r["beyond"] = requests.get(f"{hx.url}/catalog.ttl?page=999", timeout=60)
        r["since"] = requests.get(
            f"{hx.url}/catalog.jsonld",
            params={"modified_since": "2099-01-01T00:00:00Z"},
            timeout=60,
        )
        r["fmt"] = requests.get(f"{hx.url}/catalog.csv", timeout=60)
        return r

    r = await asyncio.to_thread(calls)
    g2 = Graph().parse(data=r["p2"].content, format="turtle")
    g3 = Graph().parse(data=r["p3"].content, format="turtle")
    sizes2 = {o.datatype for o in g2.objects(None, DCAT.byteSize)}
    sizes3 = {o.datatype for o in g3.objects(None, DCAT.byteSize)}
    assert sizes2 == {XSD.decimal} and sizes3 == {XSD.nonNegativeInteger}
    assert violations(g2, shapes("dcat-ap_2.1.1_shacl_shapes.ttl")) == []
    # the 3.0 datatype is what 2.1.1 rejects: the switch matters
    assert violations(g3, shapes("dcat-ap_2.1.1_shacl_shapes.ttl"))

    assert r["head"].status_code == 200
    assert r["head"].headers["content-type"] == "application/rdf+xml"
    assert int(r["head"].headers["content-length"]) > 1000 and r["head"].content == b""
    gx = Graph().parse(data=r["xml"].content, format="xml")
    paging = next(gx.subjects(RDF.type, HYDRA.PagedCollection))
    assert str(gx.value(paging, HYDRA.previous)).endswith("catalog.xml?page=1")
    assert gx.value(paging, HYDRA.totalItems) == Literal(
        int(gx.value(paging, HYDRA.totalItems)), datatype=XSD.integer
    )
    for key in ("page0", "page_text", "bad_since", "bad_profile"):
        assert r[key].status_code == 409, key
    gb = Graph().parse(data=r["beyond"].content, format="turtle")
    assert not list(gb.subjects(RDF.type, DCAT.Dataset))
    assert not list(gb.objects(None, HYDRA.next))  # never a next link past the end
    gs = Graph().parse(data=r["since"].content, format="json-ld")
    assert not list(gs.subjects(RDF.type, DCAT.Dataset))
    assert r["fmt"].status_code == 404


async def test_dataset_documents_schema_org_and_sitemap(hx, catalog350):
    doc = catalog350["docs"][2]
    pkg = (await hx.action("package_show", id=doc["id"])).json()["result"]
    uri = URIRef(f"{hx.url}/dataset/{doc['id']}")
    for fmt in ("ttl", "rdf", "jsonld", "n3"):
        for ref in (doc["id"], pkg["name"]):
            r = await hx.client.get(f"/dataset/{ref}.{fmt}")
            assert r.status_code == 200
            assert r.headers["content-type"].split(";")[0] == CONTENT_TYPE[fmt]
            g = Graph().parse(data=r.content, format=RDFLIB_FORMAT[fmt])
            assert (uri, RDF.type, DCAT.Dataset) in g
            titles = {(str(t), t.language) for t in g.objects(uri, DCTERMS.title)}
            assert (doc["title"], "uk") in titles and (doc["title_en"], "en") in titles
            assert all(t.language for t in g.objects(uri, DCTERMS.description))
    head = await hx.client.head(f"/dataset/{pkg['name']}.ttl")
    assert head.status_code == 200 and head.headers["content-type"].startswith("text/turtle")
    assert (await hx.client.get("/dataset/zp-nothing.ttl")).status_code == 404
    assert (await hx.client.get(f"/dataset/{catalog350['docs'][0]['id']}.pdf")).status_code == 404
    hidden = next(iter(catalog350["hidden"]))
    assert (await hx.client.get(f"/dataset/{hidden}.ttl")).status_code == 404

    so = await hx.client.get(f"/dataset/{pkg['name']}/schemaorg.jsonld")
    assert so.status_code == 200 and so.headers["content-type"] == "application/ld+json"
    body = so.json()
    assert body["@type"] == "Dataset" and body["name"] == doc["title"]
    assert body["distribution"][0]["contentUrl"].startswith(hx.url + "/files/")
    so2 = await hx.client.get(f"/dataset/{doc['id']}.jsonld", params={"profiles": "schemaorg"})
    assert so2.json() == body
    # schema.org parses as RDF with the schema.org vocabulary (context inlined: no network here)
    assert body["@context"] == "https://schema.org/"
    offline = json.dumps({**body, "@context": {"@vocab": "http://schema.org/"}})
    g = Graph().parse(data=offline, format="json-ld")
    assert (URIRef(body["@id"]), RDF.type, URIRef("http://schema.org/Dataset")) in g

    sm = await hx.client.get("/sitemap.xml")
    assert sm.status_code == 200 and sm.headers["content-type"].startswith("application/xml")
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    locs = [e.text for e in ElementTree.fromstring(sm.content).findall("s:url/s:loc", ns)]
    assert pkg["url"] in locs and len(locs) == len(set(locs)) >= 350


async def test_one_invalid_record_is_counted_and_never_breaks_the_catalog(
    hx, catalog350, monkeypatch
):
    """A dataset whose DCAT-AP fails the shapes when built: left out if it never validated,
    shown as it last validated otherwise; the catalog stays valid."""
    org = catalog350["orgs"][0]
    good = T.dataset(org, 7)
    assert await hx.feed_dataset(good)  # validated with pyshacl as it is built
    shown = (await hx.action("package_show", id=good["id"])).json()["result"]
    never = T.dataset(org, 8)

    real_add = dcat_module.add_dataset

    def broken(g, pkg, doc, org_doc, **kw):
        node = real_add(g, pkg, doc, org_doc, **kw)
        g.remove((node, DCTERMS.title, None))  # the mandatory title goes missing
        return node

    monkeypatch.setattr(dcat_module, "add_dataset", broken)
    assert await hx.feed_dataset(never)
    assert await hx.feed_dataset(T.bump(good, title="Зміна, що не пройшла перевірку"))
    monkeypatch.setattr(dcat_module, "add_dataset", real_add)

    assert (await hx.action("package_show", id=never["id"])).status_code == 404
    still = (await hx.action("package_show", id=good["id"])).json()["result"]
    assert still == shown
    moderator = hx.token(roles=["moderator"])
    status = (await hx.client.get("/api/v1/harvest/status", headers=moderator)).json()
    assert status["invalid"] >= 2
    r = await hx.client.get(f"/dataset/{good['id']}.ttl")
    g = Graph().parse(data=r.content, format="turtle")
    assert violations(g, shapes(*SHAPES_3)) == []
    # the next valid change is served again
    assert await hx.feed_dataset(T.bump(T.bump(good), title="Виправлена назва"))
    fixed = (await hx.action("package_show", id=good["id"])).json()["result"]
    assert fixed["title"] == "Виправлена назва"
    assert fixed["metadata_modified"] > shown["metadata_modified"]


PROV = Namespace("http://www.w3.org/ns/prov#")
SPDX = Namespace("http://spdx.org/rdf/terms#")


async def test_derived_csv_is_a_distribution_and_a_marked_ckan_resource(hx):
    """Issue 5: the UTF-8 CSV the portal made of an XLSX is one more dcat:Distribution (CSV from
    the EU file types, text/csv, byte size, SHA-256, prov:wasDerivedFrom the XLSX distribution)
    and one more CKAN resource marked ``derived_from``; SHACL stays clean; a new file version
    (the copy no longer in the document) drops both."""
    org = T.organization()
    assert await hx.feed_org(org)
    doc = T.dataset(org, 0)
    xlsx = doc["resources"][0]
    xlsx.update(name="Бюджет ’24 (таблиця)", format="XLSX", position=0)
    fid = "5b4cd3de-6f8e-5c6a-9e51-3c3d8b0c6a11"
    copy = {
        "file_id": fid,
        "format": "CSV",
        "media_type": "text/csv; charset=utf-8",
        "name": "Бюджет ’24.csv",
        "size": 4321,
        "sha256": "ab" * 32,
        "url": f"/files/{fid}/%D0%91%D1%8E%D0%B4%D0%B6%D0%B5%D1%82.csv",
        "created_at": T.now().isoformat(),
    }
    xlsx["derived"] = [copy]
    assert await hx.feed_dataset(doc)

    pkg = (await hx.action("package_show", id=doc["id"])).json()["result"]
    originals = [r for r in pkg["resources"] if not r.get("derived_from")]
    [derived] = [r for r in pkg["resources"] if r.get("derived_from")]
    assert len(originals) == 2 and pkg["num_resources"] == 3
    assert derived["id"] == fid and derived["derived_from"] == xlsx["id"]
    assert derived["position"] == 2 and derived["format"] == "CSV"
    assert derived["name"] == "Бюджет ’24 (таблиця) (CSV, автоматично створено з XLSX)"
    assert derived["url"] == hx.url + copy["url"] and derived["mimetype"] == "text/csv"
    assert derived["size"] == 4321 and derived["hash"] == "ab" * 32
    r = await hx.action("resource_show", id=fid)
    assert r.status_code == 200 and r.json()["result"]["derived_from"] == xlsx["id"]
    found = (await hx.action("package_search", fq=f"res_format:CSV id:{doc['id']}")).json()
    assert found["result"]["count"] == 1

    r = await hx.client.get(f"/dataset/{doc['id']}.ttl")
    assert r.status_code == 200
    g = Graph().parse(data=r.content, format="turtle")
    ds = URIRef(f"{hx.url}/dataset/{doc['id']}")
    dist = URIRef(f"{hx.url}/dataset/{doc['id']}/resource/{fid}")
    source = URIRef(f"{hx.url}/dataset/{doc['id']}/resource/{xlsx['id']}")
    assert (ds, DCAT.distribution, dist) in g and (ds, DCAT.distribution, source) in g
    assert (dist, PROV.wasDerivedFrom, source) in g
    assert (dist, DCTERMS.format, URIRef(f"{T_EU}file-type/CSV")) in g
    assert (
        dist,
        DCAT.mediaType,
        URIRef("http://www.iana.org/assignments/media-types/text/csv"),
    ) in g
    assert (dist, DCAT.downloadURL, URIRef(hx.url + copy["url"])) in g
    assert g.value(dist, DCAT.byteSize) == Literal("4321", datatype=XSD.nonNegativeInteger)
    ck = g.value(dist, SPDX.checksum)
    assert str(g.value(ck, SPDX.checksumValue)) == "ab" * 32
    assert (dist, DCTERMS.title, Literal(derived["name"], lang="uk")) in g
    problems = await asyncio.to_thread(violations, g, shapes(*SHAPES_3))
    assert problems == []

    # a new version of the resource: another file, no copy yet
    before = pkg["metadata_modified"]
    assert await hx.feed_dataset(
        T.bump(doc, resources=[{**xlsx, "derived": [], "version": 2}, doc["resources"][1]])
    )
    pkg = (await hx.action("package_show", id=doc["id"])).json()["result"]
    assert [r for r in pkg["resources"] if r.get("derived_from")] == []
    assert pkg["metadata_modified"] > before
    g = Graph().parse(data=(await hx.client.get(f"/dataset/{doc['id']}.ttl")).content)
    assert (ds, DCAT.distribution, dist) not in g
    assert (await hx.action("resource_show", id=fid)).status_code == 404
