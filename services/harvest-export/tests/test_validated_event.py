"""``harvest.dataset.validated``: recorded through the outbox in the build's transaction, once per
change of the SHACL result (conforms, or the set of violations), never on an unchanged rebuild."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from harvest_export import dcat as dcat_module
from harvest_export import readmodel
from harvest_export import testing as T
from harvest_export.models import HxDataset
from portal_kit.contracts.harvest import DatasetValidated
from portal_kit.events.tables import OutboxMessage
from rdflib.namespace import DCTERMS

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def validated_events(hx, dataset_id: str) -> list[dict[str, Any]]:
    async with hx.ctx.sessionmaker() as session:
        rows = (
            await session.exec(
                sa.select(OutboxMessage)
                .where(
                    OutboxMessage.type == "harvest.dataset.validated",
                    OutboxMessage.payload["subject"].astext == dataset_id,
                )
                .order_by(OutboxMessage.created_at)
            )
        ).scalars()
        return [r.payload for r in rows]


async def test_validated_is_recorded_once_per_change_of_the_result(hx, monkeypatch):
    org = T.organization()
    assert await hx.feed_org(org)
    doc = T.dataset(org, 1, title="Перелік зупинок громадського транспорту")
    did = doc["id"]

    # a draft is never built: nothing to announce
    assert await hx.feed_dataset({**doc, "status": "draft"})
    assert await validated_events(hx, did) == []

    doc = T.bump(doc, status="published")
    assert await hx.feed_dataset(doc)
    events = await validated_events(hx, did)
    assert len(events) == 1
    first = events[0]
    assert first["source"] == "/harvest_export" and first["subject"] == did
    data = DatasetValidated.model_validate(first["data"])
    assert str(data.dataset_id) == did
    assert data.revision == doc["revision"] == 2
    assert data.conforms is True and data.violations == []
    assert data.profile == "DCAT-AP 3.0.1"

    # an unchanged rebuild, and a changed export that still conforms: no new event
    async with hx.ctx.sessionmaker() as session, session.begin():
        row = await session.get(HxDataset, doc["id"], with_for_update=True)
        assert await readmodel.rebuild(session, row, hx.settings) == "unchanged"
    doc = T.bump(doc, title="Перелік зупинок громадського транспорту міста")
    assert await hx.feed_dataset(doc)
    assert len(await validated_events(hx, did)) == 1

    # the export stops conforming: one event naming the violation
    real_add = dcat_module.add_dataset

    def broken(g, pkg, d, org_doc, **kw):
        node = real_add(g, pkg, d, org_doc, **kw)
        g.remove((node, DCTERMS.title, None))
        return node

    monkeypatch.setattr(dcat_module, "add_dataset", broken)
    doc = T.bump(doc, title="Зупинки: зміна, що не пройшла перевірку")
    assert await hx.feed_dataset(doc)
    events = await validated_events(hx, did)
    assert len(events) == 2
    bad = DatasetValidated.model_validate(events[1]["data"])
    assert bad.revision == doc["revision"] == 4 and bad.conforms is False
    assert 1 <= len(bad.violations) <= 20
    assert any("title" in v for v in bad.violations), bad.violations
    assert bad.validated_at > data.validated_at
    # rebuilt again (an invalid export keeps its old hash, so every change retries) with the
    # same violations: nothing new
    doc = T.bump(doc, title="Зупинки: ще одна зміна, що не пройшла перевірку")
    assert await hx.feed_dataset(doc)
    assert len(await validated_events(hx, did)) == 2
    monkeypatch.setattr(dcat_module, "add_dataset", real_add)

    # fixed: conforms again, for the new revision
    doc = T.bump(doc, title="Зупинки громадського транспорту (виправлено)")
    assert await hx.feed_dataset(doc)
    events = await validated_events(hx, did)
    assert len(events) == 3
    fixed = DatasetValidated.model_validate(events[2]["data"])
    assert fixed.conforms is True and fixed.violations == [] and fixed.revision == 6


async def test_exports_built_before_the_event_existed_are_announced_once(hx):
    """An upgrade: published exports with no announced SHACL result get one at start, nothing
    else about them changes, and a second pass announces nothing."""
    org = T.organization()
    assert await hx.feed_org(org)
    docs = [
        T.bump(T.dataset(org, i, title=f"Реєстр укриттів, район {i}"), status="published")
        for i in range(3)
    ]
    for d in docs:
        assert await hx.feed_dataset(d)
    ids = [d["id"] for d in docs]
    # as a database migrated from before harvest.dataset.validated: no digest, no event
    async with hx.ctx.sessionmaker() as session, session.begin():
        await session.exec(
            sa.update(HxDataset).where(HxDataset.id.in_(ids)).values(shacl_digest=None)
        )
        await session.exec(
            sa.delete(OutboxMessage).where(
                OutboxMessage.type == "harvest.dataset.validated",
                OutboxMessage.payload["subject"].astext.in_(ids),
            )
        )
        before = {
            r.id: (r.metadata_modified, r.content_hash)
            for r in (
                await session.exec(sa.select(HxDataset).where(HxDataset.id.in_(ids)))
            ).scalars()
        }
    assert await readmodel.announce_unvalidated(hx.ctx.sessionmaker, hx.settings) >= 3
    for did in ids:
        events = await validated_events(hx, did)
        assert len(events) == 1, did
        data = DatasetValidated.model_validate(events[0]["data"])
        assert data.conforms is True and str(data.dataset_id) == did
    async with hx.ctx.sessionmaker() as session:
        after = {
            r.id: (r.metadata_modified, r.content_hash)
            for r in (
                await session.exec(sa.select(HxDataset).where(HxDataset.id.in_(ids)))
            ).scalars()
        }
    assert after == before  # the harvester sees no change
    assert await readmodel.announce_unvalidated(hx.ctx.sessionmaker, hx.settings) == 0
    for did in ids:
        assert len(await validated_events(hx, did)) == 1
