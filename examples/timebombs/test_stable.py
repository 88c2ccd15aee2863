"""Tests that use dates and the clock correctly: stable at every instant and zone."""
import time
from datetime import date, datetime, timedelta, timezone


def add_months(d: date, months: int) -> date:
    # Clamp to the last day of the target month, as calendars do.
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def test_add_months_clamps_to_month_end():
    # Fixed inputs: the clock is never read.
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)


def test_elapsed_time_uses_aware_utc():
    # Reads the clock, but only compares instants in UTC: no dates, no zones.
    start = datetime.now(timezone.utc)
    deadline = start + timedelta(hours=1)
    assert deadline - start == timedelta(hours=1)
    assert time.time() > 1_600_000_000  # after 2020: true at every hazard
