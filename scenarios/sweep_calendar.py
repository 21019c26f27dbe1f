"""Calendar of representative days (seed 004 section 5.3): which day stands for a month, and for how many."""

from __future__ import annotations

import calendar
from datetime import date, timedelta


def first_weekday(year: int, month: int) -> date:
    """The first Monday-to-Friday day of ``month``."""
    day = date(year, month, 1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def weekdays_in_month(year: int, month: int) -> int:
    """Number of Monday-to-Friday days of ``month`` (e.g. 23 for January 2019)."""
    weeks = calendar.Calendar().monthdayscalendar(year, month)
    return sum(1 for week in weeks for wd, d in enumerate(week) if d and wd < 5)
