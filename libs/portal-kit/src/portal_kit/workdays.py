"""Working days and deadlines: pure functions over fixed dates (tested without a clock).

Shared by the feedback service (response deadlines) and quality (the steward register's
"updated within 3 working days" rule), so both count working days the same way.

A deadline of N working days ends at the close (23:59:59 local time) of the N-th working day after
the day the report arrived. Saturdays and Sundays are never working days; Ukrainian public holidays
(the ``holidays`` package) are days off only when ``holidays_are_days_off`` is set, because under
martial law they are working days.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays


@lru_cache(maxsize=64)
def ukrainian_holidays(year: int) -> frozenset[date]:
    """Every public holiday of the year, including those that martial law turned into workdays."""
    cal = holidays.country_holidays("UA", years=year, categories=("public", "workday"))
    return frozenset(cal.keys())


class WorkCalendar:
    def __init__(
        self,
        *,
        holidays_are_days_off: bool,
        extra_days_off: Iterable[date] = (),
        timezone: str = "Europe/Kyiv",
    ) -> None:
        self.holidays_are_days_off = holidays_are_days_off
        self.extra = frozenset(extra_days_off)
        self.tz = ZoneInfo(timezone)

    def is_working_day(self, d: date) -> bool:
        if d.weekday() >= 5 or d in self.extra:
            return False
        return not (self.holidays_are_days_off and d in ukrainian_holidays(d.year))

    def deadline(self, received: datetime, working_days: int) -> datetime:
        """UTC end of the ``working_days``-th working day after the local day of ``received``."""
        local_day = received.astimezone(self.tz).date()
        d = local_day
        left = working_days
        while left > 0:
            d += timedelta(days=1)
            if self.is_working_day(d):
                left -= 1
        end = datetime.combine(d, time(23, 59, 59), tzinfo=self.tz)
        return end.astimezone(UTC)

    def working_days_left(self, now: datetime, deadline: datetime) -> int:
        """Working days from tomorrow (local) up to the deadline's day; negative when overdue."""
        today = now.astimezone(self.tz).date()
        last = deadline.astimezone(self.tz).date()
        if now > deadline:
            n, d = 0, last
            while d < today:
                d += timedelta(days=1)
                if self.is_working_day(d):
                    n += 1
            return -max(n, 1)
        n, d = 0, today
        while d < last:
            d += timedelta(days=1)
            if self.is_working_day(d):
                n += 1
        return n


def calendar_from_settings(settings: object) -> WorkCalendar:
    extra = [date.fromisoformat(s) for s in getattr(settings, "extra_days_off", [])]
    return WorkCalendar(
        holidays_are_days_off=bool(getattr(settings, "holidays_are_days_off", False)),
        extra_days_off=extra,
        timezone=str(getattr(settings, "timezone", "Europe/Kyiv")),
    )
