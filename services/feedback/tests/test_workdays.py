"""Deadlines on fixed dates: weekends, a public holiday (both martial-law settings), overdue."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from feedback.models import Report
from feedback.reports import is_overdue
from feedback.workdays import WorkCalendar

FRI = datetime(2026, 8, 21, 9, 0, tzinfo=UTC)  # Friday; Mon 24 Aug 2026 is Independence Day
WARTIME = WorkCalendar(holidays_are_days_off=False)
PEACETIME = WorkCalendar(holidays_are_days_off=True)


def test_weekend_is_skipped_and_holiday_is_a_working_day_under_martial_law():
    assert WARTIME.is_working_day(date(2026, 8, 24))
    assert not WARTIME.is_working_day(date(2026, 8, 22))
    assert WARTIME.deadline(FRI, 5) == datetime(2026, 8, 28, 20, 59, 59, tzinfo=UTC)


def test_holiday_is_skipped_when_holidays_are_days_off():
    assert not PEACETIME.is_working_day(date(2026, 8, 24))
    # Mon 24 is off: Tue 25 .. Fri 28 and Mon 31 are the five days
    assert PEACETIME.deadline(FRI, 5) == datetime(2026, 8, 31, 20, 59, 59, tzinfo=UTC)
    # late Friday evening in Kyiv is already Saturday in local time: counting starts Monday
    sat_local = datetime(2026, 8, 21, 21, 30, tzinfo=UTC)
    assert PEACETIME.deadline(sat_local, 1) == datetime(2026, 8, 25, 20, 59, 59, tzinfo=UTC)
    # winter time (UTC+2) and an extra declared day off
    cal = WorkCalendar(holidays_are_days_off=False, extra_days_off=[date(2026, 12, 28)])
    assert cal.deadline(datetime(2026, 12, 24, 10, tzinfo=UTC), 2) == datetime(
        2026, 12, 29, 21, 59, 59, tzinfo=UTC
    )


def test_working_days_left_and_overdue_flag():
    deadline = PEACETIME.deadline(FRI, 5)
    assert PEACETIME.working_days_left(datetime(2026, 8, 21, 12, tzinfo=UTC), deadline) == 5
    assert PEACETIME.working_days_left(datetime(2026, 8, 24, 12, tzinfo=UTC), deadline) == 5
    assert PEACETIME.working_days_left(datetime(2026, 8, 28, 12, tzinfo=UTC), deadline) == 1
    assert PEACETIME.working_days_left(datetime(2026, 9, 1, 12, tzinfo=UTC), deadline) == -1
    r = Report(
        dataset_id=uuid.uuid4(),
        organization_id=uuid.uuid4(),
        category="other",
        message="m",
        client_key="k",
        fingerprint="f",
        created_at=FRI,
        deadline_at=deadline,
    )
    assert not is_overdue(r, datetime(2026, 8, 31, 20, tzinfo=UTC))
    assert is_overdue(r, datetime(2026, 8, 31, 21, tzinfo=UTC))
    r.first_response_at = datetime(2026, 9, 2, tzinfo=UTC)
    assert not is_overdue(r, datetime(2026, 9, 3, tzinfo=UTC))  # answered (late) is not overdue
