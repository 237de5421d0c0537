"""The dashboard's aggregate: fan out to the owning services at once, shape their answers into
tables (the single source for the page's charts, its text alternatives and the exports).

Every source call has its own short timeout; a source that fails, times out or answers with an
error is reported as ``unavailable`` (with the reason) and its tables are left out, never a 500.
Results are cached per audience (public / moderator) and organization for ``CACHE_SECONDS``;
concurrent misses for the same key share one computation, so a burst of page loads costs the
services one round of requests.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from gateway import tokens
from gateway.runtime import Runtime

log = logging.getLogger("gateway.dashboard")

CACHE_SECONDS = float(os.environ.get("PORTAL_GATEWAY_DASHBOARD_CACHE_SECONDS", "30"))
SOURCE_TIMEOUT = float(os.environ.get("PORTAL_GATEWAY_DASHBOARD_TIMEOUT", "4"))
# the gateway's own identity for the few moderator-only reads it publishes a summary of
SERVICE_USER = uuid.UUID("00000000-0000-4000-8000-00000000da5b")
TOP = 20


def col(key: str, uk: str, en: str, kind: str = "text") -> dict[str, str]:
    return {"key": key, "uk": uk, "en": en, "type": kind}


@dataclass
class Table:
    id: str
    uk: str
    en: str
    columns: list[dict[str, str]]
    rows: list[dict[str, Any]]
    internal: bool = False
    chart: str | None = None  # bar | line | doughnut | None (table only)
    label: str | None = None  # the column naming each bar
    values: list[str] = field(default_factory=list)  # the columns drawn

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.uk,
            "title_en": self.en,
            "columns": self.columns,
            "rows": self.rows,
            "internal": self.internal,
            "chart": self.chart,
            "label": self.label,
            "values": self.values,
        }


class Unavailable(Exception):
    pass


@dataclass
class Fetcher:
    rt: Runtime
    authorization: str | None  # forwarded for a moderator; None = anonymous

    async def get(
        self,
        service: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        as_service: bool = False,
    ) -> Any:
        base = self.rt.settings.upstreams()[service]
        headers = {"Accept": "application/json"}
        auth = service_authorization(self.rt) if as_service else self.authorization
        if auth:
            headers["Authorization"] = auth
        try:
            resp = await self.rt.upstream.get(
                f"{base}{path}",
                params=params,
                headers=headers,
                timeout=httpx.Timeout(SOURCE_TIMEOUT),
            )
        except httpx.TimeoutException as exc:
            raise Unavailable(f"{service}: no answer in {SOURCE_TIMEOUT:g} s") from exc
        except httpx.HTTPError as exc:
            raise Unavailable(f"{service}: unreachable") from exc
        if resp.status_code != 200:
            raise Unavailable(f"{service}: {path} answered {resp.status_code}")
        try:
            return resp.json()
        except ValueError as exc:
            raise Unavailable(f"{service}: {path} answered no JSON") from exc


_service_token: tuple[float, str] | None = None


def service_authorization(rt: Runtime) -> str:
    """A one-minute moderator JWT the gateway mints for itself (harvest status summary)."""
    global _service_token
    now = time.monotonic()
    if _service_token is None or _service_token[0] < now:
        jwt = tokens.mint(
            rt.keys,
            issuer=rt.settings.jwt_issuer,
            audience=rt.settings.jwt_audience,
            lifetime=60,
            user_id=SERVICE_USER,
            email="dashboard@gateway.invalid",
            name="dashboard",
            roles=["moderator"],
            orgs={},
        )
        _service_token = (now + 45, f"Bearer {jwt}")
    return _service_token[1]


def pct(x: float | None) -> float | None:
    return None if x is None else round(100 * x, 1)


def current_quarter(now: datetime) -> str:
    return f"{now.year}Q{(now.month - 1) // 3 + 1}"


# --------------------------------------------------------------------------- sources
# each returns (figures: dict, tables: list[Table]); an exception marks the source unavailable


async def src_catalog(f: Fetcher, org: str | None, internal: bool) -> tuple[dict, list[Table]]:
    p = {"organization_id": org} if org else None
    ds, pubs = await asyncio.gather(
        f.get("catalog", "/api/v1/stats/catalog/datasets", p),
        f.get("catalog", "/api/v1/stats/catalog/publications", {"months": 12, **(p or {})}),
    )
    statuses = list(ds["by_status"])
    org_cols = [col("organization", "Розпорядник", "Data steward")]
    names = {
        "published": ("Оприлюднено", "Published"),
        "draft": ("Чернетки", "Drafts"),
        "submitted": ("На модерації", "Submitted"),
        "rejected": ("Відхилено", "Rejected"),
        "archived": ("В архіві", "Archived"),
    }
    org_cols += [col(s, *names.get(s, (s, s)), "number") for s in statuses]
    tables = [
        Table(
            "datasets_by_organization",
            "Набори даних за розпорядниками",
            "Datasets by data steward",
            org_cols,
            [
                {"organization": o["title"] or o["name"], **{s: o[s] for s in statuses}}
                for o in ds["by_organization"]
            ],
            internal=internal and len(statuses) > 1,
            chart="bar",
            label="organization",
            values=statuses,
        ),
        Table(
            "datasets_by_status",
            "Набори даних за статусом",
            "Datasets by status",
            [col("status", "Статус", "Status"), col("count", "Кількість", "Count", "number")],
            [
                {
                    "status": names.get(s, (s, s))[0],
                    "status_en": names.get(s, (s, s))[1],
                    "count": n,
                }
                for s, n in ds["by_status"].items()
            ],
            internal=internal and len(statuses) > 1,
            chart="doughnut",
            label="status",
            values=["count"],
        ),
        Table(
            "datasets_by_theme",
            "Оприлюднені набори за темами",
            "Published datasets by theme",
            [col("theme", "Тема", "Theme"), col("count", "Наборів", "Datasets", "number")],
            [
                {"theme": t["title"], "theme_en": t["title_en"], "count": t["count"]}
                for t in ds["by_theme"]
            ],
            chart="bar",
            label="theme",
            values=["count"],
        ),
        Table(
            "datasets_by_format",
            "Оприлюднені набори за форматами",
            "Published datasets by format",
            [col("format", "Формат", "Format"), col("count", "Наборів", "Datasets", "number")],
            [{"format": x["format"], "count": x["count"]} for x in ds["by_format"]],
            chart="bar",
            label="format",
            values=["count"],
        ),
        Table(
            "publications_by_month",
            "Нові оприлюднення за місяцями",
            "New publications per month",
            [col("month", "Місяць", "Month"), col("count", "Оприлюднено", "Published", "number")],
            [{"month": i["month"], "count": i["count"]} for i in pubs["items"]],
            chart="line",
            label="month",
            values=["count"],
        ),
    ]
    figures = {"datasets_published": ds["published"], "datasets_total": ds["total"]}
    return figures, tables


async def src_overdue(f: Fetcher, org: str | None, internal: bool) -> tuple[dict, list[Table]]:
    p = {"organization_id": org, "limit": 200} if org else {"limit": 200}
    od = await f.get("catalog", "/api/v1/stats/catalog/overdue", p)
    rows = [
        {
            "dataset": i["title"],
            "organization": i["organization_title"],
            "update_frequency": i["update_frequency"],
            "last_updated": (i["last_updated"] or "")[:10],
            "days_overdue": i["days_overdue"],
        }
        for i in od["items"]
    ]
    t = Table(
        "overdue_datasets",
        "Прострочені з оновленням набори",
        "Datasets overdue for an update",
        [
            col("dataset", "Набір даних", "Dataset"),
            col("organization", "Розпорядник", "Data steward"),
            col("update_frequency", "Частота оновлення", "Update frequency"),
            col("last_updated", "Останнє оновлення", "Last updated", "date"),
            col("days_overdue", "Днів прострочено", "Days overdue", "number"),
        ],
        rows,
    )
    by_org = Table(
        "overdue_by_organization",
        "Прострочені набори за розпорядниками",
        "Overdue datasets by data steward",
        [
            col("organization", "Розпорядник", "Data steward"),
            col("overdue", "Прострочено", "Overdue", "number"),
        ],
        [
            {"organization": o["organization_title"], "overdue": o["overdue"]}
            for o in od["by_organization"]
        ],
        chart="bar",
        label="organization",
        values=["overdue"],
    )
    return {"datasets_overdue": od["total"], "datasets_checked_for_updates": od["checked"]}, [
        by_org,
        t,
    ]


async def src_coverage(f: Fetcher, org: str | None, internal: bool) -> tuple[dict, list[Table]]:
    c = await f.get(
        "catalog", "/api/v1/register/compliance", {"organization_id": org} if org else None
    )
    rows = []
    for t in c["totals"]:
        rows.append(
            {
                "organization": t["organization_title"] or "не призначено",
                "entries": t["entries"],
                "published": t["published"],
                "fresh": t["fresh"],
                "coverage": round(100 * t["published"] / t["entries"], 1) if t["entries"] else None,
            }
        )
    rows.sort(key=lambda r: (-(r["coverage"] or 0), r["organization"]))
    s = c["summary"]
    figures = {
        "mandatory_entries": s["entries"],
        "mandatory_published": s["published"],
        "mandatory_fresh": s["fresh"],
        "mandatory_coverage_pct": round(100 * s["published"] / s["entries"], 1)
        if s["entries"]
        else None,
    }
    return figures, [
        Table(
            "mandatory_coverage",
            "Виконання обовʼязкового переліку (постанова КМУ № 835)",
            "Mandatory list coverage (CMU resolution 835)",
            [
                col("organization", "Розпорядник", "Data steward"),
                col("entries", "У переліку", "On the list", "number"),
                col("published", "Оприлюднено", "Published", "number"),
                col("fresh", "Вчасно оновлено", "Up to date", "number"),
                col("coverage", "Покриття, %", "Coverage, %", "percent"),
            ],
            rows,
            chart="bar",
            label="organization",
            values=["coverage"],
        )
    ]


GATE_EN = {
    "published": "Published",
    "machine_readable": "Machine-readable",
    "open_license": "Open licence",
    "timely": "Up to date",
    "valid": "Valid structure",
}


async def src_quality(f: Fetcher, org: str | None, internal: bool) -> tuple[dict, list[Table]]:
    now = datetime.now(UTC)
    kpi, ratings = await asyncio.gather(
        f.get("quality", "/api/v1/quality/kpi"),
        f.get("quality", "/api/v1/quality/ratings", {"quarter": current_quarter(now)}),
    )
    history = [h for h in kpi.get("history", []) if h.get("kpi") is not None]
    hist_rows = [
        {
            "period": h["period"],
            "kind": h["kind"],
            "kpi": pct(h["kpi"]),
            "target": pct(kpi.get("target")),
            "compliant": h["compliant"],
            "in_scope": h["in_scope"],
        }
        for h in history
    ]
    if kpi.get("kpi") is not None:
        hist_rows.append(
            {
                "period": (kpi.get("as_of") or "")[:10],
                "kind": "now",
                "kpi": pct(kpi["kpi"]),
                "target": pct(kpi.get("target")),
                "compliant": kpi["compliant"],
                "in_scope": kpi["in_scope"],
            }
        )
    league = []
    for i in ratings.get("items", []):
        if org and i.get("organization_id") != org:
            continue
        league.append(
            {
                "rank": i.get("rank"),
                "organization": i.get("title") or i.get("name"),
                "score": i.get("score"),
                "rating": i.get("rating"),
                "n_pub": i.get("n_pub"),
                "n_req": i.get("n_req"),
                "compliant": i.get("compliant"),
                "cov": pct(i.get("cov")),
                "q": pct(i.get("q")),
                "tm": pct(i.get("tm")),
                "change": i.get("change"),
            }
        )
    figures = {
        "kpi_pct": pct(kpi.get("kpi")),
        "kpi_target_pct": pct(kpi.get("target")),
        "kpi_target_met": kpi.get("target_met"),
        "kpi_gap": kpi.get("gap"),
        "kpi_in_scope": kpi.get("in_scope"),
        "kpi_compliant": kpi.get("compliant"),
        "ratings_quarter": ratings.get("quarter"),
        "ratings_frozen": ratings.get("frozen"),
    }
    tables = [
        Table(
            "kpi_history",
            "Частка наборів, що відповідають вимогам (ціль 85 %)",
            "Share of datasets meeting the requirements (target 85 %)",
            [
                col("period", "Період", "Period"),
                col("kpi", "KPI, %", "KPI, %", "percent"),
                col("target", "Ціль, %", "Target, %", "percent"),
                col("compliant", "Відповідають", "Compliant", "number"),
                col("in_scope", "Усього", "In scope", "number"),
            ],
            hist_rows,
            chart="line",
            label="period",
            values=["kpi", "target"],
        ),
        Table(
            "fix_first",
            "Що виправити насамперед",
            "What to fix first",
            [
                col("gate", "Вимога", "Requirement"),
                col("blocked_only_by_this", "Лише через це", "Blocked only by this", "number"),
                col("failing", "Не виконують", "Failing", "number"),
            ],
            [
                {
                    "gate": x.get("title") or x["gate"],
                    "gate_en": GATE_EN.get(x["gate"], x["gate"]),
                    "blocked_only_by_this": x["blocked_only_by_this"],
                    "failing": x["failing"],
                }
                for x in kpi.get("fix_first", [])
            ],
            chart="bar",
            label="gate",
            values=["blocked_only_by_this", "failing"],
        ),
        Table(
            "steward_league",
            "Рейтинг розпорядників",
            "Data steward league table",
            [
                col("rank", "Місце", "Rank", "number"),
                col("organization", "Розпорядник", "Data steward"),
                col("score", "Бали", "Score", "number"),
                col("rating", "Оцінка", "Rating"),
                col("n_pub", "Оприлюднено", "Published", "number"),
                col("n_req", "Обовʼязкових", "Mandatory", "number"),
                col("cov", "Покриття, %", "Coverage, %", "percent"),
                col("q", "Якість, %", "Quality, %", "percent"),
                col("tm", "Вчасність, %", "Timeliness, %", "percent"),
                col("change", "Зміна", "Change", "number"),
            ],
            league,
        ),
    ]
    return figures, tables


async def src_feedback(f: Fetcher, org: str | None, internal: bool) -> tuple[dict, list[Table]]:
    if org:
        one = await f.get("feedback", f"/api/v1/stats/feedback/organizations/{org}")
        items = [one]
    else:
        items = (await f.get("feedback", "/api/v1/stats/feedback/organizations"))["items"]
    total = sum(i["total"] for i in items)
    answered = sum(i["answered"] for i in items)
    judged = on_time = 0
    for i in items:
        j = i["answered"] + i["overdue"]
        judged += j
        if i.get("on_time_share") is not None:
            on_time += round(i["on_time_share"] * j)
    rows = []
    for i in items:
        row = {
            "organization": i.get("organization_title") or i.get("organization_name"),
            "total": i["total"],
            "answered": i["answered"],
            "median_response_hours": i.get("median_response_hours"),
            "on_time": pct(i.get("on_time_share")),
        }
        if internal:
            row["open"] = i["open"]
            row["overdue"] = i["overdue"]
        rows.append(row)
    rows.sort(key=lambda r: (-r.get("overdue", 0), -r["total"], r["organization"] or ""))
    cols = [
        col("organization", "Розпорядник", "Data steward"),
        col("total", "Звернень", "Reports", "number"),
        col("answered", "З відповіддю", "Answered", "number"),
        col("median_response_hours", "Медіана відповіді, год", "Median response, h", "number"),
        col("on_time", "Вчасно, %", "On time, %", "percent"),
    ]
    if internal:
        cols += [
            col("open", "Відкриті", "Open", "number"),
            col("overdue", "Прострочені", "Overdue", "number"),
        ]
    figures = {
        "feedback_reports": total,
        "feedback_answered": answered,
        "feedback_on_time_pct": pct(on_time / judged) if judged else None,
    }
    if internal:
        figures["feedback_overdue"] = sum(i["overdue"] for i in items)
        figures["feedback_open"] = sum(i["open"] for i in items)
    return figures, [
        Table(
            "feedback_by_organization",
            "Звернення щодо даних і час відповіді",
            "Feedback reports and response times",
            cols,
            rows,
            internal=internal,
            chart="bar",
            label="organization",
            values=["total", "answered"] + (["overdue"] if internal else []),
        )
    ]


async def src_requests(f: Fetcher, org: str | None, internal: bool) -> tuple[dict, list[Table]]:
    page = await f.get("feedback", "/api/v1/requests", {"sort": "votes", "limit": 100})
    items = page["items"]
    if org:
        items = [
            i
            for i in items
            if org in (i.get("organization_id"), i.get("suggested_organization_id"))
        ]
    top = items[:TOP]
    return {
        "requests_total": page["total"],
        "requests_votes_top100": sum(i.get("votes") or 0 for i in page["items"]),
    }, [
        Table(
            "requests_votes",
            "Запити на нові набори та голоси",
            "Requests for new datasets and votes",
            [
                col("title", "Запит", "Request"),
                col("status", "Статус", "Status"),
                col("votes", "Голосів", "Votes", "number"),
            ],
            [
                {"title": i["title"], "status": i["status"], "votes": i.get("votes") or 0}
                for i in top
            ],
            chart="bar",
            label="title",
            values=["votes"],
        )
    ]


async def src_downloads(f: Fetcher, org: str | None, internal: bool) -> tuple[dict, list[Table]]:
    today = datetime.now(UTC).date()
    start = date(today.year - 1, today.month, 1) + timedelta(days=31)
    start = start.replace(day=1)
    params: dict[str, Any] = {"from": start.isoformat(), "to": today.isoformat()}
    if org:
        params["organization_id"] = org
    d = await f.get("storage", "/api/v1/stats/storage/downloads", params)
    by_month: dict[str, int] = defaultdict(int)
    by_dataset: dict[str, int] = defaultdict(int)
    for i in d["items"]:
        by_month[i["day"][:7]] += i["count"]
        by_dataset[i["dataset_id"] or ""] += i["count"]
    months = []
    y, m = start.year, start.month
    while (y, m) <= (today.year, today.month):
        key = f"{y:04d}-{m:02d}"
        months.append({"month": key, "count": by_month.get(key, 0)})
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    top = sorted(((k, n) for k, n in by_dataset.items() if k), key=lambda kv: -kv[1])[:TOP]
    titles: dict[str, str] = {}
    if top:
        try:  # one call for every title; the audience's visibility applies (drafts stay ids)
            page = await f.get(
                "catalog",
                "/api/v1/datasets",
                {"id": ",".join(k for k, _ in top), "facets": "false", "limit": TOP},
            )
            titles = {i["id"]: i["title"] for i in page["items"]}
        except Unavailable:
            pass  # the counts are still worth showing, under their ids
    ds_rows = [{"dataset": titles.get(k) or k, "count": n} for k, n in top]
    if by_dataset.get(""):
        ds_rows.append({"dataset": "(файли без набору)", "count": by_dataset[""]})
    return {"downloads_total": d["total"], "downloads_from": d["from"], "downloads_to": d["to"]}, [
        Table(
            "downloads_by_month",
            "Завантаження за місяцями",
            "Downloads per month",
            [col("month", "Місяць", "Month"), col("count", "Завантажень", "Downloads", "number")],
            months,
            chart="line",
            label="month",
            values=["count"],
        ),
        Table(
            "downloads_by_dataset",
            "Найпопулярніші набори (завантаження)",
            "Most downloaded datasets",
            [
                col("dataset", "Набір даних", "Dataset"),
                col("count", "Завантажень", "Downloads", "number"),
            ],
            ds_rows,
            chart="bar",
            label="dataset",
            values=["count"],
        ),
    ]


async def src_harvest(f: Fetcher, org: str | None, internal: bool) -> tuple[dict, list[Table]]:
    st = await f.get("harvest", "/api/v1/harvest/status", as_service=True)
    harvesters = st.get("harvesters", [])

    def is_dgu(h: dict[str, Any]) -> bool:
        return (
            "data.gov.ua" in (h.get("user_agent") or "").lower()
            or "ckan" in (h.get("user_agent") or "").lower()
        )

    main = next((h for h in harvesters if is_dgu(h)), harvesters[0] if harvesters else None)
    run = (main or {}).get("last_run") or {}
    rows = []
    for h in harvesters:
        r = h.get("last_run") or {}
        row = {
            "user_agent": (h.get("user_agent") or "")[:80],
            "last_pull_at": h.get("last_pull_at"),
            "mode": r.get("mode"),
            "datasets_seen": r.get("datasets_seen"),
            "expected": r.get("expected"),
            "complete": None if not r else ("так" if r.get("complete") else "ні"),
        }
        if internal:
            row["client"] = h.get("client")
            row["pulls"] = h.get("pulls")
        rows.append(row)
    cols = [
        col("user_agent", "Збирач", "Harvester"),
        col("last_pull_at", "Останнє звернення", "Last pull", "datetime"),
        col("mode", "Режим", "Mode"),
        col("datasets_seen", "Отримав наборів", "Datasets fetched", "number"),
        col("expected", "Мав отримати", "Expected", "number"),
        col("complete", "Усе отримано", "Got everything"),
    ]
    if internal:
        cols += [
            col("client", "Адреса", "Client address"),
            col("pulls", "Запитів", "Requests", "number"),
        ]
    figures = {
        "harvest_published": st.get("published"),
        "harvest_last_at": (main or {}).get("last_pull_at"),
        "harvest_last_complete": run.get("complete") if run else None,
        "harvest_last_missing": run.get("missing") if run else None,
    }
    tables = [
        Table(
            "harvest_status",
            "Збирання даних порталом data.gov.ua",
            "Harvesting by data.gov.ua",
            cols,
            rows,
        )
    ]
    if internal:
        log_ = await f.get("harvest", "/api/v1/harvest/log", {"limit": 50})
        tables.append(
            Table(
                "harvest_log",
                "Журнал збирання (останні 50 запитів)",
                "Harvest log (last 50 requests)",
                [
                    col("at", "Час", "Time", "datetime"),
                    col("client", "Адреса", "Client"),
                    col("user_agent", "Збирач", "User agent"),
                    col("action", "Дія", "Action"),
                    col("count", "Наборів", "Datasets", "number"),
                ],
                [
                    {
                        "at": p["at"],
                        "client": p["client"],
                        "user_agent": (p.get("user_agent") or "")[:80],
                        "action": p["action"],
                        "count": p["count"],
                    }
                    for p in log_["items"]
                ],
                internal=True,
            )
        )
    return figures, tables


SOURCES: dict[
    str, tuple[str, Callable[[Fetcher, str | None, bool], Awaitable[tuple[dict, list[Table]]]]]
] = {
    "catalog": ("catalog", src_catalog),
    "overdue": ("catalog", src_overdue),
    "coverage": ("catalog", src_coverage),
    "quality": ("quality", src_quality),
    "feedback": ("feedback", src_feedback),
    "requests": ("feedback", src_requests),
    "downloads": ("storage", src_downloads),
    "harvest": ("harvest", src_harvest),
}


async def compute(
    rt: Runtime, authorization: str | None, internal: bool, org: str | None
) -> dict[str, Any]:
    f = Fetcher(rt, authorization if internal else None)

    async def run(name: str) -> tuple[str, dict[str, Any], list[Table]]:
        service, fn = SOURCES[name]
        started = time.monotonic()
        try:
            figs, tables = await asyncio.wait_for(fn(f, org, internal), SOURCE_TIMEOUT * 2)
            return (
                name,
                {
                    "status": "ok",
                    "service": service,
                    "figures": figs,
                    "ms": round(1000 * (time.monotonic() - started)),
                },
                tables,
            )
        except Unavailable as exc:
            reason = str(exc)
        except TimeoutError:
            reason = f"{service}: no answer in time"
        except Exception as exc:  # a malformed answer must not break the whole page
            log.warning("dashboard source %s failed: %r", name, exc)
            reason = f"{service}: unexpected answer ({type(exc).__name__})"
        return name, {"status": "unavailable", "service": service, "reason": reason}, []

    results = await asyncio.gather(*(run(n) for n in SOURCES))
    figures: dict[str, Any] = {}
    tables: list[dict[str, Any]] = []
    sources: dict[str, Any] = {}
    for name, meta, tbls in results:
        sources[name] = meta
        figures.update(meta.get("figures", {}))
        tables.extend(t.json() for t in tbls)
    return {
        "generated_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "audience": "moderator" if internal else "public",
        "organization_id": org,
        "cache_seconds": CACHE_SECONDS,
        "sources": sources,
        "figures": figures,
        "tables": tables,
    }


class OverviewCache:
    """Per (audience, organization): the document and when it expires; one computation per miss."""

    def __init__(self) -> None:
        self._docs: dict[tuple[str, str | None], tuple[float, dict[str, Any]]] = {}
        self._inflight: dict[tuple[str, str | None], asyncio.Future[dict[str, Any]]] = {}

    async def get(
        self, key: tuple[str, str | None], make: Callable[[], Awaitable[dict[str, Any]]]
    ) -> tuple[dict[str, Any], bool]:
        hit = self._docs.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1], True
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending), True
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            doc = await make()
            if len(self._docs) > 500:
                self._docs.clear()
            self._docs[key] = (time.monotonic() + CACHE_SECONDS, doc)
            fut.set_result(doc)
            return doc, False
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: no "never retrieved" warning when nobody waited
            raise
        finally:
            self._inflight.pop(key, None)


CACHE = OverviewCache()
