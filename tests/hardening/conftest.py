"""Shared fixtures of the hardening suite: a populated world on the live system.

``target`` is the ``system`` fixture's gateway; for quick local iteration against a
``make run`` system set HARDENING_GATEWAY=http://127.0.0.1:8000 and HARDENING_ADMIN_PASSWORD
(the chaos, backup and load tests always use the fixture's own system).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from gateway.testing import bearer, create_user, login


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz-examples",
        type=int,
        default=int(os.environ.get("HARDENING_FUZZ_EXAMPLES", "0") or 0),
        help="schemathesis examples per operation and identity (default: bounded suite run)",
    )


@dataclass
class Target:
    url: str
    admin_email: str
    admin_password: str


@dataclass
class World:
    url: str
    admin: dict[str, str]
    moderator: dict[str, Any]
    plain: dict[str, Any]
    org_a: dict[str, Any]
    org_b: dict[str, Any]
    editor_a: dict[str, Any]
    editor_b: dict[str, Any]
    published_a: dict[str, Any]
    draft_b: dict[str, Any]
    file_b: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {
            "anonymous": {},
            "admin": self.admin,
            "moderator": self.moderator["headers"],
            "plain": self.plain["headers"],
            "editor_a": self.editor_a["headers"],
            "editor_b": self.editor_b["headers"],
        }[who]


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Target:
    url = os.environ.get("HARDENING_GATEWAY")
    if url:
        return Target(
            url,
            os.environ.get("HARDENING_ADMIN_EMAIL", "admin@example.com"),
            os.environ["HARDENING_ADMIN_PASSWORD"],
        )
    system = request.getfixturevalue("system")
    return Target(system.gateway_url, system.admin_email, system.admin_password)


def org_body(tag: str, title: str) -> dict[str, Any]:
    from portal_dev.seed.catalog import _edrpou

    digits = str(secrets.randbelow(10**7)).zfill(7)
    return {
        "name": f"hard-{tag}-{secrets.token_hex(3)}",
        "title": title,
        "edrpou": _edrpou(digits),
        "description": f"{title}: організація для перевірки захисту",
        "email": f"{tag}@zp.gov.ua",
    }


def dataset_body(
    org_id: str, title: str = "Бюджет міста Запоріжжя", **extra: Any
) -> dict[str, Any]:
    body = {
        "name": f"hard-{secrets.token_hex(5)}",
        "organization_id": org_id,
        "title": title,
        "description": f"{title}. Набір даних для перевірки стійкості порталу.",
        "maintainer": "Олена Мʼясник",
        "maintainer_email": "olena@zp.gov.ua",
        "keywords": ["бюджет", "фінанси"],
        "themes": ["GOVE"],
        "license_id": "CC-BY-4.0",
        "language": ["uk"],
        "purpose": "Перевірка",
        "update_frequency": "monthly",
    }
    body.update(extra)
    return body


async def action(
    client: httpx.AsyncClient, ds_id: str, verb: str, headers: dict[str, str], body=None
) -> httpx.Response:
    g = await client.get(f"/api/v1/datasets/{ds_id}", headers=headers)
    g.raise_for_status()
    return await client.post(
        f"/api/v1/datasets/{ds_id}/{verb}",
        json=body or {},
        headers={**headers, "If-Match": g.headers["etag"]},
    )


async def publish_dataset(
    client: httpx.AsyncClient, editor: dict[str, str], moderator: dict[str, str], body: dict
) -> dict[str, Any]:
    """Create, add a resource, submit and publish (with override); returns the dataset."""
    r = await client.post("/api/v1/datasets", json=body, headers=editor)
    assert r.status_code == 201, r.text
    ds = r.json()
    r = await client.post(
        f"/api/v1/datasets/{ds['id']}/resources",
        json={"name": "Дані (CSV)", "format": "CSV", "url": "https://data.zp.gov.ua/x.csv"},
        headers=editor,
    )
    assert r.status_code == 201, r.text
    r = await action(client, ds["id"], "submit", editor)
    assert r.status_code == 200, r.text
    r = await action(client, ds["id"], "publish", moderator, {"override_reason": "перевірка"})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="session")
async def world(target: Target) -> World:
    async with httpx.AsyncClient(base_url=target.url, timeout=60) as client:
        admin_token = await login(client, target.admin_email, target.admin_password)
        admin = bearer(admin_token)
        orgs = []
        for tag, title in (("a", "Департамент освіти"), ("b", "Управління з питань екології")):
            r = await client.post("/api/v1/organizations", json=org_body(tag, title), headers=admin)
            assert r.status_code == 201, r.text
            orgs.append(r.json())
        org_a, org_b = orgs
        moderator = await create_user(client, admin_token, roles=["moderator"])
        plain = await create_user(client, admin_token)
        editor_a = await create_user(client, admin_token, memberships={org_a["id"]: "editor"})
        editor_b = await create_user(client, admin_token, memberships={org_b["id"]: "editor"})
        published_a = await publish_dataset(
            client, editor_a["headers"], moderator["headers"], dataset_body(org_a["id"])
        )
        r = await client.post(
            "/api/v1/datasets",
            json=dataset_body(org_b["id"], "Якість повітря"),
            headers=editor_b["headers"],
        )
        assert r.status_code == 201, r.text
        draft_b = r.json()
        r = await client.post(
            f"/api/v1/files?organization_id={org_b['id']}",
            content="район;значення\nШевченківський;12\n".encode(),
            headers={
                **editor_b["headers"],
                "X-File-Name": "povitria.csv",
                "Content-Type": "application/octet-stream",
            },
        )
        assert r.status_code == 201, r.text
        return World(
            target.url,
            admin,
            moderator,
            plain,
            org_a,
            org_b,
            editor_a,
            editor_b,
            published_a,
            draft_b,
            r.json(),
        )


async def event_state(system: Any) -> str:
    """What the event pipeline looks like now, for a failure message: every durable
    consumer's pending/unacked counts and each service's unpublished outbox and dead letters.
    It tells a consumer that lags (pending > 0) from an event that was lost or dead-lettered."""
    import nats

    lines = []
    nc = await nats.connect(system.servers.nats_url)
    try:
        js = nc.jetstream()
        for stream in await js.streams_info():
            name = stream.config.name
            for c in await js.consumers_info(name):
                lines.append(
                    f"{name}/{c.name}: pending={c.num_pending} unacked={c.num_ack_pending} "
                    f"redelivered={c.num_redelivered}"
                )
    finally:
        await nc.close()
    for db in system.databases():
        for label, sql in (
            ("unpublished", "SELECT count(*) FROM outbox_message WHERE published_at IS NULL"),
            ("dead letters", "SELECT count(*) FROM dead_letter"),
        ):
            try:
                n = system.servers.postgres.psql(sql, db).stdout.strip()
            except Exception as exc:  # noqa: BLE001 - diagnostics only
                n = repr(exc)[:80]
            lines.append(f"{db} {label}: {n}")
    return "\n".join(lines)
