"""Notifications to people: an outbox table written with the change, and a sender loop.

The loop picks pending rows (FOR UPDATE SKIP LOCKED, so replicas share the work), hands each to a
``Sender`` and marks it sent; a failure is retried with the attempt counted, up to ``MAX_ATTEMPTS``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib
import sqlalchemy as sa
from portal_kit.app import ServiceContext
from portal_kit.db import utc_now
from sqlmodel.ext.asyncio.session import AsyncSession

from feedback.models import Notification, Organization
from feedback.settings import Settings

log = logging.getLogger("feedback.notifications")
MAX_ATTEMPTS = 8


class Sender(Protocol):
    async def send(self, n: Notification) -> None: ...


class SmtpSender:
    def __init__(self, settings: Settings) -> None:
        self.s = settings

    async def send(self, n: Notification) -> None:
        msg = EmailMessage()
        msg["From"] = self.s.smtp_from
        msg["To"] = n.recipient_email
        msg["Subject"] = n.subject
        msg["X-Portal-Notification"] = n.kind
        body = n.body + (f"\n\n{n.link}" if n.link else "")
        msg.set_content(body, charset="utf-8")
        await aiosmtplib.send(
            msg,
            hostname=self.s.smtp_host,
            port=self.s.smtp_port,
            username=self.s.smtp_user or None,
            password=self.s.smtp_password.get_secret_value() or None,
            start_tls=self.s.smtp_starttls,
            timeout=self.s.smtp_timeout,
        )


def sender_for(settings: Settings) -> Sender | None:
    return SmtpSender(settings) if settings.smtp_host else None


def link(settings: Settings, path: str) -> str:
    return settings.public_base_url.rstrip("/") + path


def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    emails: Iterable[tuple[str | None, uuid.UUID | None]],
    subject: str,
    body: str,
    link: str | None = None,
) -> int:
    """Add one notification per distinct address (case-insensitive). Returns how many."""
    seen: set[str] = set()
    for email, user_id in emails:
        if not email or email.casefold() in seen:
            continue
        seen.add(email.casefold())
        session.add(
            Notification(
                kind=kind,
                recipient_email=email,
                recipient_user_id=user_id,
                subject=subject[:300],
                body=body,
                link=link,
            )
        )
    return len(seen)


async def org_recipients(
    session: AsyncSession, organization_id: uuid.UUID
) -> list[tuple[str | None, uuid.UUID | None]]:
    org = await session.get(Organization, organization_id)
    if org is None:
        return []
    return [(org.email, None), *[(c, None) for c in org.contacts]]


def moderator_recipients(settings: Settings) -> list[tuple[str | None, uuid.UUID | None]]:
    return [(e.strip(), None) for e in settings.moderators_email.split(",") if e.strip()]


async def send_pending(ctx: ServiceContext, sender: Sender, batch: int = 50) -> int:
    sent = 0
    async with ctx.sessionmaker() as session, session.begin():
        rows = (
            (
                await session.exec(  # type: ignore[call-overload]
                    sa.select(Notification)
                    .where(
                        Notification.sent_at.is_(None),  # type: ignore[union-attr]
                        Notification.attempts < MAX_ATTEMPTS,
                    )
                    .order_by(Notification.created_at)  # type: ignore[arg-type]
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            )
            .scalars()
            .all()
        )
        for n in rows:
            n.attempts += 1
            try:
                await sender.send(n)
            except Exception as exc:  # SMTP down, refused address: keep for a retry
                n.last_error = repr(exc)[:1000]
                log.warning("notification %s not sent: %r", n.id, exc)
                continue
            n.sent_at = utc_now()
            n.last_error = None
            sent += 1
    return sent


async def sender_loop(ctx: ServiceContext) -> None:
    settings: Settings = ctx.settings  # type: ignore[assignment]
    sender = ctx.extras.get("sender") or sender_for(settings)
    if sender is None:
        log.info("SMTP host not set: notifications stay queued")
        return
    while await ctx.sleep(settings.notify_interval):
        try:
            while await send_pending(ctx, sender) > 0:
                pass
        except Exception:
            log.exception("notification sender failed")
