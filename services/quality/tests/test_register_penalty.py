"""The register-update penalty of the steward rating (spec §5.10, −5): the rule on fixed dates,
then ratings and the card against hand-computed values, before and after the steward fixes it."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from quality import methodology
from quality.register import register_lag
from quality.scoring import steward_score
from quality.testing import Q, dataset_doc, org_doc, resource_doc

KYIV = ZoneInfo("Europe/Kyiv")


def kyiv(*a: int) -> datetime:
    return datetime(*a, tzinfo=KYIV)


def ds(did: str, org: str, status: str, changed: datetime) -> dict[str, Any]:
    return {"id": did, "org": org, "title": f"Набір {did}", "status": status, "changed_at": changed}


def entry(org: str | None, did: str | None, status: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "org": org,
        "dataset_id": did,
        "title": f"Запис {did}",
        "status": status,
        "modified_at": kyiv(2026, 11, 2, 9),
    }


def test_three_working_days_on_fixed_dates() -> None:
    # published on Friday 20.11.2026: Mon 23, Tue 24, Wed 25 are the three working days
    fri = kyiv(2026, 11, 20, 10)
    data = [ds("d1", "o", "published", fri)]
    assert register_lag(data, [], kyiv(2026, 11, 25, 23, 59)) == {}
    late = register_lag(data, [], kyiv(2026, 11, 26, 0, 1))["o"]
    assert (late["issue"], late["missing"], late["entries"]) == ("register-missing", True, 0)
    assert late["outdated"][0]["problem"] == "not-in-register"
    assert late["outdated"][0]["due_at"] == "2026-11-25T21:59:59Z"  # 23:59:59 Kyiv
    assert "оприлюднено 20.11.2026" in late["outdated"][0]["message"]
    # martial law: Christmas (Fri 25.12) is a working day, so Thu 24.12 is due on Tue 29.12
    # (with holidays off it would be Wed 30.12)
    thu = [ds("d2", "o", "published", kyiv(2026, 12, 24, 12))]
    assert register_lag(thu, [], kyiv(2026, 12, 29, 23)) == {}
    assert register_lag(thu, [], kyiv(2026, 12, 30, 12))["o"]["issue"] == "register-missing"


def test_what_the_register_must_show() -> None:
    old = kyiv(2026, 10, 1, 12)
    now = kyiv(2026, 11, 26, 12)
    data = [
        ds("shown", "o", "published", old),
        ds("planned", "o", "published", old),
        ds("archived", "o", "archived", old),
        ds("archived-ok", "o", "archived", old),
        ds("draft", "o", "draft", old),
        ds("fresh", "o", "published", now - timedelta(hours=30)),
    ]
    entries = [
        entry("o", "shown", "published"),
        entry("o", "planned", "planned"),
        entry("o", "archived", "published"),
        entry("o", "archived-ok", "withdrawn"),
    ]
    got = register_lag(data, entries, now)["o"]
    assert got["issue"] == "register-outdated" and got["missing"] is False
    assert got["entries"] == 3  # withdrawn entries are not counted
    assert [(x["dataset_id"], x["problem"]) for x in got["outdated"]] == [
        ("archived", "archived-still-published"),  # oldest change first, then by id
        ("planned", "entry-not-published"),
    ]
    assert "«заплановано»" in got["outdated"][1]["message"]
    # only withdrawn entries: the register is missing
    only_withdrawn = [entry("o", None, "withdrawn")]
    assert register_lag(data[:1], only_withdrawn, now)["o"]["issue"] == "register-missing"
    # everything shown: no issue
    ok = register_lag(data[:1], entries[:1], now)["o"]
    assert ok["issue"] is None and ok["outdated"] == []


def test_penalties_add_up_and_floor_at_zero() -> None:
    kw: dict[str, Any] = {"n_req": 4, "n_pub": 2, "n_all": 3, "compliant": 2, "mean_dqi": 80}
    kw |= {"city_dqi": 70, "tm": 1, "r": 1}
    base = steward_score(**kw, has_responsible=True)
    lag = steward_score(**kw, has_responsible=True, register_issue="register-outdated")
    both = steward_score(**kw, has_responsible=False, register_issue="register-missing")
    assert (base["penalties"], lag["penalties"], both["penalties"]) == (0, 5, 15)
    assert round(base["score"] - lag["score"], 1) == 5.0
    assert round(base["score"] - both["score"], 1) == 15.0
    assert [p["code"] for p in both["penalty_reasons"]] == [
        "no-responsible-person",
        "register-missing",
    ]
    # an empty steward with both penalties: 100 × 0.25 × Q(city 0) + R and Tm 0 → floor 0
    empty = steward_score(
        n_req=0,
        n_pub=0,
        n_all=0,
        compliant=0,
        mean_dqi=None,
        city_dqi=0,
        tm=0,
        r=0,
        has_responsible=False,
        register_issue="register-missing",
    )
    assert (empty["score"], empty["rating"]) == (0.0, "D")


def ext(did: Any) -> dict[str, Any]:
    return resource_doc(did, url="https://data.zp.gov.ua/files/zupynky.csv", fmt="CSV")


async def register_entry(q: Q, org: dict[str, Any], did: Any, status: str, rev: int = 1) -> str:
    eid = str(uuid.uuid4())
    await set_entry(q, eid, org, did, status, rev)
    return eid


async def set_entry(q: Q, eid: str, org: dict[str, Any], did: Any, status: str, rev: int) -> None:
    now = datetime.now(UTC)
    await q.feed(
        "catalog.register.created" if rev == 1 else "catalog.register.updated",
        {
            "id": eid,
            "title": "Перелік зупинок громадського транспорту",
            "organization_id": org["id"],
            "status": status,
            "dataset_id": str(did),
            "created_at": now,
            "modified_at": now,
            "revision": rev,
        },
    )


async def test_lagging_register_costs_five_points_until_fixed(q: Q) -> None:
    a = org_doc(title="Департамент транспорту")
    b = org_doc(title="Департамент освіти")
    c = org_doc(title="Комунальне підприємство «Водоканал»", persons=False)
    for o in (a, b, c):
        await q.feed("catalog.organization.created", o)
    ids: dict[str, list[uuid.UUID]] = {"a": [], "b": [], "c": []}
    for key, org in (("a", a), ("b", b), ("c", c)):
        for _ in range(3):
            did = uuid.uuid4()
            ids[key].append(did)
            extra = {"temporal_start": None} if key == "b" else {}
            await q.feed(
                "catalog.dataset.published",
                dataset_doc(org["id"], id=did, resources=[ext(did)], **extra),
            )
    # a: the third dataset's entry still says "planned" 30 days after publication
    for did in ids["a"][:2]:
        await register_entry(q, a, did, "published")
    a3_entry = await register_entry(q, a, ids["a"][2], "planned")
    for did in ids["b"]:
        await register_entry(q, b, did, "published")
    # b published another dataset yesterday and has no entry for it yet: within the 3 days
    fresh = uuid.uuid4()
    await q.feed(
        "catalog.dataset.published",
        dataset_doc(b["id"], id=fresh, resources=[ext(fresh)], published_days_ago=1),
    )

    mod = q.token(roles=["moderator"])
    dqi = {}
    for dids in ids.values():
        for did in dids:
            r = await q.client.get(f"/api/v1/quality/datasets/{did}", headers=mod)
            assert r.status_code == 200 and r.json()["compliant"], r.text
            dqi[did] = r.json()["dqi"]
    city = sum(dqi.values()) / 9

    def raw(key: str) -> float:
        mean = sum(dqi[d] for d in ids[key]) / 3
        q_ = (3 * mean / 100 + 3 * city / 100) / 6
        return 100 * (0.25 * 1 + 0.30 * 1 + 0.25 * q_ + 0.10 * 1 + 0.10 * 1)

    # b lacks the temporal coverage (MQA −20 of 405): a little lower before penalties
    assert 0 < raw("a") - raw("b") < 5
    now = datetime.now(UTC)
    quarter = f"{now.year}Q{(now.month - 1) // 3 + 1}"

    async def rated() -> dict[str, Any]:
        r = await q.client.get(f"/api/v1/quality/ratings?quarter={quarter}")
        assert r.status_code == 200 and r.json()["methodology_version"] == methodology.version()
        return {i["organization_id"]: i for i in r.json()["items"]}

    items = await rated()
    ia, ib, ic = items[a["id"]], items[b["id"]], items[c["id"]]
    assert math.isclose(ia["score"], round(raw("a") - 5, 1), abs_tol=0.11)
    assert math.isclose(ib["score"], round(raw("b"), 1), abs_tol=0.11)
    assert math.isclose(ic["score"], round(raw("c") - 15, 1), abs_tol=0.11)
    assert (ib["rank"], ia["rank"], ic["rank"]) == (1, 2, 3)
    assert ib["penalties"] == 0 and ib["register"]["up_to_date"] is True
    (pen,) = ia["penalty_reasons"]
    assert (pen["code"], pen["points"]) == ("register-outdated", 5)
    assert "не оновлено протягом 3 робочих днів" in pen["message"]
    (lag,) = pen["datasets"]
    assert (lag["dataset_id"], lag["problem"]) == (str(ids["a"][2]), "entry-not-published")
    assert [(p["code"], p["points"]) for p in ic["penalty_reasons"]] == [
        ("no-responsible-person", 10),
        ("register-missing", 5),
    ]
    assert len(ic["penalty_reasons"][1]["datasets"]) == 3

    # the card names what to fix, in JSON and in the CSV
    card = (
        await q.client.get(f"/api/v1/quality/card?quarter={quarter}&organization={a['id']}")
    ).json()
    reg = card["organizational"]["register"]
    assert (reg["entries"], reg["up_to_date"], reg["issue"]) == (3, False, "register-outdated")
    assert reg["link"] == f"/api/v1/register?organization_id={a['id']}"
    assert [x["dataset_id"] for x in reg["lagging"]] == [str(ids["a"][2])]
    assert card["summary"]["penalties"] == 5 and card["summary"]["rank"] == 2
    assert card["publication"]["harvest"]["source"] == "unavailable"  # no harvest-export here
    text = (
        await q.client.get(
            f"/api/v1/quality/card?quarter={quarter}&organization={a['id']}&format=csv"
        )
    ).content.decode("utf-8-sig")
    assert "Реєстр оновлено вчасно,ні" in text and "Штраф −5," in text
    assert "має статус «заплановано»" in text

    # the steward sets the entry to "published": the penalty goes, a ranks first again
    await set_entry(q, a3_entry, a, ids["a"][2], "published", rev=2)
    items = await rated()
    ia, ib = items[a["id"]], items[b["id"]]
    assert ia["penalties"] == 0 and ia["penalty_reasons"] == []
    assert math.isclose(ia["score"], round(raw("a"), 1), abs_tol=0.11)
    assert (ia["rank"], ib["rank"]) == (1, 2)
    card = (
        await q.client.get(f"/api/v1/quality/card?quarter={quarter}&organization={a['id']}")
    ).json()
    assert card["organizational"]["register"]["up_to_date"] is True
    assert card["summary"]["penalty_reasons"] == []
