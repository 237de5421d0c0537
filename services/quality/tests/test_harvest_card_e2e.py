"""End to end (gateway, catalog, quality, harvest-export as subprocesses): the monitoring card's
«Оприлюднення» section shows how many of a steward's published datasets the national harvester
fetched, after a real CKAN gather through the gateway, read from harvest-export's statistics; and
the dataset's MQA takes DCAT-AP compliance from harvest-export's SHACL run (HARVEST stream)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from catalog.testing import Api
from gateway.testing import bearer

pytestmark = pytest.mark.asyncio(loop_scope="session")

NATIONAL = {"User-Agent": "python-requests/2.31.0"}  # ckanext-harvest without a user_agent set
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"}


async def test_card_shows_what_data_gov_ua_harvested(gw, admin_token, make_user, eventually):
    api = Api(gw, bearer(admin_token))
    org = await api.org(title="Департамент екології Запорізької міської ради")
    editor = await api.editor(org["id"])
    moderator = (await make_user(roles=["moderator"]))["headers"]
    ds = await api.published(
        org["id"], editor, moderator, title="Якість атмосферного повітря м. Запоріжжя"
    )
    now = datetime.now(UTC)
    params = {"quarter": f"{now.year}Q{(now.month - 1) // 3 + 1}", "organization": org["id"]}

    async def exported() -> None:
        r = await gw.get("/api/3/action/package_show", params={"id": ds["id"]}, headers=BROWSER)
        assert r.status_code == 200, r.text

    await eventually(exported, timeout=60, interval=0.5)

    # harvest-export's SHACL result reaches quality over the HARVEST stream: the MQA's DCAT-AP
    # compliance comes from it
    async def shacl_in_mqa() -> None:
        r = await gw.get(f"/api/v1/quality/datasets/{ds['id']}", headers=moderator)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["mqa_breakdown"]["dcat_ap_source"] == "shacl", body["mqa_breakdown"]
        assert body["mqa_breakdown"]["dcat_ap_compliance"] == 30
        assert body["dcat_ap"]["conforms"] is True and body["dcat_ap"]["violations"] == []

    await eventually(shacl_in_mqa, timeout=40, interval=0.5)

    async def harvest_on_card(expected: dict[str, Any]) -> dict[str, Any]:
        r = await gw.get("/api/v1/quality/card", params=params)
        assert r.status_code == 200, r.text
        h = r.json()["publication"]["harvest"]
        assert {k: h.get(k) for k in expected} == expected, h
        return h

    # served to data.gov.ua, not fetched by it yet (a browser's package_show does not count)
    await eventually(
        lambda: harvest_on_card(
            {"source": "harvest-export", "served": 1, "fetched": 0, "never": 1, "stale": 0}
        ),
        timeout=40,
        interval=1.0,
    )

    # a quarter frozen now keeps this harvest status, whatever happens after
    r = await gw.post(
        "/api/v1/quality/snapshots",
        params={"kind": "quarter", "period": "2025Q4"},
        headers=moderator,
    )
    assert r.status_code == 201, r.text

    # the national harvester's gather stage, as ckanext-harvest sends it
    r = await gw.get(
        "/api/3/action/package_search",
        params={"rows": "100", "start": "0", "sort": "id asc", "fq": f"organization:{org['name']}"},
        headers=NATIONAL,
    )
    assert [p["id"] for p in r.json()["result"]["results"]] == [ds["id"]]

    h = await eventually(
        lambda: harvest_on_card(
            {"served": 1, "fetched": 1, "never": 0, "stale": 0, "fetched_pct": 100.0}
        ),
        timeout=40,
        interval=1.0,
    )
    assert h["last_fetch_at"] is not None
    r = await gw.get("/api/v1/quality/card", params={**params, "format": "csv"})
    text = r.content.decode("utf-8-sig")
    assert "Зібрано data.gov.ua після останньої зміни,1" in text, text
    assert "Передається на data.gov.ua (наборів),1" in text
    # the frozen quarter still shows what was true when it was frozen
    r = await gw.get("/api/v1/quality/card", params={**params, "quarter": "2025Q4"})
    assert r.json()["frozen"] is True
    frozen = r.json()["publication"]["harvest"]
    assert {k: frozen[k] for k in ("served", "fetched", "never")} == {
        "served": 1,
        "fetched": 0,
        "never": 1,
    }
    # the statistics themselves are public
    r = await gw.get("/api/v1/stats/harvest/organizations")
    mine = [i for i in r.json()["items"] if i["organization_id"] == org["id"]]
    assert r.status_code == 200 and mine and mine[0]["fetched"] == 1
