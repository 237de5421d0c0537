"""Working days and response deadlines: the portal-wide calendar lives in portal_kit.workdays
(quality counts the register's working days with it too); the clock is feedback's own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from portal_kit.workdays import WorkCalendar, calendar_from_settings, ukrainian_holidays

__all__ = ["Clock", "WorkCalendar", "calendar_from_settings", "system_clock", "ukrainian_holidays"]

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)
