"""The moderation pre-check, and KPI / steward ratings / card against hand-computed values."""

from __future__ import annotations

import io
import math
import uuid
from datetime import UTC, datetime
from typing import Any

from openpyxl import load_workbook

from quality.testing import Q, dataset_doc, org_doc, resource_doc


def ext_resource(ds_id: Any) -> dict[str, Any]:
    return resource_doc(ds_id, url="https://data.zp.gov.ua/files/zupynky.csv", fmt="CSV")


async def test_precheck_blocks_with_exact_reasons_and_passes_once_fixed(q: Q) -> None:
    org = org_doc()
    await q.feed("catalog.organization.created", org)
    ds_id = uuid.uuid4()
    bad = dataset_doc(
        org["id"],
        id=ds_id,
        status="submitted",
        resources=[ext_resource(ds_id)],
        description="Зупинки",
        license_id="CC-BY-SA-4.0",
        maintainer_email="не пошта",
    )
    moderator = q.token(roles=["moderator"])
    r = await q.client.post("/api/v1/quality/precheck", json=_j(bad), headers=moderator)
    assert r.status_code == 200, r.text
    body = r.json()
    assert {(b["code"], b["field"]) for b in body["blocking"]} == {
        ("C1-description", "description"),
        ("C1-contact", "maintainer_email"),
        ("C7-open-terms", "license_id"),
    }
    desc = next(b for b in body["blocking"] if b["code"] == "C1-description")
    assert "від 100 до 4000" in desc["message"] and "(now 7)" in desc["message_en"]
    assert (
        body["methodology_version"]
        and body["gates"]["C1"] is False
        and body["gates"]["C7"] is False
    )
    fixed = {
        **bad,
        "description": dataset_doc(org["id"])["description"],
        "license_id": "CC-BY-4.0",
        "maintainer_email": "o.koval@zp.gov.ua",
    }
    r = await q.client.post("/api/v1/quality/precheck", json=_j(fixed), headers=moderator)
    assert r.status_code == 200 and r.json()["blocking"] == [], r.text
    # an editor of the organization may pre-check; another organization's editor may not
    assert (
        await q.client.post(
            "/api/v1/quality/precheck", json=_j(fixed), headers=q.token(orgs={org["id"]: "editor"})
        )
    ).status_code == 200
    other = await q.client.post(
        "/api/v1/quality/precheck",
        json=_j(fixed),
        headers=q.token(orgs={str(uuid.uuid4()): "editor"}),
    )
    assert other.status_code == 403
    assert (await q.client.post("/api/v1/quality/precheck", json=_j(fixed))).status_code == 401
    r = await q.client.post("/api/v1/quality/precheck", json={"title": 5}, headers=moderator)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert any("id" in str(e) for e in r.json().get("errors", []))
    r = await q.client.post("/api/v1/quality/precheck", content=b"{not json", headers=moderator)
    assert r.status_code == 422


async def test_personal_data_column_blocks(q: Q) -> None:
    org = org_doc()
    await q.feed("catalog.organization.created", org)
    ds_id = uuid.uuid4()
    fid = await q.upload(
        "ПІБ,РНОКПП,Сума\nІваненко Іван,1234567890,10\n".encode(), "p.csv", uuid.UUID(org["id"])
    )
    ds = dataset_doc(org["id"], id=ds_id, resources=[resource_doc(ds_id, file_id=fid)])
    await q.feed("catalog.dataset.updated", ds)
    await q.validate_all()
    r = await q.client.post(
        "/api/v1/quality/precheck", json=_j(ds), headers=q.token(roles=["moderator"])
    )
    assert [b for b in r.json()["blocking"] if b["code"] == "legal-personal-data"][0][
        "field"
    ] == "resources[0]"


def _j(d: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(d, default=str))


async def test_kpi_ratings_card_match_hand_computation(q: Q) -> None:
    a = org_doc(title="Департамент транспорту")
    b = org_doc(title='=HYPERLINK("http://evil")', persons=False, edrpou="12345678")
    for o in (a, b):
        await q.feed("catalog.organization.created", o)
    ids = {}
    for key, org, lic in (
        ("a1", a, "CC-BY-4.0"),
        ("a2", a, "CC-BY-4.0"),
        ("a3", a, "CC0-1.0"),
        ("b1", b, "CC-BY-4.0"),
    ):
        did = uuid.uuid4()
        ids[key] = did
        await q.feed(
            "catalog.dataset.published",
            dataset_doc(org["id"], id=did, license_id=lic, resources=[ext_resource(did)]),
        )
    # an older revision arriving late changes nothing
    await q.feed(
        "catalog.dataset.updated",
        dataset_doc(
            a["id"],
            id=ids["a1"],
            revision=0,
            license_id="CC0-1.0",
            resources=[ext_resource(ids["a1"])],
        ),
    )
    now = datetime.now(UTC)
    for n, link in enumerate((ids["a1"], ids["a2"], None, None)):
        await q.feed(
            "catalog.register.created",
            {
                "id": str(uuid.uuid4()),
                "title": f"Набір {n}",
                "organization_id": a["id"],
                "status": "published" if link else "planned",
                "dataset_id": str(link) if link else None,
                "created_at": now,
                "modified_at": now,
                "revision": 1,
            },
        )
    mod = q.token(roles=["moderator"])
    dqi = {}
    for k, did in ids.items():
        r = await q.client.get(f"/api/v1/quality/datasets/{did}", headers=mod)
        assert r.status_code == 200, r.text
        dqi[k] = r.json()["dqi"]
        assert r.json()["compliant"] is (k != "a3"), (k, r.json()["findings"])
    # KPI: 4 in scope, 3 compliant; gap = ceil(0.85*4) - 3 = 1; C7 alone blocks one dataset
    k = (await q.client.get("/api/v1/quality/kpi")).json()
    assert (k["in_scope"], k["compliant"], k["kpi"], k["gap"], k["target_met"]) == (
        4,
        3,
        0.75,
        1,
        False,
    )
    assert k["fix_first"][0] == {
        "gate": "C7",
        "title": k["fix_first"][0]["title"],
        "blocked_only_by_this": 1,
        "failing": 1,
    }
    # ratings, hand-computed with the spec formula
    quarter = f"{now.year}Q{(now.month - 1) // 3 + 1}"
    city = sum(dqi.values()) / 4
    mean_a = (dqi["a1"] + dqi["a2"] + dqi["a3"]) / 3
    q_a = (3 * mean_a / 100 + 3 * city / 100) / 6
    # a3 was published 30 days ago and no register entry links it: −5 (register not updated
    # within 3 working days); b has no register at all (−5) and no responsible person (−10)
    score_a = round(100 * (0.25 * 0.5 + 0.30 * (2 / 3) + 0.25 * q_a + 0.10 * 1 + 0.10 * 1) - 5, 1)
    q_b = (1 * dqi["b1"] / 100 + 3 * city / 100) / 4
    score_b = round(100 * (0.25 * 1 + 0.30 * 1 + 0.25 * q_b + 0.10 + 0.10) - 15, 1)
    prev = f"{now.year - 1}Q4" if quarter.endswith("Q1") else f"{now.year}Q{int(quarter[-1]) - 1}"
    assert (
        await q.client.post(f"/api/v1/quality/snapshots?kind=quarter&period={prev}", headers=mod)
    ).status_code == 201
    assert (
        await q.client.post(f"/api/v1/quality/snapshots?kind=quarter&period={quarter}", headers=mod)
    ).status_code == 201
    assert (
        await q.client.post("/api/v1/quality/snapshots?kind=quarter&period=2026-W01", headers=mod)
    ).status_code == 422
    assert (await q.client.post("/api/v1/quality/snapshots", headers=q.token())).status_code == 403
    r = (await q.client.get(f"/api/v1/quality/ratings?quarter={quarter}")).json()
    assert r["frozen"] is True
    items = {i["organization_id"]: i for i in r["items"]}
    ia, ib = items[a["id"]], items[b["id"]]
    assert (ia["n_req"], ia["n_pub"], ia["n_all"], ia["compliant"]) == (4, 2, 3, 2)
    assert (
        math.isclose(ia["score"], score_a, abs_tol=0.11) and ia["rank"] == 1 and ia["change"] == 0.0
    )
    assert math.isclose(ib["score"], score_b, abs_tol=0.11)
    assert (
        ib["ranked"] is False
        and ib["rank"] is None
        and ib["note"] == "мало даних"
        and ib["penalties"] == 15
    )
    assert [(p["code"], p["points"]) for p in ib["penalty_reasons"]] == [
        ("no-responsible-person", 10),
        ("register-missing", 5),
    ]
    assert [(p["code"], p["points"]) for p in ia["penalty_reasons"]] == [("register-outdated", 5)]
    assert [(x["dataset_id"], x["problem"]) for x in ia["penalty_reasons"][0]["datasets"]] == [
        (str(ids["a3"]), "not-in-register")
    ]
    assert ia["register"] == {
        "entries": 4,
        "last_update": ia["register"]["last_update"],
        "up_to_date": False,
    }
    assert (await q.client.get("/api/v1/quality/ratings?quarter=2026-4")).status_code == 422
    # the card: JSON, CSV with BOM and neutralised formulas, XLSX with Ukrainian headings
    c = (
        await q.client.get(f"/api/v1/quality/card?quarter={quarter}&organization={a['id']}")
    ).json()
    assert c["compliance"]["compliant"] == 2 and c["compliance"]["gates"]["C7"] == 2
    assert c["summary"]["rating"] == ia["rating"] and c["publication"]["cov_pct"] == 50.0
    csv_b = await q.client.get(
        f"/api/v1/quality/card?quarter={quarter}&organization={b['id']}&format=csv"
    )
    assert csv_b.content.startswith(b"\xef\xbb\xbf")
    text = csv_b.content.decode("utf-8-sig")
    assert text.startswith("Розділ,Показник,Значення") and "'=HYPERLINK" in text
    x = await q.client.get(f"/api/v1/quality/card?quarter={quarter}&format=xlsx")
    ws = load_workbook(io.BytesIO(x.content)).active
    assert [c.value for c in ws[1]] == ["Розділ", "Показник", "Значення"]
    assert any(
        row[1].value == "Відповідають рекомендаціям" and row[2].value == 3
        for row in ws.iter_rows(min_row=2)
    )
