"""CKAN 2.9-2.11 shaped dicts (package, resource, organization, group, tag) from catalog documents.

Rules honoured here (see docs/harvest-export.md and shared/design/harvest-interop.md):
naive-UTC microsecond timestamps, UUID ids, ASCII slugs, tags valid for CKAN's
``tag_name_validator`` (original text kept in an extra), single valid emails, absolute URLs,
data.gov.ua's top-level fields, every list key present.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urljoin

from harvest_export import vocab

TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
NAME_RE = re.compile(r"^[a-z0-9_-]{2,100}$")
# CKAN's tag_name_validator: r'[\w \-.]*$' with re.UNICODE, length 2..100
TAG_RE = re.compile(r"^[\w \-.]*$", re.UNICODE)
# the HTML5 e-mail pattern CKAN's email_validator uses
EMAIL_RE = re.compile(
    r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+$"
)
# apostrophe look-alikes; U+02BC (MODIFIER LETTER APOSTROPHE, the Ukrainian apostrophe) is a
# letter (Lm), so \w accepts it: "м'ясо" becomes "мʼясо", valid for CKAN and still readable
APOSTROPHES = "'\u2019\u2018`\u00b4\u02b9\u0301"
PURPOSE_MAX = 512
TITLE_MAX = 254

_TRANSLIT = dict(
    zip(
        "абвгґдеєжзиіїйклмнопрстуфхцчшщьюяё",
        "a b v h g d e ie zh z y i i i k l m n o p r s t u f kh ts ch sh shch  iu ia e".split(" "),
        strict=True,
    )
)


def naive(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def ts(dt: datetime | None) -> str | None:
    """CKAN's timestamp: naive UTC, always with microseconds (so strings compare in time order)."""
    d = naive(dt)
    return d.strftime(TS_FORMAT) if d is not None else None


def parse_dt(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def transliterate(text: str) -> str:
    out = []
    for ch in text.lower():
        out.append(_TRANSLIT.get(ch, ch))
    return "".join(out)


def slugify(text: str) -> str:
    s = unicodedata.normalize("NFKD", transliterate(text)).encode("ascii", "ignore").decode()
    s = re.sub(r"[^a-z0-9_-]+", "-", s.lower()).strip("-")
    return re.sub(r"-{2,}", "-", s)


def export_name(name: str, prefix: str) -> str:
    """An ASCII CKAN name, distinct across cities (prefixed), 2..100 chars."""
    slug = name if NAME_RE.match(name or "") else slugify(name or "")
    if prefix and not slug.startswith(prefix):
        slug = prefix + slug
    slug = slug[:100].rstrip("-") or "dataset"
    return slug if len(slug) >= 2 else slug + "-0"


def munge_tag(tag: str) -> str | None:
    """A tag CKAN accepts, or None when nothing usable is left."""
    t = unicodedata.normalize("NFC", tag or "")
    for ch in APOSTROPHES:
        t = t.replace(ch, "\u02bc")
    t = "".join(ch if (ch.isalnum() or ch in " -._\u02bc") else " " for ch in t)
    t = re.sub(r"\s+", " ", t).strip(" .-")
    # \u02bc at the edges looks like a stray quote; drop it there
    t = t.strip("\u02bc ")
    if len(t) > 100:
        t = t[:100].rstrip()
    if len(t) < 2 or not TAG_RE.match(t):
        return None
    return t


def single_email(value: str | None) -> str | None:
    for part in re.split(r"[,;\s]+", value or ""):
        part = part.strip().strip("<>")
        if part and EMAIL_RE.match(part):
            return part
    return None


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;.") + "…"


def absolute(url: str | None, base: str) -> str | None:
    if not url:
        return None
    url = url.strip()
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", url):
        return url
    if url.startswith("//"):
        return "https:" + url
    return urljoin(base.rstrip("/") + "/", url.lstrip("/"))


def uid5(kind: str, value: str) -> str:
    return str(uuid.uuid5(vocab.ID_NAMESPACE, f"{kind}:{value}"))


def tag_dict(name: str) -> dict[str, Any]:
    return {
        "id": uid5("tag", name),
        "name": name,
        "display_name": name,
        "state": "active",
        "vocabulary_id": None,
    }


def group_dict(
    code: str, *, full: bool = False, package_count: int | None = None
) -> dict[str, Any]:
    title_uk, title_en = vocab.THEMES[code]
    short = {
        "id": uid5("group", code),
        "name": code.lower(),
        "title": title_uk,
        "display_name": title_uk,
        "description": title_en,
        "image_display_url": "",
    }
    if not full:
        return short
    return {
        **short,
        "type": "group",
        "image_url": "",
        "created": "2026-01-01T00:00:00.000000",
        "is_organization": False,
        "approval_status": "approved",
        "state": "active",
        "package_count": package_count or 0,
        "num_followers": 0,
        "extras": [],
        "groups": [],
        "users": [],
        "tags": [],
    }


def org_short(org: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": org["id"],
        "name": org["name"],
        "title": org["title"],
        "type": "organization",
        "description": org.get("description") or "",
        "image_url": "",
        "created": org["created"],
        "is_organization": True,
        "approval_status": "approved",
        "state": "active",
    }


def org_full(org: dict[str, Any], *, package_count: int) -> dict[str, Any]:
    doc = org.get("doc") or {}
    extras = []
    if doc.get("edrpou"):
        extras.append({"key": "edrpou", "value": str(doc["edrpou"])})
    if doc.get("title_en"):
        extras.append({"key": "title_en", "value": str(doc["title_en"])})
    if single_email(doc.get("email")):
        extras.append({"key": "email", "value": single_email(doc.get("email"))})
    if doc.get("website"):
        extras.append({"key": "website", "value": str(doc["website"])})
    return {
        **org_short(org),
        "display_name": org["title"],
        "image_display_url": "",
        "package_count": package_count,
        "num_followers": 0,
        "extras": extras,
        "groups": [],
        "users": [],
        "tags": [],
    }


def org_view(doc: dict[str, Any], *, created: datetime | None = None) -> dict[str, Any]:
    """The organization as the read model keeps it (from its own event or a dataset's fields)."""
    return {
        "id": str(doc["id"]),
        "name": doc.get("name") or "",
        "title": doc.get("title") or doc.get("name") or "",
        "description": doc.get("description") or "",
        "created": ts(created or parse_dt(doc.get("created_at"))) or "2026-01-01T00:00:00.000000",
        "doc": doc,
    }


def resource_dict(
    res: dict[str, Any], *, package_id: str, position: int, base: str, landing: str
) -> dict[str, Any]:
    fmt = (res.get("format") or "").strip().upper()
    url = absolute(res.get("download_url"), base) or absolute(res.get("url"), base) or landing
    media = res.get("media_type") or (vocab.FORMATS.get(fmt, (None, None))[1])
    size = res.get("size")
    return {
        "id": str(res["id"]),
        "package_id": package_id,
        "position": position,
        "name": res.get("name") or fmt or "resource",
        "description": res.get("description") or "",
        "url": url,
        "format": fmt,
        "mimetype": media,
        "mimetype_inner": None,
        "size": int(size) if isinstance(size, int) and size >= 0 else None,
        "hash": res.get("sha256") or "",
        "created": ts(parse_dt(res.get("created_at"))),
        "last_modified": ts(parse_dt(res.get("modified_at"))),
        "metadata_modified": ts(parse_dt(res.get("modified_at"))),
        "resource_type": None,
        "url_type": None,
        "cache_url": None,
        "cache_last_updated": None,
        "state": "active",
        "datastore_active": False,
        # data.gov.ua
        "file_hash_sum": res.get("sha256") or "",
    }


def derived_resource_dict(
    copy: dict[str, Any], source: dict[str, Any], *, package_id: str, position: int, base: str
) -> dict[str, Any]:
    """A copy the portal made of a resource's file (the UTF-8 CSV of an XLSX/ODS) as a resource
    of its own, after the originals, marked with ``derived_from`` (the source resource's id)."""
    fmt = (copy.get("format") or "CSV").upper()
    src_fmt = source["format"] or "файлу"
    media = (copy.get("media_type") or vocab.FORMATS.get(fmt, (None, None))[1] or "").split(";")
    stamp = ts(parse_dt(copy.get("created_at")))
    res = resource_dict(
        {
            "id": copy["file_id"],
            "name": f"{source['name']} ({fmt}, автоматично створено з {src_fmt})",
            "description": (
                f"Копія ресурсу «{source['name']}» у форматі {fmt} (UTF-8), створена порталом "
                f"автоматично з {src_fmt}; оновлюється разом з оригіналом."
            ),
            "format": fmt,
            "media_type": media[0].strip() or None,
            "download_url": copy.get("url"),
            "size": copy.get("size"),
            "sha256": copy.get("sha256"),
            "created_at": copy.get("created_at"),
            "modified_at": copy.get("created_at"),
        },
        package_id=package_id,
        position=position,
        base=base,
        landing=source["url"],
    )
    res["created"] = res["last_modified"] = res["metadata_modified"] = stamp
    res["derived_from"] = source["id"]
    return res


def package_dict(
    doc: dict[str, Any],
    org: dict[str, Any],
    quality: dict[str, Any] | None,
    *,
    base: str,
    name_prefix: str,
    metadata_created: datetime,
) -> dict[str, Any]:
    """The package dict without ``metadata_modified`` (which the caller adds)."""
    base = base.rstrip("/")
    pid = str(doc["id"])
    name = export_name(doc["name"], name_prefix)
    landing = f"{base}/dataset/{quote(name)}"
    lic = vocab.ckan_license(doc.get("license_id"))

    originals = [k for k in (doc.get("keywords") or []) if isinstance(k, str) and k.strip()]
    tags: list[str] = []
    for k in originals:
        t = munge_tag(k)
        if t and t.lower() not in {x.lower() for x in tags}:
            tags.append(t)
    tags.sort(key=str.lower)

    themes = [t for t in (doc.get("themes") or []) if t in vocab.THEMES]
    freq_dg, _eu = vocab.FREQUENCIES.get(doc.get("update_frequency") or "", vocab.DEFAULT_FREQUENCY)
    langs = doc.get("language") or ["uk"]
    language = vocab.LANGUAGES.get(langs[0], ("ua", "UKR"))[0]

    purpose_parts = [
        p.strip() for p in (doc.get("legal_basis"), doc.get("purpose")) if p and p.strip()
    ]
    purpose = truncate(". ".join(purpose_parts), PURPOSE_MAX) if purpose_parts else "Не зазначено"
    title = truncate((doc.get("title") or name).strip(), TITLE_MAX)
    notes = (doc.get("description") or "").strip() or title

    extras: list[dict[str, str]] = [{"key": "uri", "value": f"{base}/dataset/{pid}"}]

    def extra(key: str, value: Any) -> None:
        if value is None or value == "" or value == []:
            return
        extras.append(
            {
                "key": key,
                "value": value if isinstance(value, str) else json.dumps(value, ensure_ascii=False),
            }
        )

    extra("title_en", doc.get("title_en"))
    extra("notes_en", doc.get("description_en"))
    extra("theme", [f"{vocab.EU}data-theme/{t}" for t in themes])
    extra("legal_basis", doc.get("legal_basis"))
    extra("spatial_text", doc.get("spatial"))
    extra("spatial_uri", doc.get("spatial_uri"))
    extra("temporal_start", doc.get("temporal_start"))
    extra("temporal_end", doc.get("temporal_end"))
    extra("data_actuality_date", doc.get("data_actuality_date"))
    extra("structure_url", absolute(doc.get("structure_url"), base))
    extra("list_code", doc.get("list_code"))
    extra("access_rights", doc.get("access_rights") or "PUBLIC")
    extra("issued", ts(parse_dt(doc.get("first_published_at"))))
    extra("publisher_edrpou", (org.get("doc") or {}).get("edrpou"))
    extra("maintainer_phone", doc.get("maintainer_phone"))
    if [munge_tag(k) for k in originals] != originals:
        extra("original_tags", originals)
    if quality:
        extra("quality_score", f"{float(quality.get('score', 0)):.1f}")
        extra("quality_band", quality.get("band"))
        extra("quality_compliant", "true" if quality.get("compliant") else "false")
        extra("quality_assessed", ts(parse_dt(quality.get("assessed_at"))))

    ordered = sorted(doc.get("resources") or [], key=lambda r: (r.get("position", 0), str(r["id"])))
    resources = [
        resource_dict(r, package_id=pid, position=i, base=base, landing=landing)
        for i, r in enumerate(ordered)
    ]
    for src, src_dict in zip(ordered, list(resources), strict=True):
        for copy in src.get("derived") or []:
            resources.append(
                derived_resource_dict(
                    copy, src_dict, package_id=pid, position=len(resources), base=base
                )
            )
    org_email = single_email((org.get("doc") or {}).get("email"))
    return {
        "id": pid,
        "name": name,
        "title": title,
        "notes": notes,
        "type": "dataset",
        "state": "active",
        "private": False,
        "owner_org": org["id"],
        "organization": org_short(org),
        "author": org["title"] or None,
        "author_email": org_email,
        "maintainer": (doc.get("maintainer") or "").strip() or None,
        "maintainer_email": single_email(doc.get("maintainer_email")),
        "license_id": lic["id"],
        "license_title": lic["title"],
        "license_url": lic["url"],
        "isopen": bool(lic["is_open"]),
        "url": landing,
        "version": (doc.get("version") or "")[:100] or None,
        "metadata_created": ts(metadata_created),
        "creator_user_id": None,
        "num_resources": len(resources),
        "num_tags": len(tags),
        "tags": [tag_dict(t) for t in tags],
        "groups": [group_dict(t) for t in themes],
        "extras": extras,
        "relationships_as_subject": [],
        "relationships_as_object": [],
        "resources": resources,
        # data.gov.ua's own top-level fields
        "tag_string": ",".join(tags),
        "purpose_of_collecting_information": purpose,
        "update_frequency": freq_dg,
        "language": language,
    }


def content_hash(pkg: dict[str, Any], rdf_extra: dict[str, Any]) -> str:
    # metadata_created never changes once set, so it is not part of the content
    body = {k: v for k, v in pkg.items() if k not in ("metadata_modified", "metadata_created")}
    raw = json.dumps([body, rdf_extra], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()
