"""Closed vocabularies: licences, EU data themes, update frequencies (and their mappings)."""

from __future__ import annotations

from typing import Any

LICENSES: list[dict[str, Any]] = [
    {
        "id": "CC-BY-4.0",
        "title": "Creative Commons Attribution 4.0",
        "title_uk": "Creative Commons Із зазначенням авторства 4.0",
        "url": "https://creativecommons.org/licenses/by/4.0/",
        "ckan_id": "cc-by",
        "default": True,
    },
    {
        "id": "CC0-1.0",
        "title": "Creative Commons Zero 1.0 (public domain dedication)",
        "title_uk": "Creative Commons Zero 1.0 (передача у суспільне надбання)",
        "url": "https://creativecommons.org/publicdomain/zero/1.0/",
        "ckan_id": "cc-zero",
        "default": False,
    },
    {
        "id": "CC-BY-SA-4.0",
        "title": "Creative Commons Attribution-ShareAlike 4.0",
        "title_uk": "Creative Commons Із зазначенням авторства — Поширення на тих самих умовах 4.0",
        "url": "https://creativecommons.org/licenses/by-sa/4.0/",
        "ckan_id": "cc-by-sa",
        "default": False,
    },
    {
        "id": "ODbL-1.0",
        "title": "Open Data Commons Open Database License 1.0",
        "title_uk": "Відкрита ліцензія на бази даних Open Data Commons 1.0",
        "url": "https://opendatacommons.org/licenses/odbl/1-0/",
        "ckan_id": "odc-odbl",
        "default": False,
    },
    {
        "id": "ODC-BY-1.0",
        "title": "Open Data Commons Attribution License 1.0",
        "title_uk": "Ліцензія Open Data Commons із зазначенням авторства 1.0",
        "url": "https://opendatacommons.org/licenses/by/1-0/",
        "ckan_id": "odc-by",
        "default": False,
    },
    {
        "id": "OGL-UA",
        "title": "Open licence for data published under CMU Resolution 835",
        "title_uk": "Відкрита ліцензія на використання публічної інформації у формі відкритих даних",
        "url": "https://zakon.rada.gov.ua/laws/show/835-2015-%D0%BF",
        "ckan_id": "other-open",
        "default": False,
    },
]
LICENSE_IDS = {lic["id"] for lic in LICENSES}
DEFAULT_LICENSE = "CC-BY-4.0"

_THEME_BASE = "http://publications.europa.eu/resource/authority/data-theme/"
THEMES: list[dict[str, Any]] = [
    {"code": code, "uk": uk, "en": en, "uri": _THEME_BASE + code}
    for code, uk, en in [
        (
            "AGRI",
            "Сільське господарство, рибальство, лісове господарство і продовольство",
            "Agriculture, fisheries, forestry and food",
        ),
        ("ECON", "Економіка і фінанси", "Economy and finance"),
        ("EDUC", "Освіта, культура і спорт", "Education, culture and sport"),
        ("ENER", "Енергетика", "Energy"),
        ("ENVI", "Довкілля", "Environment"),
        ("GOVE", "Уряд і публічний сектор", "Government and public sector"),
        ("HEAL", "Здоров'я", "Health"),
        ("INTR", "Міжнародні питання", "International issues"),
        (
            "JUST",
            "Правосуддя, правова система і громадська безпека",
            "Justice, legal system and public safety",
        ),
        ("REGI", "Регіони і міста", "Regions and cities"),
        ("SOCI", "Населення і суспільство", "Population and society"),
        ("TECH", "Наука і технології", "Science and technology"),
        ("TRAN", "Транспорт", "Transport"),
    ]
]
THEME_CODES = {t["code"] for t in THEMES}

_FREQ_BASE = "http://publications.europa.eu/resource/authority/frequency/"
# code -> (data.gov.ua API value, uk label, en label, EU frequency code, days for freshness)
FREQUENCIES: list[dict[str, Any]] = [
    {"code": code, "datagovua": dg, "uk": uk, "en": en, "eu_uri": _FREQ_BASE + eu, "days": days}
    for code, dg, uk, en, eu, days in [
        (
            "more_than_daily",
            "more than once a day",
            "Більш як один раз на день",
            "More than once a day",
            "CONT",
            1,
        ),
        ("daily", "once a day", "Щодня", "Once a day", "DAILY", 1),
        ("weekly", "once a week", "Щотижня", "Once a week", "WEEKLY", 7),
        ("monthly", "once a month", "Щомісяця", "Once a month", "MONTHLY", 31),
        ("quarterly", "once a quarter", "Щокварталу", "Once a quarter", "QUARTERLY", 91),
        (
            "half_yearly",
            "once a half year",
            "Кожного півріччя",
            "Once a half year",
            "ANNUAL_2",
            182,
        ),
        ("yearly", "once a year", "Щороку", "Once a year", "ANNUAL", 364),
        (
            "on_change",
            "immediately after making changes",
            "Відразу після внесення змін",
            "Immediately after making changes",
            "UPDATE_CONT",
            None,
        ),
        (
            "no_longer_updated",
            "no longer updated",
            "Більше не оновлюється",
            "No longer updated",
            "NEVER",
            None,
        ),
    ]
]
FREQUENCY_CODES = {f["code"] for f in FREQUENCIES}
FREQUENCY_DAYS = {f["code"]: f["days"] for f in FREQUENCIES}
FREQUENCY_BY_UK = {f["uk"].lower(): f["code"] for f in FREQUENCIES}

LANGUAGES = {"uk", "en", "ru", "pl", "de", "fr", "crh"}

VOCABULARIES: dict[str, list[dict[str, Any]]] = {
    "licenses": LICENSES,
    "licences": LICENSES,
    "themes": THEMES,
    "frequencies": FREQUENCIES,
    "update-frequencies": FREQUENCIES,
}
