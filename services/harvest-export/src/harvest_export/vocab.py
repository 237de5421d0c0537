"""Vocabularies the export maps to: CKAN's licence register, data.gov.ua's enums, EU NALs.

Copied (not imported) from what the catalog publishes: services never share domain code.
"""

from __future__ import annotations

import uuid

# a fixed namespace for ids we derive (tags, groups): stable across rebuilds and machines
ID_NAMESPACE = uuid.UUID("6f1e9d0a-3c2b-5e4f-8a7b-1c2d3e4f5a6b")

EU = "http://publications.europa.eu/resource/authority/"

# our licence id -> CKAN register entry (ckan/model/license.py ids and opendefinition URLs, so
# ckanext-dcat's licence matcher and CKAN's own register both recognise it) + EU licence NAL
LICENSES: dict[str, dict[str, object]] = {
    "CC-BY-4.0": {
        "id": "cc-by",
        "title": "Creative Commons Attribution",
        "url": "http://www.opendefinition.org/licenses/cc-by",
        "eu": EU + "licence/CC_BY_4_0",
        "licence_type": "http://purl.org/adms/licencetype/Attribution",
        "is_open": True,
    },
    "CC0-1.0": {
        "id": "cc-zero",
        "title": "Creative Commons CCZero",
        "url": "http://www.opendefinition.org/licenses/cc-zero",
        "eu": EU + "licence/CC0",
        "licence_type": "http://purl.org/adms/licencetype/PublicDomain",
        "is_open": True,
    },
    "CC-BY-SA-4.0": {
        "id": "cc-by-sa",
        "title": "Creative Commons Attribution Share-Alike",
        "url": "http://www.opendefinition.org/licenses/cc-by-sa",
        "eu": EU + "licence/CC_BYSA_4_0",
        "licence_type": "http://purl.org/adms/licencetype/ShareAlike",
        "is_open": True,
    },
    "ODbL-1.0": {
        "id": "odc-odbl",
        "title": "Open Data Commons Open Database License (ODbL)",
        "url": "http://www.opendefinition.org/licenses/odc-odbl",
        "eu": EU + "licence/ODC_BL",
        "licence_type": "http://purl.org/adms/licencetype/ShareAlike",
        "is_open": True,
    },
    "ODC-BY-1.0": {
        "id": "odc-by",
        "title": "Open Data Commons Attribution License",
        "url": "http://www.opendefinition.org/licenses/odc-by",
        "eu": EU + "licence/ODC_BY",
        "licence_type": "http://purl.org/adms/licencetype/Attribution",
        "is_open": True,
    },
    "OGL-UA": {
        "id": "other-open",
        "title": "Other (Open)",
        "url": "https://zakon.rada.gov.ua/laws/show/835-2015-%D0%BF",
        "eu": None,
        "licence_type": "http://purl.org/adms/licencetype/Attribution",
        "is_open": True,
    },
}
UNKNOWN_LICENSE = {
    "id": "notspecified",
    "title": "License not specified",
    "url": "http://www.opendefinition.org/licenses/notspecified",
    "eu": None,
    "licence_type": "http://purl.org/adms/licencetype/UnknownIPR",
    "is_open": False,
}

# our update_frequency -> (data.gov.ua API string, EU frequency code)
FREQUENCIES: dict[str, tuple[str, str]] = {
    "more_than_daily": ("more than once a day", "UPDATE_CONT"),
    "daily": ("once a day", "DAILY"),
    "weekly": ("once a week", "WEEKLY"),
    "monthly": ("once a month", "MONTHLY"),
    "quarterly": ("once a quarter", "QUARTERLY"),
    "half_yearly": ("once a half year", "ANNUAL_2"),
    "yearly": ("once a year", "ANNUAL"),
    "on_change": ("immediately after making changes", "UPDATE_CONT"),
    # data.gov.ua shows "Більше не оновлюється" but its key is unknown; "unscheduled" is a key
    # its validator certainly accepts
    "no_longer_updated": ("unscheduled", "NEVER"),
}
DEFAULT_FREQUENCY = ("unscheduled", "IRREG")
DATAGOVUA_FREQUENCIES = sorted({v[0] for v in FREQUENCIES.values()} | {"unscheduled"})

# ISO 639-1 -> (data.gov.ua code, EU language NAL code)
LANGUAGES: dict[str, tuple[str, str]] = {
    "uk": ("ua", "UKR"),
    "en": ("en", "ENG"),
    "ru": ("ru", "RUS"),
    "pl": ("pl", "POL"),
    "ro": ("ro", "RON"),
    "hu": ("hu", "HUN"),
    "bg": ("bg", "BUL"),
    "de": ("de", "DEU"),
    "fr": ("fr", "FRA"),
    "crh": ("ua", "CRH"),
}

THEMES: dict[str, tuple[str, str]] = {
    "AGRI": (
        "Сільське господарство, рибальство, лісове господарство і продовольство",
        "Agriculture, fisheries, forestry and food",
    ),
    "ECON": ("Економіка і фінанси", "Economy and finance"),
    "EDUC": ("Освіта, культура і спорт", "Education, culture and sport"),
    "ENER": ("Енергетика", "Energy"),
    "ENVI": ("Довкілля", "Environment"),
    "GOVE": ("Уряд і публічний сектор", "Government and public sector"),
    "HEAL": ("Здоровʼя", "Health"),
    "INTR": ("Міжнародні питання", "International issues"),
    "JUST": (
        "Правосуддя, правова система і громадська безпека",
        "Justice, legal system and public safety",
    ),
    "REGI": ("Регіони і міста", "Regions and cities"),
    "SOCI": ("Населення і суспільство", "Population and society"),
    "TECH": ("Наука і технології", "Science and technology"),
    "TRAN": ("Транспорт", "Transport"),
}

# upper-case format label -> (EU file-type code, IANA media type)
FORMATS: dict[str, tuple[str, str | None]] = {
    "CSV": ("CSV", "text/csv"),
    "JSON": ("JSON", "application/json"),
    "XML": ("XML", "application/xml"),
    "XLSX": ("XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "XLS": ("XLS", "application/vnd.ms-excel"),
    "ODS": ("ODS", "application/vnd.oasis.opendocument.spreadsheet"),
    "PDF": ("PDF", "application/pdf"),
    "DOCX": ("DOCX", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "DOC": ("DOC", "application/msword"),
    "ZIP": ("ZIP", "application/zip"),
    "GEOJSON": ("GEOJSON", "application/geo+json"),
    "KML": ("KML", "application/vnd.google-earth.kml+xml"),
    "SHP": ("SHP", None),
    "TXT": ("TXT", "text/plain"),
    "HTML": ("HTML", "text/html"),
    "RDF": ("RDF_XML", "application/rdf+xml"),
    "TTL": ("RDF_TURTLE", "text/turtle"),
    "JSONLD": ("JSON_LD", "application/ld+json"),
    "API": ("JSON", "application/json"),
    "PNG": ("PNG", "image/png"),
    "JPEG": ("JPEG", "image/jpeg"),
    "JPG": ("JPEG", "image/jpeg"),
}
OTHER_FORMAT = ("BIN", None)

ACCESS_RIGHTS = {"PUBLIC", "RESTRICTED", "NON_PUBLIC"}

PUBLISHER_TYPE = "http://purl.org/adms/publishertype/LocalAuthority"


def ckan_license(our_id: str | None) -> dict[str, object]:
    return LICENSES.get(our_id or "", UNKNOWN_LICENSE)


def license_register() -> list[dict[str, object]]:
    """CKAN license_list entries (the shape CKAN's License.as_dict gives)."""
    out = []
    for lic in [*LICENSES.values(), UNKNOWN_LICENSE]:
        out.append(
            {
                "id": lic["id"],
                "title": lic["title"],
                "url": lic["url"],
                "status": "active",
                "maintainer": "",
                "family": "",
                "domain_content": False,
                "domain_data": bool(lic["is_open"]),
                "domain_software": False,
                "od_conformance": "approved" if lic["is_open"] else "not reviewed",
                "osd_conformance": "not reviewed",
                "is_generic": lic["id"] in ("other-open", "notspecified"),
                "is_okd_compliant": bool(lic["is_open"]),
                "is_osi_compliant": False,
            }
        )
    return out
