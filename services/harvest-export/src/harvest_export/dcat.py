"""DCAT-AP (3.0.1 by default, 2.1.1 on request) and schema.org JSON-LD with rdflib.

Every IRI from an EU vocabulary is typed and placed in its concept scheme, so the range and
controlled-vocabulary shapes pass without loading the NALs. Literals carry one language each.
"""

from __future__ import annotations

import functools
import json
import logging
from datetime import date, datetime
from pathlib import Path
from typing import Any

from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, OWL, PROV, RDF, RDFS, SKOS, XSD

from harvest_export import vocab
from harvest_export.ckan import parse_dt

log = logging.getLogger("harvest_export.dcat")

DCATAP = Namespace("http://data.europa.eu/r5r/")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
SPDX = Namespace("http://spdx.org/rdf/terms#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
SDO = Namespace("http://schema.org/")

EU = vocab.EU
SCHEMES = {
    "theme": URIRef(EU + "data-theme"),
    "frequency": URIRef(EU + "frequency"),
    "language": URIRef(EU + "language"),
    "file-type": URIRef(EU + "file-type"),
    "access-right": URIRef(EU + "access-right"),
    "publishertype": URIRef("http://purl.org/adms/publishertype/1.0"),
    "licencetype": URIRef("http://purl.org/adms/licencetype/1.0"),
}

SCHEME_TITLES = {
    "theme": "Data theme",
    "frequency": "Frequency",
    "language": "Language",
    "file-type": "File type",
    "access-right": "Access right",
    "publishertype": "Publisher type",
    "licencetype": "Licence type",
}
DCAT_VERSION = URIRef(str(DCAT) + "version")

FORMATS = {
    "ttl": ("turtle", "text/turtle"),
    "rdf": ("xml", "application/rdf+xml"),
    "xml": ("xml", "application/rdf+xml"),
    "jsonld": ("json-ld", "application/ld+json"),
    "n3": ("n3", "text/n3"),
}
PROFILES = {"dcat_ap_3": "3", "euro_dcat_ap_3": "3", "dcat_ap_2": "2", "euro_dcat_ap_2": "2"}

SHAPES_DIR = Path(__file__).parent / "shapes"


def new_graph() -> Graph:
    g = Graph()
    for prefix, ns in (
        ("dcat", DCAT),
        ("dct", DCTERMS),
        ("foaf", FOAF),
        ("skos", SKOS),
        ("vcard", VCARD),
        ("dcatap", DCATAP),
        ("hydra", HYDRA),
        ("spdx", SPDX),
        ("adms", ADMS),
        ("owl", OWL),
        ("prov", PROV),
        ("xsd", XSD),
    ):
        g.bind(prefix, ns)
    return g


def _concept(
    g: Graph,
    iri: str,
    cls: URIRef | None,
    scheme: str,
    label_uk: str | None = None,
    label_en: str | None = None,
) -> URIRef:
    node = URIRef(iri)
    if cls is not None:
        g.add((node, RDF.type, cls))
    g.add((node, RDF.type, SKOS.Concept))
    g.add((node, SKOS.inScheme, SCHEMES[scheme]))
    g.add((SCHEMES[scheme], RDF.type, SKOS.ConceptScheme))
    g.add((SCHEMES[scheme], DCTERMS.title, Literal(SCHEME_TITLES[scheme], lang="en")))
    g.add((node, SKOS.prefLabel, Literal(label_uk or iri.rsplit("/", 1)[-1], lang="uk")))
    if label_en:
        g.add((node, SKOS.prefLabel, Literal(label_en, lang="en")))
    return node


def _dt(value: Any) -> Literal | None:
    if value is None:
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return Literal(value.isoformat(), datatype=XSD.date)
    s = str(value)
    if len(s) == 10:
        return Literal(s, datatype=XSD.date)
    d = parse_dt(s)
    if d is None:
        return None
    # CKAN's naive UTC made explicit: offsets are fine in RDF
    return Literal(d.strftime("%Y-%m-%dT%H:%M:%S") + "Z", datatype=XSD.dateTime)


def _page(g: Graph, url: str | None) -> URIRef | None:
    if not url:
        return None
    node = URIRef(url)
    g.add((node, RDF.type, FOAF.Document))
    return node


def _resource(g: Graph, url: str) -> URIRef:
    node = URIRef(url)
    g.add((node, RDF.type, RDFS.Resource))
    return node


def agent(
    g: Graph,
    iri: str,
    name: str,
    name_en: str | None = None,
    email: str | None = None,
    homepage: str | None = None,
    identifier: str | None = None,
) -> URIRef:
    node = URIRef(iri)
    g.add((node, RDF.type, FOAF.Agent))
    g.add((node, RDF.type, FOAF.Organization))
    g.add((node, FOAF.name, Literal(name, lang="uk")))
    if name_en:
        g.add((node, FOAF.name, Literal(name_en, lang="en")))
    g.add(
        (
            node,
            DCTERMS.type,
            _concept(
                g,
                vocab.PUBLISHER_TYPE,
                None,
                "publishertype",
                "Місцевий орган влади",
                "Local Authority",
            ),
        )
    )
    if email:
        g.add((node, FOAF.mbox, URIRef("mailto:" + email)))
    if homepage and homepage.startswith("http"):
        g.add((node, FOAF.homepage, _page(g, homepage)))
    if identifier:
        g.add((node, DCTERMS.identifier, Literal(identifier)))
    return node


def add_dataset(
    g: Graph,
    pkg: dict[str, Any],
    doc: dict[str, Any],
    org_doc: dict[str, Any],
    *,
    base: str,
    profile: str = "3",
) -> URIRef:
    """Add one dataset (and its distributions) from its package dict and catalog document."""
    base = base.rstrip("/")
    ds = URIRef(f"{base}/dataset/{pkg['id']}")
    g.add((ds, RDF.type, DCAT.Dataset))
    g.add((ds, DCTERMS.title, Literal(pkg["title"], lang="uk")))
    g.add((ds, DCTERMS.description, Literal(pkg["notes"], lang="uk")))
    if doc.get("title_en"):
        g.add((ds, DCTERMS.title, Literal(doc["title_en"], lang="en")))
    if doc.get("description_en"):
        g.add((ds, DCTERMS.description, Literal(doc["description_en"], lang="en")))
    g.add((ds, DCTERMS.identifier, Literal(pkg["id"])))
    for kw in doc.get("keywords") or []:
        if isinstance(kw, str) and kw.strip():
            g.add((ds, DCAT.keyword, Literal(kw.strip(), lang="uk")))
    for code in doc.get("themes") or []:
        if code in vocab.THEMES:
            uk, en = vocab.THEMES[code]
            g.add((ds, DCAT.theme, _concept(g, f"{EU}data-theme/{code}", None, "theme", uk, en)))
    issued = _dt(doc.get("first_published_at") or pkg.get("metadata_created"))
    if issued is not None:
        g.add((ds, DCTERMS.issued, issued))
    modified = _dt(pkg.get("metadata_modified"))
    if modified is not None:
        g.add((ds, DCTERMS.modified, modified))
    _dg, eu_freq = vocab.FREQUENCIES.get(doc.get("update_frequency") or "", vocab.DEFAULT_FREQUENCY)
    g.add(
        (
            ds,
            DCTERMS.accrualPeriodicity,
            _concept(g, f"{EU}frequency/{eu_freq}", DCTERMS.Frequency, "frequency"),
        )
    )
    for code in doc.get("language") or ["uk"]:
        eu_lang = vocab.LANGUAGES.get(code, ("ua", "UKR"))[1]
        g.add(
            (
                ds,
                DCTERMS.language,
                _concept(g, f"{EU}language/{eu_lang}", DCTERMS.LinguisticSystem, "language"),
            )
        )
    g.add((ds, DCAT.landingPage, _page(g, pkg["url"])))
    access = (
        doc.get("access_rights") if doc.get("access_rights") in vocab.ACCESS_RIGHTS else "PUBLIC"
    )
    g.add(
        (
            ds,
            DCTERMS.accessRights,
            _concept(g, f"{EU}access-right/{access}", DCTERMS.RightsStatement, "access-right"),
        )
    )
    org = pkg["organization"]
    g.add(
        (
            ds,
            DCTERMS.publisher,
            agent(
                g,
                f"{base}/organization/{org['id']}",
                org["title"],
                org_doc.get("title_en"),
                pkg.get("author_email"),
                org_doc.get("website"),
                org_doc.get("edrpou"),
            ),
        )
    )
    if pkg.get("maintainer") or pkg.get("maintainer_email"):
        cp = URIRef(f"{base}/dataset/{pkg['id']}#contact")
        g.add((cp, RDF.type, VCARD.Kind))
        g.add((cp, RDF.type, VCARD.Individual))
        g.add((cp, VCARD.fn, Literal(pkg.get("maintainer") or org["title"], lang="uk")))
        if pkg.get("maintainer_email"):
            g.add((cp, VCARD.hasEmail, URIRef("mailto:" + pkg["maintainer_email"])))
        g.add((ds, DCAT.contactPoint, cp))
    if doc.get("temporal_start") or doc.get("temporal_end"):
        period = URIRef(f"{base}/dataset/{pkg['id']}#temporal")
        g.add((period, RDF.type, DCTERMS.PeriodOfTime))
        if doc.get("temporal_start"):
            g.add((period, DCAT.startDate, _dt(str(doc["temporal_start"])[:10])))
        if doc.get("temporal_end"):
            g.add((period, DCAT.endDate, _dt(str(doc["temporal_end"])[:10])))
        g.add((ds, DCTERMS.temporal, period))
    if doc.get("spatial_uri") and str(doc["spatial_uri"]).startswith("http"):
        loc = URIRef(doc["spatial_uri"])
        g.add((loc, RDF.type, DCTERMS.Location))
        g.add((ds, DCTERMS.spatial, loc))
    if pkg.get("version"):
        g.add((ds, DCAT_VERSION if profile == "3" else OWL.versionInfo, Literal(pkg["version"])))
    if doc.get("structure_url") and str(doc["structure_url"]).startswith("http"):
        g.add((ds, FOAF.page, _page(g, doc["structure_url"])))
    lic = vocab.ckan_license(doc.get("license_id"))
    for res in pkg["resources"]:
        dist = URIRef(f"{base}/dataset/{pkg['id']}/resource/{res['id']}")
        g.add((ds, DCAT.distribution, dist))
        g.add((dist, RDF.type, DCAT.Distribution))
        g.add((dist, DCTERMS.title, Literal(res["name"], lang="uk")))
        if res.get("description"):
            g.add((dist, DCTERMS.description, Literal(res["description"], lang="uk")))
        if res.get("derived_from"):  # a copy the portal made of another distribution's file
            src = URIRef(f"{base}/dataset/{pkg['id']}/resource/{res['derived_from']}")
            g.add((dist, PROV.wasDerivedFrom, src))
        g.add((dist, DCAT.accessURL, _resource(g, res["url"])))
        g.add((dist, DCAT.downloadURL, _resource(g, res["url"])))
        ft, _media = vocab.FORMATS.get(res.get("format") or "", vocab.OTHER_FORMAT)
        g.add(
            (
                dist,
                DCTERMS.format,
                _concept(g, f"{EU}file-type/{ft}", DCTERMS.MediaTypeOrExtent, "file-type"),
            )
        )
        mimetype = (res.get("mimetype") or "").split(";", 1)[0].strip()  # no parameters
        if "/" in mimetype and " " not in mimetype:
            mt = URIRef("http://www.iana.org/assignments/media-types/" + mimetype)
            g.add((mt, RDF.type, DCTERMS.MediaType))
            g.add((dist, DCAT.mediaType, mt))
        if res.get("size") is not None:
            dtype = XSD.nonNegativeInteger if profile == "3" else XSD.decimal
            g.add((dist, DCAT.byteSize, Literal(str(res["size"]), datatype=dtype)))
        lic_iri = URIRef(str(lic["eu"] or lic["url"]))
        g.add((lic_iri, RDF.type, DCTERMS.LicenseDocument))
        g.add((lic_iri, DCTERMS.title, Literal(str(lic["title"]))))
        g.add((lic_iri, DCTERMS.type, _concept(g, str(lic["licence_type"]), None, "licencetype")))
        g.add((dist, DCTERMS.license, lic_iri))
        for key, prop in (("created", DCTERMS.issued), ("metadata_modified", DCTERMS.modified)):
            lit = _dt(res.get(key))
            if lit is not None:
                g.add((dist, prop, lit))
        # 2.1.1 allows only SHA-1 checksums; we keep SHA-256, so the checksum is a 3.0 feature
        if profile == "3" and res.get("hash") and len(res["hash"]) == 64:
            ck = URIRef(f"{base}/dataset/{pkg['id']}/resource/{res['id']}#checksum")
            g.add((ck, RDF.type, SPDX.Checksum))
            alg = URIRef("https://spdx.org/rdf/terms#checksumAlgorithm_sha256")
            g.add((alg, RDF.type, SPDX.ChecksumAlgorithm))
            g.add((ck, SPDX.algorithm, alg))
            g.add((ck, SPDX.checksumValue, Literal(res["hash"], datatype=XSD.hexBinary)))
            g.add((dist, SPDX.checksum, ck))
    return ds


def add_catalog(
    g: Graph,
    *,
    base: str,
    title: str,
    description: str,
    publisher_name: str,
    modified: datetime | None,
    datasets: list[URIRef],
) -> URIRef:
    base = base.rstrip("/")
    cat = URIRef(f"{base}/catalog")
    g.add((cat, RDF.type, DCAT.Catalog))
    g.add((cat, DCTERMS.title, Literal(title, lang="uk")))
    g.add((cat, DCTERMS.description, Literal(description, lang="uk")))
    g.add((cat, DCTERMS.publisher, agent(g, f"{base}/organization/city", publisher_name)))
    g.add((cat, FOAF.homepage, _page(g, base + "/")))
    g.add(
        (
            cat,
            DCTERMS.language,
            _concept(g, f"{EU}language/UKR", DCTERMS.LinguisticSystem, "language"),
        )
    )
    g.add((cat, DCAT.themeTaxonomy, SCHEMES["theme"]))
    g.add((SCHEMES["theme"], RDF.type, SKOS.ConceptScheme))
    g.add((SCHEMES["theme"], DCTERMS.title, Literal(SCHEME_TITLES["theme"], lang="en")))
    if modified is not None:
        g.add((cat, DCTERMS.modified, _dt(modified)))
    for ds in datasets:
        g.add((cat, DCAT.dataset, ds))
    return cat


def add_paging(
    g: Graph,
    *,
    page_url,
    first: str,
    last: str,
    next_: str | None,
    previous: str | None,
    total: int,
    per_page: int,
) -> None:
    node = URIRef(page_url)
    g.add((node, RDF.type, HYDRA.PagedCollection))
    g.add((node, HYDRA.totalItems, Literal(total, datatype=XSD.integer)))
    g.add((node, HYDRA.itemsPerPage, Literal(per_page, datatype=XSD.integer)))
    g.add((node, HYDRA.first, Literal(first)))
    g.add((node, HYDRA.firstPage, Literal(first)))
    g.add((node, HYDRA.last, Literal(last)))
    g.add((node, HYDRA.lastPage, Literal(last)))
    if next_:
        g.add((node, HYDRA.next, Literal(next_)))
        g.add((node, HYDRA.nextPage, Literal(next_)))
    if previous:
        g.add((node, HYDRA.previous, Literal(previous)))
        g.add((node, HYDRA.previousPage, Literal(previous)))


def serialize(g: Graph, fmt: str) -> bytes:
    rdflib_fmt, _ = FORMATS[fmt]
    if rdflib_fmt == "json-ld":
        return g.serialize(format="json-ld", auto_compact=True).encode()
    return g.serialize(format=rdflib_fmt, encoding="utf-8")


# --- validation -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def shapes_graph() -> Graph:
    g = Graph()
    for name in ("shapes.ttl", "range.ttl", "mdr-vocabularies.shape.ttl"):
        g.parse(SHAPES_DIR / name, format="turtle")
    return g


def validate(g: Graph) -> list[str]:
    """SHACL Violations (messages) of a graph against the DCAT-AP 3.0.1 shapes; [] when valid."""
    from pyshacl import validate as shacl_validate

    _conforms, results, _text = shacl_validate(
        g, shacl_graph=shapes_graph(), inference="none", advanced=False, allow_warnings=True
    )
    SH = Namespace("http://www.w3.org/ns/shacl#")
    out = []
    # top-level results only: nested sh:detail results carry a default severity of Violation
    for r in results.objects(None, SH.result):
        if results.value(r, SH.resultSeverity) == SH.Violation:
            out.append(
                f"{results.value(r, SH.focusNode)} {results.value(r, SH.resultPath)}: "
                f"{results.value(r, SH.resultMessage)}"
            )
    return out


# --- schema.org ---------------------------------------------------------------------------------


def schema_org(pkg: dict[str, Any], doc: dict[str, Any], *, base: str) -> dict[str, Any]:
    """schema.org Dataset JSON-LD (Google Dataset Search)."""
    lic = vocab.ckan_license(doc.get("license_id"))
    org = pkg["organization"]
    out: dict[str, Any] = {
        "@context": "https://schema.org/",
        "@type": "Dataset",
        "@id": f"{base.rstrip('/')}/dataset/{pkg['id']}",
        "name": pkg["title"],
        "description": pkg["notes"],
        "url": pkg["url"],
        "identifier": pkg["id"],
        "keywords": [k for k in doc.get("keywords") or [] if isinstance(k, str)],
        "inLanguage": [
            vocab.LANGUAGES.get(c, ("ua", "UKR"))[0] and c for c in doc.get("language") or ["uk"]
        ],
        "license": str(lic["eu"] or lic["url"]),
        "isAccessibleForFree": True,
        "dateCreated": pkg["metadata_created"][:19],
        "dateModified": pkg["metadata_modified"][:19],
        "creator": {
            "@type": "Organization",
            "name": org["title"],
            "url": f"{base.rstrip('/')}/organization/{org['id']}",
        },
        "publisher": {"@type": "Organization", "name": org["title"]},
        "distribution": [
            {
                "@type": "DataDownload",
                "name": r["name"],
                "contentUrl": r["url"],
                "encodingFormat": r.get("mimetype") or r.get("format"),
                **({"contentSize": str(r["size"])} if r.get("size") is not None else {}),
            }
            for r in pkg["resources"]
        ],
    }
    if doc.get("spatial"):
        out["spatialCoverage"] = doc["spatial"]
    if doc.get("temporal_start") or doc.get("temporal_end"):
        out["temporalCoverage"] = (
            f"{doc.get('temporal_start') or '..'}/{doc.get('temporal_end') or '..'}"
        )
    if pkg.get("version"):
        out["version"] = pkg["version"]
    return out


def dumps_jsonld(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=None)
