"""Fixtures: the real system (gateway + services) with the feedback service restarted so it sends
mail to a real SMTP server (aiosmtpd) started here, checks local links and runs its loops fast."""

from __future__ import annotations

import email
import email.policy
import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from gateway.testing import bearer, create_user, login
from portal_dev.testing import free_port


@dataclass
class Mailbox:
    messages: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        with self.lock:
            self.messages.append(
                {
                    "to": [r.lower() for r in envelope.rcpt_tos],
                    "subject": str(msg["Subject"]),
                    "kind": str(msg["X-Portal-Notification"]),
                    "body": body.get_content() if body else "",
                }
            )
        return "250 OK"

    def to(self, addr: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.messages if addr.lower() in m["to"]]


@pytest.fixture(scope="session")
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


MODERATORS_EMAIL = "moderators@zp.example.org"


@pytest.fixture(scope="session")
def fb_system(system, mailbox):  # type: ignore[no-untyped-def]
    """The shared system, with the feedback process restarted on test-friendly settings."""
    _, port = mailbox
    extra = {
        "PORTAL_FEEDBACK_SMTP_HOST": "127.0.0.1",
        "PORTAL_FEEDBACK_SMTP_PORT": str(port),
        "PORTAL_FEEDBACK_NOTIFY_INTERVAL": "0.2",
        "PORTAL_FEEDBACK_LINK_CHECK_ALLOW_PRIVATE": "true",
        "PORTAL_FEEDBACK_LINK_CHECK_TIMEOUT": "2",
        "PORTAL_FEEDBACK_MODERATORS_EMAIL": MODERATORS_EMAIL,
        "PORTAL_FEEDBACK_ANON_WRITES_PER_WINDOW": "5",
    }
    sp = system.procs["feedback"]
    sp.env.update(extra)
    assert sp.process.env is not None
    sp.process.env.update(extra)
    system.restart_service("feedback")
    return system


@pytest.fixture
async def gw(fb_system) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=fb_system.gateway_url, timeout=30) as c:
        yield c


@dataclass
class World:
    """One organization with a steward, a published dataset, a moderator and a citizen."""

    admin: dict[str, str]
    org: dict[str, Any]
    steward: dict[str, Any]
    moderator: dict[str, Any]
    citizen: dict[str, Any]
    dataset: dict[str, Any]


def fake_ip() -> str:
    return f"198.51.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


def anon(ip: str | None = None) -> dict[str, str]:
    """Headers of an anonymous client with its own address (the gateway trusts loopback)."""
    return {"X-Forwarded-For": ip or fake_ip()}


async def make_org(gw: httpx.AsyncClient, admin: dict[str, str], email: str) -> dict[str, Any]:
    slug = "org-" + secrets.token_hex(4)
    r = await gw.post(
        "/api/v1/organizations",
        headers=admin,
        json={
            "name": slug,
            "title": "Департамент з обʼєднаної громади «Запоріжжя’s» " + slug,
            "email": email,
            "responsible_persons": [{"name": "Іван Петренко", "email": "p-" + email}],
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


async def publish_dataset(
    gw: httpx.AsyncClient,
    steward: dict[str, Any],
    moderator: dict[str, Any],
    org_id: str,
    register_entry_id: str | None = None,
) -> dict[str, Any]:
    """Create, submit and publish a dataset through the catalog API."""
    body: dict[str, Any] = {
        "name": "ds-" + secrets.token_hex(4),
        "title": "Бюджет громади на 2026 рік",
        "organization_id": org_id,
        "description": "Показники бюджету м. Запоріжжя",
        "keywords": ["бюджет"],
        "update_frequency": "yearly",
        "purpose": "Відкритість",
        "maintainer": "Марія Іваненко",
        "maintainer_email": "budget@zp.example.org",
        "language": ["uk"],
    }
    if register_entry_id:
        body["register_entry_id"] = register_entry_id
    r = await gw.post("/api/v1/datasets", headers=steward["headers"], json=body)
    assert r.status_code == 201, r.text
    ds = r.json()
    r = await gw.post(
        f"/api/v1/datasets/{ds['id']}/resources",
        headers=steward["headers"],
        json={"name": "Дані 2026", "format": "CSV", "url": "https://example.org/budget-2026.csv"},
    )
    assert r.status_code == 201, r.text
    r = await gw.get(f"/api/v1/datasets/{ds['id']}", headers=steward["headers"])
    r = await gw.post(
        f"/api/v1/datasets/{ds['id']}/submit",
        json={},
        headers={**steward["headers"], "If-Match": r.headers["etag"]},
    )
    assert r.status_code == 200, r.text
    r = await gw.post(
        f"/api/v1/datasets/{ds['id']}/publish",
        json={"override_reason": "тест: перевірку якості пропущено"},
        headers={**moderator["headers"], "If-Match": r.headers["etag"]},
    )
    assert r.status_code == 200, r.text
    return r.json()


async def feedback_knows(gw: httpx.AsyncClient, dataset_id: str) -> None:
    """Wait until the feedback service has the published dataset (from catalog events)."""
    from portal_dev.testing import eventually

    async def check() -> bool:
        r = await gw.get(f"/api/v1/feedback/datasets/{dataset_id}")
        return r.status_code == 200

    await eventually(check, timeout=20, interval=0.2)


@pytest.fixture
async def world(gw: httpx.AsyncClient, fb_system) -> World:  # type: ignore[no-untyped-def]
    admin_token = await login(gw, fb_system.admin_email, fb_system.admin_password)
    admin = bearer(admin_token)
    tag = secrets.token_hex(3)
    org = await make_org(gw, admin, f"org-{tag}@zp.example.org")
    steward = await create_user(
        gw, admin_token, full_name="Олена Стюард", memberships={org["id"]: "editor"}
    )
    moderator = await create_user(gw, admin_token, full_name="Модератор", roles=["moderator"])
    citizen = await create_user(gw, admin_token, full_name="Петро О’Коннор")
    ds = await publish_dataset(gw, steward, moderator, org["id"])
    await feedback_knows(gw, ds["id"])
    return World(admin, org, steward, moderator, citizen, ds)
