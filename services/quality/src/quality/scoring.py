"""Scores per the methodology (quality-spec §5): pure functions, no I/O.

Inputs are the catalog's DatasetDocument (as a dict), the organization document, and what the
service knows of each resource (its file's validation report, its URL check).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from quality.methodology import band, methodology, version

TABULAR = {"CSV", "TSV", "XLSX", "XLS", "ODS"}
SPREADSHEETS = {"XLSX", "XLS", "ODS"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class ResourceState:
    id: str
    name: str
    format: str | None
    file_id: str | None = None
    url: str | None = None
    size: int | None = None
    media_type: str | None = None
    structure_url: str | None = None
    report: dict[str, Any] | None = None  # validation summary of its file (None: not yet)
    url_status: str = "UNKNOWN"  # OK | BROKEN | UNKNOWN
    derived_csv: bool = False


@dataclass
class Finding:
    code: str
    severity: str
    message: str
    message_en: str
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "message_en": self.message_en,
            "field": self.field,
        }


@dataclass
class DatasetScore:
    methodology_version: str
    mqa_points: float
    mqa_breakdown: dict[str, float]
    mqa_band: str
    # where dcat_ap_compliance came from: {"source": "shacl" | "properties", ...the SHACL result}
    dcat_ap: dict[str, Any]
    m: float
    p_ua: float
    passport: dict[str, bool]
    d: float
    t: float
    o: float
    dqi: float
    band: str
    is_timely: bool
    due_at: datetime | None
    last_data_update: datetime | None
    gates: dict[str, bool]
    compliant: bool
    resources: list[dict[str, Any]]
    findings: list[Finding] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "methodology_version": self.methodology_version,
            "mqa_points": self.mqa_points,
            "mqa_breakdown": {**self.mqa_breakdown, "dcat_ap_source": self.dcat_ap["source"]},
            "dcat_ap": self.dcat_ap,
            "mqa_band": self.mqa_band,
            "m": self.m,
            "p_ua": self.p_ua,
            "passport": self.passport,
            "d": self.d,
            "t": self.t,
            "o": self.o,
            "dqi": self.dqi,
            "band": self.band,
            "is_timely": self.is_timely,
            "due_at": _iso(self.due_at),
            "last_data_update": _iso(self.last_data_update),
            "gates": self.gates,
            "compliant": self.compliant,
            "resources": self.resources,
            "findings": [f.as_dict() for f in self.findings],
        }


def _iso(v: datetime | None) -> str | None:
    return v.astimezone(UTC).isoformat().replace("+00:00", "Z") if v else None


def _dt(v: Any) -> datetime | None:
    if v is None or v == "":
        return None
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=UTC)
    try:
        d = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _date(v: Any) -> date | None:
    if v is None or v == "":
        return None
    if isinstance(v, date):
        return v
    try:
        return date.fromisoformat(str(v)[:10])
    except ValueError:
        return None


def norm_format(fmt: str | None) -> str:
    f = (fmt or "").strip().upper().lstrip(".")
    return {"JSON-LD": "JSON_LD", "JSONLD": "JSON_LD", "XLSM": "XLSX"}.get(f, f)


# ---------------------------------------------------------------- resource level
def resource_format(r: ResourceState) -> str:
    if r.report and r.report.get("detected_format") and r.report["detected_format"] != "EMPTY":
        return str(r.report["detected_format"])
    if r.format:
        return norm_format(r.format)
    if r.url and "." in r.url.rsplit("/", 1)[-1]:
        return norm_format(r.url.rsplit(".", 1)[-1].split("?")[0])
    return ""


def stars(r: ResourceState, license_open: bool) -> tuple[int, str]:
    cfg = methodology()["stars"]
    if r.url_status == "BROKEN":
        return 0, "broken link"
    if r.report is not None and r.report.get("detected_format") == "EMPTY":
        return 0, "empty file"
    fmt = resource_format(r)
    score = int(cfg["unknown_format"])
    reason = f"format {fmt or 'unknown'}"
    for s in ("5", "3", "2", "1", "0"):
        if fmt in cfg[s]:
            score = int(s)
            break
    if r.derived_csv and score < int(cfg["derived_csv_counts_as"]):
        score, reason = int(cfg["derived_csv_counts_as"]), f"{fmt} with a derived UTF-8 CSV"
    if score > 0 and not license_open:
        return 0, "licence not open"
    return score, reason


def data_score(report: dict[str, Any] | None) -> float | None:
    """D_r (0..100) from a validation report; None when not validated."""
    if report is None:
        return None
    cfg = methodology()["resource_score"]
    sev = methodology()["validation"]["severity"]
    if report.get("fatal"):
        return 0.0
    if not report.get("tabular"):
        fmt = report.get("detected_format")
        return 100.0 if fmt in ("JSON", "GEOJSON", "XML") else 0.0
    counts: dict[str, int] = report.get("error_counts", {})
    header_codes = [c for c in counts if sev.get(c) == "header"]
    warn_codes = [c for c in counts if sev.get(c) == "warning"]
    header_pen = min(cfg["header_penalty_max"], cfg["header_penalty_per_code"] * len(header_codes))
    warn_pen = min(cfg["warning_penalty_max"], cfg["warning_penalty_per_code"] * len(warn_codes))
    err_rate = float(report.get("err_rate") or 0.0)
    rows_score = 100.0 * max(0.0, 1.0 - err_rate / cfg["err_rate_zero_at"])
    factor = 1.0 if report.get("schema_source") == "published" else cfg["inferred_schema_factor"]
    return round(max(0.0, rows_score - header_pen - warn_pen) * factor, 1)


# ---------------------------------------------------------------- MQA
def mqa(
    doc: dict[str, Any],
    org: dict[str, Any] | None,
    res: list[ResourceState],
    shacl: dict[str, Any] | None = None,
) -> dict[str, float]:
    cfg = methodology()["mqa"]
    w = cfg["weights"]
    auto = cfg["platform_autofill"]
    out: dict[str, float] = {}
    out["keyword"] = w["keyword"] if doc.get("keywords") else 0
    out["theme"] = w["theme"] if doc.get("themes") else 0
    out["spatial"] = (
        w["spatial"] if (doc.get("spatial") or doc.get("spatial_uri") or auto["spatial"]) else 0
    )
    out["temporal"] = w["temporal"] if (doc.get("temporal_start") or doc.get("temporal_end")) else 0
    n = len(res)

    def share(pred: Any) -> float:
        return sum(1 for r in res if pred(r)) / n if n else 0.0

    def accessible(r: ResourceState) -> bool:
        if r.file_id:
            return (
                r.report is not None
                and r.report.get("detected_format") != "EMPTY"
                and "byte-count" not in r.report.get("error_counts", {})
            )
        return r.url_status == "OK"

    has_download = lambda r: bool(r.file_id or r.url)  # noqa: E731
    out["access_url_accessibility"] = round(w["access_url_accessibility"] * share(accessible), 2)
    out["download_url"] = round(w["download_url"] * share(has_download), 2)
    out["download_url_accessibility"] = round(
        w["download_url_accessibility"] * share(lambda r: has_download(r) and accessible(r)), 2
    )
    # interoperability: the best distribution (official MQA rule)
    best = 0.0
    for r in res:
        fmt = resource_format(r)
        pts = 0.0
        pts += w["format"] if fmt else 0
        pts += w["media_type"] if (r.media_type or r.file_id) else 0
        pts += w["format_vocabulary"] if fmt in cfg["format_vocabulary"] else 0
        pts += w["non_proprietary"] if fmt in cfg["non_proprietary"] else 0
        pts += w["machine_readable"] if fmt in cfg["machine_readable"] else 0
        best = max(best, pts)
    out["interoperability_best_distribution"] = best
    # DCAT-AP compliance: harvest-export's SHACL run of the dataset's export when there is one
    # (harvest.dataset.validated); until then, our view has every mandatory DCAT-AP property
    if shacl is not None:
        dcat_ok = bool(shacl.get("conforms"))
    else:
        dcat_ok = bool(
            doc.get("title")
            and doc.get("description")
            and n
            and all(r.file_id or r.url for r in res)
        )
    out["dcat_ap_compliance"] = w["dcat_ap_compliance"] if dcat_ok else 0
    lic = (doc.get("license_id") or "").upper()
    out["license"] = w["license"] if (lic and n) else 0
    out["license_vocabulary"] = (
        w["license_vocabulary"] if (lic in cfg["license_vocabulary"] and n) else 0
    )
    ar = (doc.get("access_rights") or "").upper()
    out["access_rights"] = w["access_rights"] if (ar or auto["access_rights"]) else 0
    out["access_rights_vocabulary"] = (
        w["access_rights_vocabulary"] if ar in cfg["access_rights_vocabulary"] else 0
    )
    out["contact_point"] = (
        w["contact_point"] if (doc.get("maintainer") or doc.get("maintainer_email")) else 0
    )
    out["publisher"] = (
        w["publisher"] if (doc.get("organization_id") and (org or auto["publisher"])) else 0
    )
    out["rights"] = w["rights"] if (auto["rights"] and n) else 0
    out["byte_size"] = round(
        w["byte_size"] * share(lambda r: bool(r.size or (r.report or {}).get("bytes_read"))), 2
    )
    out["issued"] = w["issued"] if (doc.get("first_published_at") or doc.get("created_at")) else 0
    out["modified"] = w["modified"] if doc.get("modified_at") else 0
    return out


# ---------------------------------------------------------------- passport
def passport(
    doc: dict[str, Any], org: dict[str, Any] | None, res: list[ResourceState], now: datetime
) -> tuple[dict[str, bool], list[Finding]]:
    cfg = methodology()["passport"]
    checks: dict[str, bool] = {}
    f: list[Finding] = []

    def fail(key: str, fieldname: str, uk: str, en: str) -> None:
        checks[key] = False
        f.append(Finding(f"C1-{key}", "blocking", uk, en, fieldname))

    title = (doc.get("title") or "").strip()
    checks["title"] = True
    if not cfg["title_min"] <= len(title) <= cfg["title_max"]:
        fail(
            "title",
            "title",
            f"Назва має містити від {cfg['title_min']} до {cfg['title_max']} символів (зараз {len(title)})",
            f"The title must be {cfg['title_min']}–{cfg['title_max']} characters long (now {len(title)})",
        )
    desc = (doc.get("description") or "").strip()
    checks["description"] = True
    if not cfg["description_min"] <= len(desc) <= cfg["description_max"]:
        fail(
            "description",
            "description",
            f"Опис має містити від {cfg['description_min']} до {cfg['description_max']} символів (зараз {len(desc)})",
            f"The description must be {cfg['description_min']}–{cfg['description_max']} "
            f"characters long (now {len(desc)})",
        )
    langs = doc.get("language") or []
    checks["language"] = True
    if not langs or not all(isinstance(x, str) and re.fullmatch(r"[a-z]{2,3}", x) for x in langs):
        fail(
            "language",
            "language",
            "Вкажіть мову даних кодом ISO 639 (наприклад, uk)",
            "Give the language of the data as an ISO 639 code (e.g. uk)",
        )
    kws = [k for k in (doc.get("keywords") or []) if isinstance(k, str)]
    good = [
        k
        for k in kws
        if cfg["keyword_min_len"] <= len(k.strip()) <= cfg["keyword_max_len"]
        and k.strip().lower() != title.lower()
    ]
    checks["keywords"] = True
    if len(good) < cfg["keywords_min"] or len(good) != len(kws):
        fail(
            "keywords",
            "keywords",
            f"Потрібно щонайменше {cfg['keywords_min']} ключові слова "
            f"по {cfg['keyword_min_len']}–{cfg['keyword_max_len']} символів, "
            f"не однакові з назвою (зараз придатних {len(good)})",
            f"At least {cfg['keywords_min']} keywords of {cfg['keyword_min_len']}–{cfg['keyword_max_len']} "
            f"characters, none equal to the title, are required (now {len(good)} usable)",
        )
    checks["update_frequency"] = True
    if doc.get("update_frequency") not in set(methodology()["timeliness"]["frequencies"]) | {
        "on_change",
        "no_longer_updated",
    }:
        fail(
            "update_frequency",
            "update_frequency",
            "Вкажіть періодичність оновлення набору даних",
            "Set the update frequency of the dataset",
        )
    issued = _dt(doc.get("first_published_at") or doc.get("created_at"))
    modified = _dt(doc.get("modified_at"))
    checks["issued_modified"] = True
    if (
        not issued
        or not modified
        or not issued <= modified + timedelta(seconds=1)
        or modified > now + timedelta(minutes=5)
    ):
        fail(
            "issued_modified",
            "modified_at",
            "Дати оприлюднення і останніх змін відсутні або суперечливі",
            "Issued and modified dates are missing or inconsistent",
        )
    actual = _date(doc.get("data_actuality_date"))
    checks["data_actuality_date"] = True
    if actual is None or actual > now.date():
        fail(
            "data_actuality_date",
            "data_actuality_date",
            "Вкажіть дату актуальності даних (не пізніше сьогодні)",
            "Set the data actuality date (not later than today)",
        )
    purpose = (doc.get("purpose") or "").strip()
    basis = f"{purpose} {doc.get('legal_basis') or ''}"
    checks["purpose"] = True
    if not purpose or not re.search(cfg["legal_act_pattern"], basis):
        fail(
            "purpose",
            "purpose",
            "Вкажіть підставу та призначення збору інформації з реквізитами "
            "акта (№ та дата, напр. «рішення № 12 від 01.02.2024»)",
            "Give the legal basis and purpose with the act's requisites (number and date)",
        )
    name_ok = len((doc.get("maintainer") or "").split()) >= 2
    email_ok = bool(_EMAIL.match(doc.get("maintainer_email") or ""))
    checks["contact"] = True
    if not (name_ok and email_ok):
        fail(
            "contact",
            "maintainer" if not name_ok else "maintainer_email",
            "Вкажіть відповідальну особу (прізвище та ім'я) і її електронну пошту",
            "Give the responsible person's full name and e-mail",
        )
    edrpou = (org or {}).get("edrpou") or ""
    checks["publisher"] = True
    if not re.match(cfg["edrpou_pattern"], edrpou):
        fail(
            "publisher",
            "organization_id",
            "У розпорядника інформації не вказано код ЄДРПОУ (8 цифр)",
            "The publishing organization has no ЄДРПОУ code (8 digits)",
        )
    ident = doc.get("name") or ""
    checks["identifier"] = True
    if not (re.match(cfg["identifier_pattern"], ident) and len(ident) <= cfg["identifier_max"]):
        fail(
            "identifier",
            "name",
            "Ідентифікатор: лише малі латинські літери, цифри та дефіси",
            "Identifier: lowercase Latin letters, digits and hyphens only",
        )
    checks["structure"] = True
    missing = [
        i
        for i, r in enumerate(res)
        if resource_format(r) in TABULAR and not (r.structure_url or doc.get("structure_url"))
    ]
    if missing:
        fail(
            "structure",
            f"resources[{missing[0]}].structure_url",
            "Додайте гіперпосилання на структуру набору даних для кожного табличного ресурсу",
            "Link the dataset structure (schema) for every tabular resource",
        )
    return checks, f


# ---------------------------------------------------------------- timeliness
def timeliness(
    freq: str | None, last_update: datetime | None, now: datetime
) -> tuple[float, bool, datetime | None]:
    cfg = methodology()["timeliness"]
    if last_update is None:
        return 0.0, False, None
    age = (now - last_update).total_seconds() / 86400
    spec = cfg["frequencies"].get(freq or "")
    if spec is None:  # on_change, no_longer_updated, unknown: age-based
        max_age = cfg["on_change_max_age_days"]
        t = (
            100.0
            if age <= max_age
            else 100.0 * max(0.0, 1 - (age - max_age) / cfg["on_change_zero_after_days"])
        )
        timely = freq == "no_longer_updated" or (freq == "on_change" and age <= max_age)
        return round(t, 1), timely, None
    p, g, k = spec["period_days"], spec["grace_days"], spec["penalty_periods"]
    due = last_update + timedelta(days=p + g)
    x = max(0.0, (now - due).total_seconds() / 86400 / p)
    t_period = 100 * max(0.0, 1 - (x / k) ** 2)
    t_age = (
        100.0
        if age <= cfg["age_full_days"]
        else 100 * max(0.0, 1 - (age / cfg["age_zero_days"]) ** 2)
    )
    return round((t_period + t_age) / 2, 1), now <= due, due


# ---------------------------------------------------------------- the dataset
def personal_data_columns(res: list[ResourceState]) -> list[tuple[int, str]]:
    words = methodology()["compliance"]["personal_data_labels"]
    hits = []
    for i, r in enumerate(res):
        for fdef in (r.report or {}).get("fields") or []:
            label = str(fdef.get("name", "")).lower()
            if any(re.search(rf"(^|[^a-zа-яіїєґ]){re.escape(w)}", label) for w in words):
                hits.append((i, fdef.get("name")))
    return hits


def score_dataset(
    doc: dict[str, Any],
    org: dict[str, Any] | None,
    res: list[ResourceState],
    last_data_update: datetime | None,
    now: datetime,
    shacl: dict[str, Any] | None = None,
) -> DatasetScore:
    """``shacl``: harvest-export's SHACL result of the dataset's DCAT-AP export, if any."""
    meth = methodology()
    lic = (doc.get("license_id") or "").upper()
    license_open = lic in meth["stars"]["open_licenses"]
    findings: list[Finding] = []
    # resources
    per_res = []
    for r in res:
        s, why = stars(r, license_open)
        per_res.append(
            {
                "resource_id": r.id,
                "name": r.name,
                "format": resource_format(r),
                "stars": s,
                "stars_reason": why,
                "d": data_score(r.report),
                "url_status": r.url_status,
                "validated": r.report is not None,
                "file_id": r.file_id,
                "schema_source": (r.report or {}).get("schema_source"),
                "error_counts": (r.report or {}).get("error_counts", {}),
                "err_rate": (r.report or {}).get("err_rate"),
                "derived_csv": r.derived_csv,
            }
        )
    breakdown = mqa(doc, org, res, shacl)
    dcat_ap: dict[str, Any] = (
        {"source": "shacl", **shacl} if shacl is not None else {"source": "properties"}
    )
    points = round(sum(breakdown.values()), 1)
    mqa_band = band(points, meth["mqa"]["bands"])
    m = round(points / meth["mqa"]["max_points"] * 100, 1)
    checks, pf = passport(doc, org, res, now)
    findings += pf
    p_ua = round(sum(checks.values()) / len(checks), 4)
    ds = [p["d"] for p in per_res if p["d"] is not None]
    d = round(sum(ds) / len(ds), 1) if ds else 0.0
    t, timely, due = timeliness(doc.get("update_frequency"), last_data_update, now)
    o = 20.0 * max((p["stars"] for p in per_res), default=0)
    w = meth["dqi"]["weights"]
    dqi = round(w["m"] * m + w["d"] * d + w["t"] * t + w["o"] * o, 1)
    # gates
    gates: dict[str, bool] = {"C1": p_ua == 1.0}
    c2 = any(p["stars"] >= 3 for p in per_res)
    gates["C2"] = c2
    if not c2:
        findings.append(
            Finding(
                "C2-machine-readable",
                "blocking",
                "Немає жодного ресурсу у відкритому машиночитаному форматі (CSV, JSON, XML, XLSX/ODS з CSV)",
                "No resource is in an open machine-readable format (CSV, JSON, XML, XLSX/ODS with a CSV)",
                "resources",
            )
        )
    gates["C3"] = checks["structure"]
    broken = [i for i, r in enumerate(res) if r.url_status == "BROKEN"]
    gates["C4"] = not broken and bool(res)
    for i in broken:
        findings.append(
            Finding(
                "C4-broken-link",
                "blocking",
                f"Посилання ресурсу «{res[i].name}» недоступне (три перевірки поспіль)",
                f"The link of resource '{res[i].name}' is unreachable (three checks in a row)",
                f"resources[{i}].url",
            )
        )
    if not res:
        findings.append(
            Finding(
                "C4-no-resources",
                "blocking",
                "Набір даних не має жодного ресурсу",
                "The dataset has no resources",
                "resources",
            )
        )
    gates["C5"] = timely
    if not timely:
        if last_data_update is None:
            findings.append(
                Finding(
                    "C5-no-data",
                    "blocking",
                    "Дані ще не завантажено",
                    "No data has been uploaded yet",
                    "resources",
                )
            )
        else:
            findings.append(
                Finding(
                    "C5-overdue",
                    "blocking",
                    "Набір даних не оновлено вчасно згідно із заявленою періодичністю; завантажте нову версію даних",
                    "The dataset was not updated on time for its declared frequency; upload a new version",
                    "resources",
                )
            )
    c6 = True
    max_rate = meth["compliance"]["max_err_rate"]
    for i, r in enumerate(res):
        rep = r.report
        if rep is None:
            if r.file_id:
                findings.append(
                    Finding(
                        "validation-pending",
                        "warning",
                        f"Перевірка файлу ресурсу «{r.name}» ще триває",
                        f"Validation of the file of resource '{r.name}' is still running",
                        f"resources[{i}]",
                    )
                )
                c6 = False
            continue
        if rep.get("fatal"):
            c6 = False
            first = next((e for e in rep.get("errors", []) if e.get("severity") == "fatal"), None)
            code = first["code"] if first else "format-error"
            findings.append(
                Finding(
                    f"C6-{code}",
                    "blocking",
                    f"Ресурс «{r.name}»: {first['message'] if first else 'файл не читається'}",
                    f"Resource '{r.name}': {first['message_en'] if first else 'unreadable file'}",
                    f"resources[{i}]",
                )
            )
        elif rep.get("tabular") and float(rep.get("err_rate") or 0) > max_rate:
            c6 = False
            findings.append(
                Finding(
                    "C6-error-rate",
                    "blocking",
                    f"Ресурс «{r.name}»: {rep.get('bad_rows')} рядків з помилками ({rep.get('err_rate', 0) * 100:.1f}% "
                    f"> {max_rate * 100:.0f}%); перший: {_first_row_error(rep, 'message')}",
                    f"Resource '{r.name}': {rep.get('bad_rows')} rows with errors ({rep.get('err_rate', 0) * 100:.1f}% "
                    f"> {max_rate * 100:.0f}%); first: {_first_row_error(rep, 'message_en')}",
                    f"resources[{i}]",
                )
            )
        elif rep.get("error_count"):
            findings.append(
                Finding(
                    "validation-errors",
                    "warning",
                    f"Ресурс «{r.name}»: {rep.get('error_count')} помилок у даних",
                    f"Resource '{r.name}': {rep.get('error_count')} data errors",
                    f"resources[{i}]",
                )
            )
        if "encoding-warning" in rep.get("error_counts", {}):
            findings.append(
                Finding(
                    "encoding-not-utf8",
                    "warning",
                    f"Ресурс «{r.name}» у кодуванні {rep.get('encoding')}; збережіть у UTF-8",
                    f"Resource '{r.name}' is encoded as {rep.get('encoding')}; save it as UTF-8",
                    f"resources[{i}]",
                )
            )
        if rep.get("tabular") and rep.get("schema_source") == "inferred" and doc.get("list_code"):
            findings.append(
                Finding(
                    "structure-mismatch",
                    "warning",
                    f"Ресурс «{r.name}» не відповідає опублікованій структурі для {doc.get('list_code')}",
                    f"Resource '{r.name}' does not follow the published structure for {doc.get('list_code')}",
                    f"resources[{i}]",
                )
            )
    gates["C6"] = c6
    c7 = lic == "CC-BY-4.0" and (doc.get("access_rights") or "PUBLIC").upper() == "PUBLIC"
    gates["C7"] = c7
    if not c7:
        findings.append(
            Finding(
                "C7-open-terms",
                "blocking",
                "Умови використання мають бути CC BY 4.0 (ст. 10-1 Закону 2939-VI), доступ — публічний",
                "Terms must be CC BY 4.0 (art. 10-1 of Law 2939-VI) and access public",
                "license_id" if lic != "CC-BY-4.0" else "access_rights",
            )
        )
    for i, label in personal_data_columns(res):
        findings.append(
            Finding(
                "legal-personal-data",
                "blocking",
                f"Ресурс «{res[i].name}» містить стовпець «{label}», схожий на персональні дані",
                f"Resource '{res[i].name}' has a column '{label}' that looks like personal data",
                f"resources[{i}]",
            )
        )
    if shacl is not None and not shacl.get("conforms"):
        first = next(iter(shacl.get("violations") or []), "")
        profile = shacl.get("profile") or "DCAT-AP"
        findings.append(
            Finding(
                "W-dcat-ap",
                "warning",
                f"Опис набору у форматі {profile} не проходить перевірку SHACL, тому національний "
                f"портал не отримає цей набір; перше порушення: {first}",
                f"The dataset's {profile} description fails SHACL validation, so the national "
                f"portal will not receive this dataset; first violation: {first}",
                None,
            )
        )
    if mqa_band == "bad":
        findings.append(
            Finding(
                "mqa-bad",
                "warning",
                "Оцінка метаданих за MQA — «погано»",
                "The MQA metadata rating is Bad",
                None,
            )
        )
    return DatasetScore(
        methodology_version=version(),
        mqa_points=points,
        mqa_breakdown=breakdown,
        mqa_band=mqa_band,
        dcat_ap=dcat_ap,
        m=m,
        p_ua=p_ua,
        passport=checks,
        d=d,
        t=t,
        o=o,
        dqi=dqi,
        band=band(dqi, meth["dqi"]["bands"]),
        is_timely=timely,
        due_at=due,
        last_data_update=last_data_update,
        gates=gates,
        compliant=all(gates.values()),
        resources=per_res,
        findings=findings,
    )


def _first_row_error(rep: dict[str, Any], key: str) -> str:
    e = next((e for e in rep.get("errors", []) if e.get("severity") == "row"), None)
    return e[key] if e else ""


# ---------------------------------------------------------------- stewards
def steward_score(
    *,
    n_req: int,
    n_pub: int,
    n_all: int,
    compliant: int,
    mean_dqi: float | None,
    city_dqi: float,
    tm: float,
    r: float,
    has_responsible: bool,
    register_issue: str | None = None,
) -> dict[str, Any]:
    """Spec §5.10. ``register_issue``: ``register-missing`` or ``register-outdated`` when the
    steward's register of datasets (п. 19) lags (see monitoring.register_lag). Penalties are
    listed with their codes; monitoring adds what to fix."""
    cfg = methodology()["steward"]
    if n_req:
        cov = min(1.0, n_pub / n_req)
    else:
        cov = 1.0 if n_all > 0 else 0.0
    comp = compliant / n_all if n_all else 0.0
    q_raw = (mean_dqi or 0.0) / 100
    k = cfg["shrinkage_k"]
    q = (n_all * q_raw + k * city_dqi / 100) / (n_all + k)
    w = cfg["weights"]
    raw = 100 * (w["cov"] * cov + w["comp"] * comp + w["q"] * q + w["tm"] * tm + w["r"] * r)
    reasons = []
    if not has_responsible:
        reasons.append(
            {"code": "no-responsible-person", "points": cfg["penalty_no_responsible_person"]}
        )
    if register_issue:
        reasons.append({"code": register_issue, "points": cfg["register_update"]["penalty"]})
    penalties = sum(r["points"] for r in reasons)
    score = round(max(0.0, raw - penalties), 1)
    return {
        "n_req": n_req,
        "n_pub": n_pub,
        "n_all": n_all,
        "compliant": compliant,
        "cov": round(cov, 4),
        "comp": round(comp, 4),
        "q": round(q, 4),
        "tm": round(tm, 4),
        "r": round(r, 4),
        "penalties": penalties,
        "penalty_reasons": reasons,
        "score": score,
        "rating": band(score, cfg["bands"]),
        "ranked": n_all >= cfg["min_datasets_ranked"],
    }


def kpi_gap(in_scope: int, compliant: int) -> int:
    target = methodology()["compliance"]["kpi_target"]
    return max(0, math.ceil(round(target * in_scope, 9)) - compliant)
