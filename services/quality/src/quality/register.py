"""The register-update rule of the steward rating (spec §5.10, −5): is the steward's Реєстр
наборів даних (п. 19; the catalog's ``/api/v1/register``, mirrored here from
``catalog.register.*``) up to date with its datasets?

A change the register must show:
- a dataset is **published** (the first time, or again after the archive; its ``published_at``):
  some register entry must link it (``dataset_id``) with status ``published``. Problems:
  ``not-in-register`` (no entry links it), ``entry-not-published`` (the linked entry still says
  planned / in preparation / withdrawn);
- a dataset is **archived** (its ``modified_at``, which the status change sets): no entry linking
  it may still say ``published`` (``archived-still-published``).

The register lags when such a change is still not shown after the end (Kyiv time) of the 3rd
working day after the day of the change (portal_kit.workdays; by default public holidays are
working days under martial law, as in the feedback service; the calendar is part of the
methodology, so a frozen quarter is judged by the rules of its version). It is **missing** when
the steward has no register entry at all (withdrawn ones do not count) and a published dataset
is past that deadline. Either costs the steward −5 once, with every lagging dataset listed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from portal_kit.workdays import WorkCalendar
from sqlmodel.ext.asyncio.session import AsyncSession

from quality.methodology import methodology
from quality.models import QDataset, QRegisterEntry

STATUS_UK = {
    "planned": "заплановано",
    "in_preparation": "готується",
    "published": "оприлюднено",
    "withdrawn": "вилучено",
}


def calendar() -> WorkCalendar:
    c = methodology()["steward"]["register_update"]["calendar"]
    return WorkCalendar(
        holidays_are_days_off=bool(c["holidays_are_days_off"]),
        extra_days_off=[date.fromisoformat(d) for d in c["extra_days_off"]],
        timezone=str(c["timezone"]),
    )


def _dt(v: Any) -> datetime | None:
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=UTC)
    if not v:
        return None
    try:
        d = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _iso(d: datetime) -> str:
    return d.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _problem(
    d: dict[str, Any], linked: list[dict[str, Any]], day: str
) -> tuple[str, str, str] | None:
    """(problem, Ukrainian message, English message), or None when the register shows it."""
    t = d["title"]
    if d["status"] == "published":
        if any(e["status"] == "published" for e in linked):
            return None
        if not linked:
            return (
                "not-in-register",
                f"Набір «{t}» оприлюднено {day}, але його немає в реєстрі наборів даних: "
                "додайте запис або зазначте цей набір у наявному записі",
                f"Dataset '{t}' was published on {day} but is not in the register of datasets: "
                "add an entry or link the dataset from an existing one",
            )
        e = linked[0]
        return (
            "entry-not-published",
            f"Набір «{t}» оприлюднено {day}, а запис реєстру «{e['title']}» має статус "
            f"«{STATUS_UK.get(e['status'], e['status'])}»: змініть статус на «оприлюднено»",
            f"Dataset '{t}' was published on {day} but its register entry '{e['title']}' "
            f"says '{e['status']}': set it to 'published'",
        )
    stale = [e for e in linked if e["status"] == "published"]
    if d["status"] == "archived" and stale:
        return (
            "archived-still-published",
            f"Набір «{t}» переведено до архіву {day}, а запис реєстру «{stale[0]['title']}» "
            "досі має статус «оприлюднено»: оновіть запис",
            f"Dataset '{t}' was archived on {day} but its register entry "
            f"'{stale[0]['title']}' still says 'published': update the entry",
        )
    return None


def register_lag(
    datasets: list[dict[str, Any]], entries: list[dict[str, Any]], now: datetime
) -> dict[str, dict[str, Any]]:
    """Per organization id: ``entries`` (not withdrawn), ``last_update`` (newest entry change),
    ``outdated`` (the lagging changes, each with what to fix), ``missing`` and ``issue``
    (``register-missing`` | ``register-outdated`` | None).

    ``datasets``: ``{id, org, title, status, changed_at}``; ``entries``: ``{id, org,
    dataset_id, title, status, modified_at}`` (ids as strings, times aware datetimes)."""
    wd = int(methodology()["steward"]["register_update"]["working_days"])
    cal = calendar()
    out: dict[str, dict[str, Any]] = {}

    def org(oid: str) -> dict[str, Any]:
        return out.setdefault(
            oid, {"entries": 0, "last_update": None, "missing": False, "outdated": []}
        )

    linked: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        if e.get("dataset_id"):
            linked.setdefault(e["dataset_id"], []).append(e)
        if e.get("org") and e["status"] != "withdrawn":
            o = org(e["org"])
            o["entries"] += 1
            m = e.get("modified_at")
            if m is not None and (o["last_update"] is None or _iso(m) > o["last_update"]):
                o["last_update"] = _iso(m)
    for d in sorted(datasets, key=lambda d: (d["changed_at"], d["id"])):
        changed: datetime = d["changed_at"]
        found = _problem(
            d, linked.get(d["id"], []), changed.astimezone(cal.tz).strftime("%d.%m.%Y")
        )
        if found is None:
            continue
        deadline = cal.deadline(changed, wd)
        if now <= deadline:
            continue  # still within the working days the steward has
        problem, uk, en = found
        org(d["org"])["outdated"].append(
            {
                "dataset_id": d["id"],
                "title": d["title"],
                "problem": problem,
                "changed_at": _iso(changed),
                "due_at": _iso(deadline),
                "message": uk,
                "message_en": en,
            }
        )
    for o in out.values():
        o["missing"] = o["entries"] == 0 and any(
            x["problem"] == "not-in-register" for x in o["outdated"]
        )
        o["issue"] = (
            "register-missing" if o["missing"] else ("register-outdated" if o["outdated"] else None)
        )
    return out


async def register_state(session: AsyncSession, now: datetime) -> dict[str, dict[str, Any]]:
    """register_lag over the stored datasets and register entries."""
    rows = (
        (
            await session.exec(
                sa.select(QDataset).where(  # type: ignore[call-overload]
                    QDataset.deleted.is_(False), QDataset.status.in_(["published", "archived"])
                )
            )
        )
        .scalars()
        .all()
    )
    datasets = []
    for r in rows:
        doc = r.doc or {}
        when = (
            doc.get("published_at") or doc.get("first_published_at")
            if r.status == "published"
            else doc.get("modified_at")
        )
        datasets.append(
            {
                "id": str(r.id),
                "org": str(r.organization_id),
                "title": doc.get("title") or "",
                "status": r.status,
                "changed_at": _dt(when) or r.updated_at,
            }
        )
    entries = [
        {
            "id": str(e.id),
            "org": str(e.organization_id) if e.organization_id else None,
            "dataset_id": str(e.dataset_id) if e.dataset_id else None,
            "title": (e.doc or {}).get("title") or "",
            "status": e.status,
            "modified_at": _dt((e.doc or {}).get("modified_at")),
        }
        for e in (await session.exec(sa.select(QRegisterEntry))).scalars().all()  # type: ignore[call-overload]
    ]
    return register_lag(datasets, entries, now)


def penalty_messages(reason: dict[str, Any], register: dict[str, Any] | None) -> dict[str, Any]:
    """A penalty of the rating with what the steward must fix."""
    wd = methodology()["steward"]["register_update"]["working_days"]
    code = reason["code"]
    if code == "no-responsible-person":
        return {
            **reason,
            "message": "Не призначено відповідальну особу за оприлюднення наборів даних "
            "(розпорядчий документ, п. 24 Положення): додайте її в картці розпорядника",
            "message_en": "No designated responsible person is on file: add one to the "
            "organization",
        }
    lagging = (register or {}).get("outdated", [])
    if code == "register-missing":
        uk = (
            "Реєстр наборів даних розпорядника відсутній: немає жодного запису, а наборів, "
            f"оприлюднених понад {wd} робочі дні тому без запису: {len(lagging)}"
        )
        en = (
            "The steward has no register of datasets: not one entry, though "
            f"{len(lagging)} datasets were published more than {wd} working days ago"
        )
    else:
        uk = (
            f"Реєстр наборів даних не оновлено протягом {wd} робочих днів після змін "
            f"(наборів: {len(lagging)})"
        )
        en = (
            f"The register of datasets was not updated within {wd} working days of a change "
            f"({len(lagging)} datasets)"
        )
    return {**reason, "message": uk, "message_en": en, "datasets": lagging}
