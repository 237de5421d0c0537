"""MQA ``dcat_ap_compliance`` from harvest-export's SHACL result (``harvest.dataset.validated``):
applied once (inbox), older revisions ignored, full weight when the export conforms, 0 and the
pre-check warning ``W-dcat-ap`` when it does not, the property check until a result exists."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from portal_kit.contracts.harvest import DatasetValidated
from portal_kit.events.envelope import make_event

from quality import methodology
from quality.testing import Q, dataset_doc, org_doc, resource_doc

VIOLATION = (
    "http://127.0.0.1/dataset/x http://purl.org/dc/terms/title: Less than 1 values on "
    "<http://127.0.0.1/dataset/x>->dcterms:title"
)


def validated(did: str, revision: int, conforms: bool, at: datetime) -> Any:
    data = DatasetValidated(
        dataset_id=uuid.UUID(did),
        revision=revision,
        conforms=conforms,
        violations=[] if conforms else [VIOLATION, "second violation"],
        validated_at=at,
    )
    return make_event(
        source="/harvest_export", type="harvest.dataset.validated", data=data, subject=did
    )


def _j(d: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(d, default=str))


async def test_mqa_dcat_ap_compliance_follows_the_shacl_result(q: Q) -> None:
    org = org_doc()
    await q.feed("catalog.organization.created", org)
    did = str(uuid.uuid4())
    res = resource_doc(did, url="https://data.zp.gov.ua/files/zupynky.csv", fmt="CSV")
    doc = dataset_doc(org["id"], id=did, resources=[res], revision=2)
    await q.feed("catalog.dataset.published", doc)
    moderator = q.token(roles=["moderator"])

    async def report() -> dict[str, Any]:
        r = await q.client.get(f"/api/v1/quality/datasets/{did}", headers=moderator)
        assert r.status_code == 200, r.text
        return r.json()

    # no SHACL result yet: the mandatory-property check (title, description, a distribution)
    before = await report()
    assert before["mqa_breakdown"]["dcat_ap_source"] == "properties"
    assert before["mqa_breakdown"]["dcat_ap_compliance"] == 30
    assert before["dcat_ap"] == {"source": "properties"}
    assert before["methodology_version"] == methodology.version() == "2026.11-4"
    base = before["mqa_points"]

    t0 = datetime.now(UTC)
    bad = validated(did, 2, False, t0)
    assert await q.deliver(bad)
    after = await report()
    assert after["mqa_breakdown"]["dcat_ap_source"] == "shacl"
    assert after["mqa_breakdown"]["dcat_ap_compliance"] == 0
    assert after["mqa_points"] == round(base - 30, 1)
    assert after["dcat_ap"]["conforms"] is False and after["dcat_ap"]["revision"] == 2
    assert after["dcat_ap"]["violations"] == [VIOLATION, "second violation"]
    assert after["dcat_ap"]["profile"] == "DCAT-AP 3.0.1"
    warning = next(f for f in after["findings"] if f["code"] == "W-dcat-ap")
    assert warning["severity"] == "warning" and warning["field"] is None

    # the moderation pre-check warns (does not block), naming the first violation
    r = await q.client.post("/api/v1/quality/precheck", json=_j(doc), headers=moderator)
    assert r.status_code == 200, r.text
    body = r.json()
    assert "W-dcat-ap" not in {b["code"] for b in body["blocking"]}
    w = next(x for x in body["warnings"] if x["code"] == "W-dcat-ap")
    assert w["field"] is None
    assert "національний портал не отримає" in w["message"] and VIOLATION in w["message"]
    assert "national portal will not receive" in w["message_en"] and VIOLATION in w["message_en"]

    # fixed for the same revision (re-validated later): full weight, no warning
    good = validated(did, 2, True, t0 + timedelta(seconds=5))
    assert await q.deliver(good)
    fixed = await report()
    assert fixed["mqa_breakdown"]["dcat_ap_source"] == "shacl"
    assert fixed["mqa_breakdown"]["dcat_ap_compliance"] == 30
    assert fixed["mqa_points"] == base
    assert fixed["dcat_ap"]["conforms"] is True and fixed["dcat_ap"]["violations"] == []
    assert "W-dcat-ap" not in {f["code"] for f in fixed["findings"]}

    # a redelivery of the failing result is a no-op (inbox), and so is a result for an older
    # revision, even when validated later
    assert await q.deliver(bad) is False
    assert await q.deliver(validated(did, 1, False, t0 + timedelta(seconds=60)))
    again = await report()
    assert again["dcat_ap"]["conforms"] is True and again["mqa_points"] == base
    async with q.ctx.sessionmaker() as session:
        n = (
            await session.exec(
                sa.text(
                    "SELECT count(*) FROM inbox_message WHERE consumer = 'quality__harvest' "
                    "AND event_id = :id"
                ).bindparams(id=bad.id)
            )
        ).scalar_one()
    assert n == 1


async def test_a_draft_without_shacl_result_keeps_the_property_check(q: Q) -> None:
    org = org_doc()
    await q.feed("catalog.organization.created", org)
    did = str(uuid.uuid4())
    doc = dataset_doc(org["id"], id=did, status="draft", resources=[], description="")
    await q.feed("catalog.dataset.updated", doc)
    r = await q.client.get(f"/api/v1/quality/datasets/{did}", headers=q.token(roles=["moderator"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mqa_breakdown"]["dcat_ap_source"] == "properties"
    assert body["mqa_breakdown"]["dcat_ap_compliance"] == 0  # no description, no distribution
    assert "W-dcat-ap" not in {f["code"] for f in body["findings"]}
