"""KPI (85 % target), snapshots, steward ratings and the quarterly monitoring card."""

from __future__ import annotations

import csv
import io
import logging
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from portal_kit.db import utc_now
from portal_kit.exports import neutralize as _neutralize
from sqlmodel.ext.asyncio.session import AsyncSession

from quality.methodology import methodology, version
from quality.models import QDataset, QDatasetScore, QOrganization, QRegisterEntry, QSnapshot
from quality.register import penalty_messages, register_state
from quality.scoring import kpi_gap, steward_score

log = logging.getLogger("quality.monitoring")
GATES = ["C1", "C2", "C3", "C4", "C5", "C6", "C7"]
GATE_UK = {
    "C1": "Паспорт набору даних заповнено повністю",
    "C2": "Машиночитаний формат",
    "C3": "Структура набору даних",
    "C4": "Доступність посилань",
    "C5": "Своєчасне оновлення",
    "C6": "Дані без критичних помилок",
    "C7": "Відкриті умови використання (CC BY 4.0)",
}
_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")


def parse_quarter(q: str) -> tuple[int, int] | None:
    m = _QUARTER.match(q or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def quarter_of(d: datetime) -> str:
    return f"{d.year}Q{(d.month - 1) // 3 + 1}"


def quarter_bounds(q: str) -> tuple[datetime, datetime]:
    y, n = parse_quarter(q)  # type: ignore[misc]
    start = datetime(y, 3 * (n - 1) + 1, 1, tzinfo=UTC)
    end = datetime(y + (n == 4), 1 if n == 4 else 3 * n + 1, 1, tzinfo=UTC)
    return start, end


def previous_quarter(q: str) -> str:
    y, n = parse_quarter(q)  # type: ignore[misc]
    return f"{y - 1}Q4" if n == 1 else f"{y}Q{n - 1}"


def week_of(d: datetime) -> str:
    iso = d.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


async def current_state(session: AsyncSession, now: datetime) -> dict[str, Any]:
    """Everything a snapshot stores: per in-scope dataset its gates, DQI, timeliness; per org."""
    rows = (await session.exec(sa.select(QDatasetScore))).scalars().all()  # type: ignore[call-overload]
    datasets = []
    for r in rows:
        if not r.in_scope:
            continue
        rep = r.report or {}
        datasets.append(
            {
                "id": str(r.dataset_id),
                "org": str(r.organization_id),
                "dqi": r.dqi,
                "band": r.band,
                "mqa_band": r.mqa_band,
                "compliant": r.compliant,
                "timely": r.is_timely,
                "gates": rep.get("gates", {}),
                "codes": sorted(
                    {c for res in rep.get("resources", []) for c in (res.get("error_counts") or {})}
                ),
                "broken": sum(
                    1 for res in rep.get("resources", []) if res.get("url_status") == "BROKEN"
                ),
            }
        )
    state = summarize_state(datasets)
    state["register"] = await register_state(session, now)  # frozen with a quarter snapshot
    return state


def summarize_state(datasets: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(datasets)
    comp = sum(1 for d in datasets if d["compliant"])
    orgs: dict[str, dict[str, Any]] = {}
    for d in datasets:
        o = orgs.setdefault(d["org"], {"n_all": 0, "compliant": 0, "timely": 0, "dqi_sum": 0.0})
        o["n_all"] += 1
        o["compliant"] += int(d["compliant"])
        o["timely"] += int(d["timely"])
        o["dqi_sum"] += d["dqi"]
    return {
        "in_scope": n,
        "compliant": comp,
        "kpi": (comp / n) if n else None,
        "datasets": datasets,
        "orgs": orgs,
    }


def fix_first(datasets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per gate: datasets failing only that gate (largest KPI gain first), and failing it at all."""
    out = []
    for g in GATES:
        only = sum(
            1
            for d in datasets
            if not d["compliant"] and [x for x in GATES if not d["gates"].get(x, False)] == [g]
        )
        any_ = sum(1 for d in datasets if not d["gates"].get(g, False))
        out.append({"gate": g, "title": GATE_UK[g], "blocked_only_by_this": only, "failing": any_})
    out.sort(key=lambda x: (-x["blocked_only_by_this"], -x["failing"], x["gate"]))
    return [x for x in out if x["failing"]]


async def take_snapshot(
    session: AsyncSession,
    kind: str,
    period: str,
    now: datetime,
    replace: bool = False,
    feedback: dict[str, dict[str, Any]] | None = None,
    harvest: dict[str, dict[str, Any]] | None = None,
) -> QSnapshot:
    existing = (
        (
            await session.exec(
                sa.select(QSnapshot).where(  # type: ignore[call-overload]
                    QSnapshot.kind == kind, QSnapshot.period == period
                )
            )
        )
        .scalars()
        .first()
    )
    if existing is not None and not replace:
        return existing
    state = await current_state(session, now)
    if kind == "quarter" and feedback is not None:
        state["feedback"] = feedback  # R is frozen with the quarter
    if kind == "quarter" and harvest is not None:
        state["harvest"] = harvest  # and so is the card's harvest status
    if existing is None:
        existing = QSnapshot(kind=kind, period=period, methodology_version=version())
        session.add(existing)
    existing.taken_at, existing.methodology_version = now, version()
    existing.in_scope, existing.compliant, existing.kpi = (
        state["in_scope"],
        state["compliant"],
        state["kpi"],
    )
    existing.data = state
    await session.flush()
    return existing


async def scheduled_snapshots(
    session: AsyncSession,
    now: datetime,
    feedback: dict[str, dict[str, Any]] | None = None,
    harvest: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Weekly snapshot once per ISO week; the quarter-end snapshot frozen at the first run after it."""
    await take_snapshot(session, "weekly", week_of(now), now)
    prev = previous_quarter(quarter_of(now))
    _, prev_end = quarter_bounds(prev)
    if now >= prev_end and now - prev_end < timedelta(days=7):
        await take_snapshot(session, "quarter", prev, now, feedback=feedback, harvest=harvest)


async def kpi(session: AsyncSession, now: datetime, quarter: str | None = None) -> dict[str, Any]:
    target = methodology()["compliance"]["kpi_target"]
    state = await current_state(session, now)
    snaps = (await session.exec(sa.select(QSnapshot).order_by(QSnapshot.taken_at))).scalars().all()  # type: ignore[call-overload,arg-type]
    q = quarter or quarter_of(now)
    start, end = quarter_bounds(q)
    weekly = [
        s for s in snaps if s.kind == "weekly" and start <= s.taken_at < end and s.kpi is not None
    ]
    frozen = next((s for s in snaps if s.kind == "quarter" and s.period == q), None)
    return {
        "methodology_version": version(),
        "target": target,
        "as_of": now.isoformat().replace("+00:00", "Z"),
        "in_scope": state["in_scope"],
        "compliant": state["compliant"],
        "kpi": None if state["kpi"] is None else round(state["kpi"], 4),
        "target_met": state["kpi"] is not None and state["kpi"] >= target,
        "gap": kpi_gap(state["in_scope"], state["compliant"]),
        "fix_first": fix_first(state["datasets"]),
        "quarter": q,
        "kpi_avg_weekly": round(sum(s.kpi for s in weekly) / len(weekly), 4) if weekly else None,  # type: ignore[misc]
        "quarter_end": None
        if frozen is None
        else {
            "kpi": frozen.kpi,
            "in_scope": frozen.in_scope,
            "compliant": frozen.compliant,
            "taken_at": frozen.taken_at.isoformat().replace("+00:00", "Z"),
        },
        "history": [
            {
                "kind": s.kind,
                "period": s.period,
                "kpi": s.kpi,
                "in_scope": s.in_scope,
                "compliant": s.compliant,
                "taken_at": s.taken_at.isoformat().replace("+00:00", "Z"),
            }
            for s in snaps
        ],
    }


async def _orgs(session: AsyncSession) -> dict[str, dict[str, Any]]:
    rows = (
        (await session.exec(sa.select(QOrganization).where(QOrganization.deleted.is_(False))))
        .scalars()
        .all()
    )  # type: ignore[call-overload,attr-defined]
    return {str(o.id): o.doc for o in rows}


async def _n_req_pub(session: AsyncSession, in_scope_ids: set[str]) -> dict[str, tuple[int, int]]:
    rows = (await session.exec(sa.select(QRegisterEntry))).scalars().all()  # type: ignore[call-overload]
    out: dict[str, list[int]] = {}
    for r in rows:
        if r.organization_id is None or r.status == "withdrawn":
            continue
        o = out.setdefault(str(r.organization_id), [0, 0])
        o[0] += 1
        if r.dataset_id is not None and str(r.dataset_id) in in_scope_ids:
            o[1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


STATS_CACHE_SECONDS = 10.0


async def _peer_stats(ctx: Any, peer: str, path: str) -> dict[str, dict[str, Any]] | None:
    """Per organization, another service's public statistics (``{"items": [{"organization_id":
    ...}]}``) through ``PORTAL_QUALITY_<PEER>_URL`` (default: the gateway). None when the
    service cannot be reached. Cached for ten seconds per process, failures too (a service
    that is down is not asked on every request)."""
    import time

    import httpx

    cached = ctx.extras.get(f"{peer}_stats")
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    base = (getattr(ctx.settings, f"{peer}_url", None) or ctx.settings.public_base_url).rstrip("/")
    try:
        r = await ctx.http.get(
            f"{base}{path}", timeout=getattr(ctx.settings, f"{peer}_timeout", 5.0)
        )
        if r.status_code != 200:
            raise ValueError(f"status {r.status_code}")
        items = {str(i["organization_id"]): i for i in r.json()["items"]}
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s statistics unavailable: %r", peer, exc)
        items = None
    ctx.extras[f"{peer}_stats"] = (time.monotonic() + STATS_CACHE_SECONDS, items)
    return items


async def fetch_feedback(ctx: Any) -> dict[str, dict[str, Any]] | None:
    """The feedback service's per-organization statistics: the input of R (None: R falls back
    to 1.0 and the rating says so)."""
    return await _peer_stats(ctx, "feedback", "/api/v1/stats/feedback/organizations")


async def fetch_harvest(ctx: Any) -> dict[str, dict[str, Any]] | None:
    """harvest-export's per-organization statistics: datasets served to the national portal
    and how many its harvester fetched since their last change (the card's «Оприлюднення»)."""
    return await _peer_stats(ctx, "harvest", "/api/v1/stats/harvest/organizations")


def responsiveness(feedback: dict[str, dict[str, Any]] | None, org_id: str) -> tuple[float, str]:
    """R of spec §5.10 and where it came from: the share of reports answered within their
    deadline (10 working days; unanswered overdue ones count as late), 1.0 if none was judged."""
    if feedback is None:
        return 1.0, "unavailable"
    share = (feedback.get(org_id) or {}).get("on_time_share")
    if share is None:
        return 1.0, "no-feedback"
    return float(share), "feedback"


async def ratings(
    session: AsyncSession,
    quarter: str,
    now: datetime,
    feedback: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Steward ratings: the quarter-end frozen snapshot if taken, else live (provisional)."""
    snaps = (await session.exec(sa.select(QSnapshot))).scalars().all()  # type: ignore[call-overload]
    frozen = next((s for s in snaps if s.kind == "quarter" and s.period == quarter), None)
    state = frozen.data if frozen is not None else await current_state(session, now)
    if frozen is not None and "feedback" in state:
        feedback = state["feedback"]  # frozen with the snapshot
    start, end = quarter_bounds(quarter)
    weekly = [s for s in snaps if s.kind == "weekly" and start <= s.taken_at < end]
    items = compute_ratings(
        state,
        weekly_states=[s.data for s in weekly],
        orgs=await _orgs(session),
        req_pub=await _n_req_pub(session, {d["id"] for d in state["datasets"]}),
        feedback=feedback,
    )
    prev = next(
        (s for s in snaps if s.kind == "quarter" and s.period == previous_quarter(quarter)), None
    )
    if prev is not None:
        prev_items = {
            i["organization_id"]: i
            for i in compute_ratings(
                prev.data,
                weekly_states=[],
                orgs=await _orgs(session),
                req_pub=await _n_req_pub(session, {d["id"] for d in prev.data["datasets"]}),
                feedback=prev.data.get("feedback"),
            )
        }
        for i in items:
            p = prev_items.get(i["organization_id"])
            i["previous_score"] = p["score"] if p else None
            i["change"] = round(i["score"] - p["score"], 1) if p else None
            i["previous_rank"] = p["rank"] if p else None
    return {
        "quarter": quarter,
        "frozen": frozen is not None,
        "methodology_version": version(),
        "items": items,
    }


def compute_ratings(
    state: dict[str, Any],
    *,
    weekly_states: list[dict[str, Any]],
    orgs: dict[str, dict[str, Any]],
    req_pub: dict[str, tuple[int, int]],
    feedback: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    datasets = state["datasets"]
    city = (sum(d["dqi"] for d in datasets) / len(datasets)) if datasets else 0.0
    org_ids = set(state["orgs"]) | set(req_pub)
    # snapshots taken before methodology 2026.11-2 carry no register state: no penalty then
    registers = state.get("register")
    items = []
    for oid in org_ids:
        o = state["orgs"].get(oid, {"n_all": 0, "compliant": 0, "timely": 0, "dqi_sum": 0.0})
        n_all = o["n_all"]
        tms = [
            w["orgs"][oid]["timely"] / w["orgs"][oid]["n_all"]
            for w in weekly_states
            if oid in w.get("orgs", {}) and w["orgs"][oid]["n_all"]
        ]
        tm = (sum(tms) / len(tms)) if tms else ((o["timely"] / n_all) if n_all else 0.0)
        n_req, n_pub = req_pub.get(oid, (0, 0))
        doc = orgs.get(oid, {})
        r, r_source = responsiveness(feedback, oid)
        reg = (registers or {}).get(oid)
        s = steward_score(
            n_req=n_req,
            n_pub=n_pub,
            n_all=n_all,
            compliant=o["compliant"],
            mean_dqi=(o["dqi_sum"] / n_all) if n_all else None,
            city_dqi=city,
            tm=tm,
            r=r,
            has_responsible=bool(doc.get("responsible_persons")),
            register_issue=(reg or {}).get("issue"),
        )
        s["penalty_reasons"] = [penalty_messages(p, reg) for p in s["penalty_reasons"]]
        items.append(
            {
                "organization_id": oid,
                "name": doc.get("name"),
                "title": doc.get("title"),
                **s,
                "r_source": r_source,
                "register": None
                if registers is None
                else {
                    "entries": (reg or {}).get("entries", 0),
                    "last_update": (reg or {}).get("last_update"),
                    "up_to_date": not (reg or {}).get("issue"),
                },
            }
        )
    ranked = sorted(
        (i for i in items if i["ranked"]),
        key=lambda i: (-i["score"], -i["comp"], -i["cov"], -i["n_pub"]),
    )
    for n, i in enumerate(ranked, 1):
        i["rank"] = n
    for i in items:
        i.setdefault("rank", None)
        i["note"] = None if i["ranked"] else "мало даних"
    items.sort(key=lambda i: (i["rank"] is None, i["rank"] or 0, -i["score"]))
    return items


async def card(
    session: AsyncSession,
    quarter: str,
    organization_id: uuid.UUID | None,
    now: datetime,
    feedback: dict[str, dict[str, Any]] | None = None,
    harvest: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    r = await ratings(session, quarter, now, feedback)
    snaps = (await session.exec(sa.select(QSnapshot))).scalars().all()  # type: ignore[call-overload]
    frozen = next((s for s in snaps if s.kind == "quarter" and s.period == quarter), None)
    state = frozen.data if frozen is not None else await current_state(session, now)
    if frozen is not None and state.get("harvest") is not None:
        harvest = state["harvest"]  # as it was when the quarter was frozen
    ds = [
        d for d in state["datasets"] if organization_id is None or d["org"] == str(organization_id)
    ]
    n = len(ds)
    orgs = await _orgs(session)
    rating = None
    if organization_id is not None:
        rating = next((i for i in r["items"] if i["organization_id"] == str(organization_id)), None)
    overdue = []
    for d in ds:
        if not d["timely"]:
            row = await session.get(QDataset, uuid.UUID(d["id"]))
            sc = await session.get(QDatasetScore, uuid.UUID(d["id"]))
            overdue.append(
                {
                    "title": (row.doc.get("title") if row else ""),
                    "update_frequency": row.doc.get("update_frequency") if row else None,
                    "due_at": sc.due_at.isoformat().replace("+00:00", "Z")
                    if sc and sc.due_at
                    else None,
                    "days_late": (now - sc.due_at).days if sc and sc.due_at else None,
                }
            )
    codes: dict[str, int] = {}
    for d in ds:
        for c in d.get("codes", []):
            codes[c] = codes.get(c, 0) + 1
    pct = lambda k: round(100 * k / n, 1) if n else None  # noqa: E731
    org_doc = orgs.get(str(organization_id), {}) if organization_id else {}
    persons = org_doc.get("responsible_persons") or []
    return {
        "quarter": quarter,
        "frozen": frozen is not None,
        "methodology_version": version(),
        "organization": {
            "id": str(organization_id),
            "name": org_doc.get("name"),
            "title": org_doc.get("title"),
            "edrpou": org_doc.get("edrpou"),
        }
        if organization_id
        else None,
        "organizational": {
            "responsible_persons": persons,
            "has_responsible_person": bool(persons),
            "register": _register_section(state, organization_id),
        }
        if organization_id
        else None,
        "publication": {
            "n_req": rating["n_req"] if rating else None,
            "n_pub": rating["n_pub"] if rating else None,
            "cov_pct": round(100 * rating["cov"], 1) if rating else None,
            "n_all": n,
            "harvest": _harvest_section(harvest, organization_id),
        },
        "updates": {
            "timely": sum(1 for d in ds if d["timely"]),
            "overdue": len(overdue),
            "overdue_list": overdue,
        },
        "quality": {
            "mean_dqi": round(sum(d["dqi"] for d in ds) / n, 1) if n else None,
            "mqa_bands": {
                b: sum(1 for d in ds if d["mqa_band"] == b)
                for b in ("excellent", "good", "sufficient", "bad")
            },
            "machine_readable_pct": pct(sum(1 for d in ds if d["gates"].get("C2"))),
            "structure_pct": pct(sum(1 for d in ds if d["gates"].get("C3"))),
            "passport_complete_pct": pct(sum(1 for d in ds if d["gates"].get("C1"))),
            "broken_urls": sum(d.get("broken", 0) for d in ds),
            "validation_codes": dict(sorted(codes.items())),
        },
        "compliance": {
            "compliant": sum(1 for d in ds if d["compliant"]),
            "comp_pct": pct(sum(1 for d in ds if d["compliant"])),
            "gates": {g: sum(1 for d in ds if d["gates"].get(g)) for g in GATES},
        },
        "interaction": _interaction(feedback, organization_id, rating),
        "summary": {
            "score": rating["score"] if rating else None,
            "rating": rating["rating"] if rating else None,
            "rank": rating["rank"] if rating else None,
            "change": rating.get("change") if rating else None,
            "penalties": rating["penalties"] if rating else None,
            "penalty_reasons": rating["penalty_reasons"] if rating else [],
            "top_actions": [
                f"{x['gate']}: {x['title']} ({x['failing']})" for x in fix_first(ds)[:3]
            ],
        },
        "council": organization_id is None,
    }


def _register_section(state: dict[str, Any], organization_id: uuid.UUID) -> dict[str, Any]:
    """Spec §5.11 «Організаційне»: the steward's register (link, last update) and, per spec
    §5.10, whether it followed every change within the working days allowed."""
    link = f"/api/v1/register?organization_id={organization_id}"
    registers = state.get("register")
    if registers is None:  # a snapshot from before methodology 2026.11-2
        return {"link": link, "recorded": False}
    reg = registers.get(str(organization_id)) or {}
    return {
        "link": link,
        "recorded": True,
        "entries": reg.get("entries", 0),
        "last_update": reg.get("last_update"),
        "up_to_date": not reg.get("issue"),
        "issue": reg.get("issue"),
        "lagging": reg.get("outdated", []),
    }


def _harvest_section(
    harvest: dict[str, dict[str, Any]] | None, organization_id: uuid.UUID | None
) -> dict[str, Any]:
    """Spec §5.11 «Оприлюднення»: datasets mirrored to data.gov.ua — of the datasets
    harvest-export serves, how many the national harvester fetched since their last change
    (``stale``: fetched before it, ``never``: not fetched yet). A frozen quarter shows what was
    recorded when it was frozen (quarters frozen before that was recorded show it live)."""
    if harvest is None:
        return {"source": "unavailable", "note": "harvest statistics unavailable"}
    items = [v for k, v in harvest.items() if organization_id is None or k == str(organization_id)]
    served = sum(int(i.get("published") or 0) for i in items)
    fetched = sum(int(i.get("fetched") or 0) for i in items)
    last = max((i["last_fetch_at"] for i in items if i.get("last_fetch_at")), default=None)
    return {
        "source": "harvest-export",
        "served": served,
        "fetched": fetched,
        "stale": sum(int(i.get("stale") or 0) for i in items),
        "never": sum(int(i.get("never") or 0) for i in items),
        "fetched_pct": round(100 * fetched / served, 1) if served else None,
        "last_fetch_at": last,
    }


def _interaction(
    feedback: dict[str, dict[str, Any]] | None,
    organization_id: uuid.UUID | None,
    rating: dict[str, Any] | None,
) -> dict[str, Any]:
    if feedback is None:
        return {"source": "unavailable", "note": "feedback statistics unavailable; R = 1.0"}
    items = [v for k, v in feedback.items() if organization_id is None or k == str(organization_id)]
    total = sum(int(i.get("total") or 0) for i in items)
    answered = sum(int(i.get("answered") or 0) for i in items)
    overdue = sum(int(i.get("overdue") or 0) for i in items)
    out: dict[str, Any] = {
        "source": "feedback",
        "reports": total,
        "answered": answered,
        "overdue": overdue,
    }
    if rating is not None:
        out["r"] = rating["r"]
    return out


def card_rows(c: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """The card as (розділ, показник, значення) rows, Ukrainian headings."""
    q, p, u, comp, s = c["quality"], c["publication"], c["updates"], c["compliance"], c["summary"]
    rows: list[tuple[str, str, Any]] = [
        ("Загальне", "Квартал", c["quarter"]),
        (
            "Загальне",
            "Розпорядник",
            (c["organization"] or {}).get("title") or "Міська рада (усі розпорядники)",
        ),
        ("Загальне", "Код ЄДРПОУ", (c["organization"] or {}).get("edrpou") or ""),
        ("Загальне", "Версія методики", c["methodology_version"]),
        ("Загальне", "Знімок на кінець кварталу", "так" if c["frozen"] else "ні (попередні дані)"),
    ]
    if c.get("organizational") is not None:
        names = "; ".join(
            f"{x.get('name')} <{x.get('email') or ''}>"
            for x in c["organizational"]["responsible_persons"]
        )
        rows.append(("Організаційне", "Відповідальна особа", names or "не призначено"))
        reg = c["organizational"]["register"]
        rows.append(("Організаційне", "Реєстр наборів даних", reg["link"]))
        if reg["recorded"]:
            rows += [
                ("Організаційне", "Реєстр: записів", reg["entries"]),
                ("Організаційне", "Реєстр: останнє оновлення", reg["last_update"] or "—"),
                ("Організаційне", "Реєстр оновлено вчасно", "так" if reg["up_to_date"] else "ні"),
            ]
            for x in reg["lagging"]:
                rows.append(("Організаційне", f"Реєстр: {x['title']}", x["message"]))
    rows += [
        ("Оприлюднення", "Наборів за переліком (N_req)", p["n_req"]),
        ("Оприлюднення", "Оприлюднено з переліку (N_pub)", p["n_pub"]),
        ("Оприлюднення", "Охоплення, %", p["cov_pct"]),
        ("Оприлюднення", "Наборів у моніторингу", p["n_all"]),
    ]
    h = p["harvest"]
    if h["source"] == "harvest-export":
        rows += [
            ("Оприлюднення", "Передається на data.gov.ua (наборів)", h["served"]),
            ("Оприлюднення", "Зібрано data.gov.ua після останньої зміни", h["fetched"]),
            ("Оприлюднення", "Змінено після останнього збору", h["stale"]),
            ("Оприлюднення", "Ще не зібрано", h["never"]),
            ("Оприлюднення", "Останній збір data.gov.ua", h["last_fetch_at"] or "—"),
        ]
    else:
        rows.append(("Оприлюднення", "Збір data.gov.ua", "дані сервісу експорту недоступні"))
    rows += [
        ("Оновлення", "Оновлено вчасно", u["timely"]),
        ("Оновлення", "Прострочено", u["overdue"]),
    ]
    for o in u["overdue_list"]:
        rows.append(
            (
                "Оновлення",
                f"Прострочений: {o['title']}",
                f"{o['update_frequency']}, {o['days_late']} дн.",
            )
        )
    rows += [
        ("Якість", "Середній індекс якості (DQI)", q["mean_dqi"]),
        ("Якість", "Машиночитані формати, %", q["machine_readable_pct"]),
        ("Якість", "Зі структурою, %", q["structure_pct"]),
        ("Якість", "Паспорт заповнено, %", q["passport_complete_pct"]),
        ("Якість", "Недоступні посилання", q["broken_urls"]),
    ]
    for b, v in q["mqa_bands"].items():
        rows.append(("Якість", f"MQA: {b}", v))
    for code, v in q["validation_codes"].items():
        rows.append(("Якість", f"Помилки валідації: {code}", v))
    inter = c.get("interaction") or {}
    if inter.get("source") == "feedback":
        rows += [
            ("Взаємодія", "Звернень щодо даних", inter["reports"]),
            ("Взаємодія", "З них отримали відповідь", inter["answered"]),
            ("Взаємодія", "Прострочено без відповіді", inter["overdue"]),
        ]
    else:
        rows.append(("Взаємодія", "Звернення", "дані сервісу зворотного зв'язку недоступні"))
    rows += [
        ("Відповідність", "Відповідають рекомендаціям", comp["compliant"]),
        ("Відповідність", "Частка відповідних, %", comp["comp_pct"]),
    ]
    for g, v in comp["gates"].items():
        rows.append(("Відповідність", f"{g} {GATE_UK[g]}", v))
    rows += [
        ("Підсумок", "Бал", s["score"]),
        ("Підсумок", "Рейтинг", s["rating"]),
        ("Підсумок", "Місце", s["rank"]),
        ("Підсумок", "Зміна до попереднього кварталу", s["change"]),
    ]
    for pen in s["penalty_reasons"]:
        rows.append(("Підсумок", f"Штраф −{pen['points']}", pen["message"]))
    for i, a in enumerate(s["top_actions"], 1):
        rows.append(("Підсумок", f"Першочергова дія {i}", a))
    return rows


def neutralize(v: Any) -> Any:
    """Formula injection: a text cell starting with = + - @ (or tab/CR) is prefixed with '."""
    return "" if v is None else _neutralize(v)


def card_csv(c: dict[str, Any]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["Розділ", "Показник", "Значення"])
    for row in card_rows(c):
        w.writerow([neutralize(x) for x in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def card_xlsx(c: dict[str, Any]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = f"Картка {c['quarter']}"
    ws.append(["Розділ", "Показник", "Значення"])
    for row in card_rows(c):
        ws.append([neutralize(x) for x in row])
    for col, width in (("A", 18), ("B", 48), ("C", 40)):
        ws.column_dimensions[col].width = width
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def today() -> date:
    return utc_now().date()
