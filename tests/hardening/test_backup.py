"""Backup of a populated system, restore into an empty stack, everything found (issue 10, 5)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets

import httpx
import pytest
from gateway.testing import bearer, create_user, login
from portal_dev.backup import Endpoints, backup, restore
from portal_dev.consistency import converge
from portal_dev.proc import free_port
from portal_dev.run import start_system
from portal_dev.servers import Servers

from .conftest import dataset_body, org_body, publish_dataset

pytestmark = pytest.mark.timeout(600)


async def test_backup_restore_into_empty_stack(system, servers, tmp_path) -> None:
    data = "рік;сума\n2025;1 250 000\n2026;1 400 000\n".encode()
    sha = hashlib.sha256(data).hexdigest()
    async with httpx.AsyncClient(base_url=system.gateway_url, timeout=30) as client:
        admin = await login(client, system.admin_email, system.admin_password)
        r = await client.post(
            "/api/v1/organizations",
            headers=bearer(admin),
            json=org_body("bk", "Фінансовий департамент"),
        )
        org = r.json()
        editor = await create_user(client, admin, memberships={org["id"]: "editor"})
        moderator = await create_user(client, admin, roles=["moderator"])
        f = await client.post(
            f"/api/v1/files?organization_id={org['id']}",
            content=data,
            headers={
                **editor["headers"],
                "X-File-Name": "biudzhet.csv",
                "Content-Type": "application/octet-stream",
            },
        )
        assert f.status_code == 201, f.text
        file_id = f.json()["id"]
        body = dataset_body(org["id"], "Бюджет м. Запоріжжя на 2026 рік")
        r = await client.post("/api/v1/datasets", json=body, headers=editor["headers"])
        ds = r.json()
        r = await client.post(
            f"/api/v1/datasets/{ds['id']}/resources",
            headers=editor["headers"],
            json={"name": "Бюджет", "format": "CSV", "file_id": file_id},
        )
        assert r.status_code == 201, r.text
        from .conftest import action

        assert (await action(client, ds["id"], "submit", editor["headers"])).status_code == 200
        p = await action(
            client, ds["id"], "publish", moderator["headers"], {"override_reason": "резервна копія"}
        )
        assert p.status_code == 200, p.text
        other = await publish_dataset(
            client, editor["headers"], moderator["headers"], dataset_body(org["id"], "Мʼясні ринки")
        )
        before = await converge(client, timeout=90)
        assert before.ok, str(before)
        published = before.catalog

    manifest = await asyncio.to_thread(backup, tmp_path / "backup", Endpoints.from_servers(servers))
    assert len(manifest["databases"]) >= 6 and manifest["s3"]["objects"] >= 1
    assert manifest["streams"].get("CATALOG", 0) > 0

    fresh = Servers(tmp_path / "fresh", profile="test", persist_ports=False)
    await asyncio.to_thread(fresh.start)
    restored = None
    try:
        result = await asyncio.to_thread(
            restore, tmp_path / "backup", Endpoints.from_servers(fresh)
        )
        assert result["objects"] == manifest["s3"]["objects"]
        restored = await asyncio.to_thread(
            start_system,
            fresh,
            tmp_path / "fresh-system",
            "test",
            system.admin_email,
            system.admin_password,
            db_suffix=system.db_suffix,
            gateway_port=free_port(),
            ports_from_env=False,
            inherit_portal_env=False,
        )
        async with httpx.AsyncClient(base_url=restored.gateway_url, timeout=30) as client:
            # users log in with their passwords (new signing key: old tokens are void)
            tok = await login(client, editor["email"], editor["password"])
            r = await client.get(f"/api/v1/datasets/{ds['id']}", headers=bearer(tok))
            assert r.status_code == 200 and r.json()["status"] == "published"
            res = r.json()["resources"][0]
            assert res["sha256"] in (None, sha)
            g = await client.get(res["download_url"])
            assert g.status_code == 200 and hashlib.sha256(g.content).hexdigest() == sha
            for d in (ds, other):
                r = await client.get("/api/3/action/package_show", params={"id": d["id"]})
                assert r.status_code == 200, r.text
            after = await converge(client, timeout=120)
            assert after.ok, str(after)
            assert after.catalog == published
            # and the restored system takes new writes
            r = await client.post(
                "/api/v1/datasets",
                headers=bearer(tok),
                json=dataset_body(org["id"], f"Після відновлення {secrets.token_hex(2)}"),
            )
            assert r.status_code == 201, r.text
    finally:
        if restored is not None:
            restored.stop()
        fresh.stop()
