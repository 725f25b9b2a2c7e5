"""Periods: days, weeks (Monday first) and calendar months, in Python and in SQL, and the
zeros of periods where nothing happened. Every metric does its period arithmetic here.

A period is named by its first day. Local days are days in the reporting timezone; stored
timestamps are naive UTC, so a local day begins at `local_midnight_utc`.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import polars as pl

INTERVALS = ("day", "week", "month")


def period_start(day: date, interval: str) -> date:
    """The first day of the period that contains `day`."""
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def next_period(start: date, interval: str) -> date:
    """The first day of the period after the one starting at `start`."""
    if interval == "week":
        return start + timedelta(days=7)
    if interval == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)


def previous_period(start: date, interval: str) -> date:
    """The first day of the period before the one starting at `start`."""
    return period_start(start - timedelta(days=1), interval)


def period_end(day: date, interval: str) -> date:
    """The last day of the period that contains `day`."""
    return next_period(period_start(day, interval), interval) - timedelta(days=1)


def periods_between(first: date, last: date, interval: str) -> list[date]:
    """The first day of every period from the one containing `first` to the one containing `last`."""
    out, current = [], period_start(first, interval)
    while current <= last:
        out.append(current)
        current = next_period(current, interval)
    return out


def period_count(first: date, last: date, interval: str) -> int:
    """How many periods of `interval` the days `first` to `last` touch, without listing them."""
    a, b = period_start(first, interval), period_start(last, interval)
    if interval == "month":
        return (b.year - a.year) * 12 + b.month - a.month + 1
    return (b - a).days // (7 if interval == "week" else 1) + 1


def local_midnight_utc(day: date, tz: str) -> datetime:
    """The UTC instant (naive, as stored) at which `day` begins in the timezone `tz`."""
    local = datetime.combine(day, time(), ZoneInfo(tz))
    return local.astimezone(timezone.utc).replace(tzinfo=None)


def end_of_day_utc(day: date, tz: str) -> datetime:
    """The instant just after `day` ends in the timezone `tz` (naive UTC, as stored)."""
    return local_midnight_utc(day + timedelta(days=1), tz)


# -- the same ideas in SQL; `interval` is always one of INTERVALS, never user text ----------

def _checked(interval: str) -> str:
    if interval not in INTERVALS:
        raise ValueError(interval)
    return interval


def trunc_sql(expr: str, interval: str) -> str:
    """SQL for the first day of the period containing the DATE `expr`."""
    if _checked(interval) == "day":
        return f"CAST({expr} AS DATE)"
    return f"CAST(date_trunc('{interval}', {expr}) AS DATE)"


def shift_sql(expr: str, interval: str, step: int) -> str:
    """SQL for the first day of the period `step` periods after (before, if negative) the
    period starting at the DATE `expr`."""
    if _checked(interval) == "month":
        return f"CAST({expr} {'+' if step > 0 else '-'} INTERVAL {abs(int(step))} MONTH AS DATE)"
    days = int(step) * (7 if interval == "week" else 1)
    return f"CAST({expr} + {days} AS DATE)"


def offset_sql(interval: str, since: str, until: str) -> str:
    """SQL for how many periods lie from the period starting at `since` to the one at `until`."""
    return f"date_diff('{_checked(interval)}', {since}, {until})"


def calendar_sql(column: str = "period", param: str = "periods") -> str:
    """A one-column relation of the dates bound as the list $<param>, so a metric can left-join
    its figures onto every period and compute its ratios after the zeros."""
    return f"(SELECT unnest(CAST(${param} AS DATE[])) AS {column})"


def fill_periods(periods: list[date], frame: pl.DataFrame, counts: tuple[str, ...] | list[str],
                 column: str = "period") -> pl.DataFrame:
    """`frame` on every period, in order: the `counts` are 0 (as Int64) where nothing happened;
    averages and rates stay empty, since there is nothing to average."""
    return (pl.LazyFrame({column: periods}, schema={column: pl.Date}).join(frame.lazy(), on=column, how="left", maintain_order="left")
            .with_columns([pl.col(c).fill_null(0).cast(pl.Int64) for c in counts]).collect())  # one pass, not two


# The filter bar's date ranges (and a saved view's): each ends on an anchor day.
PRESETS = {
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "this_month": "This month",
    "last_month": "Last month",
    "custom": "Custom range",
}


def preset_range(preset: str, anchor: date) -> tuple[date, date]:
    if preset == "this_month":
        return anchor.replace(day=1), anchor
    if preset == "last_month":
        end = anchor.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end
    days = {"7d": 7, "30d": 30, "90d": 90}[preset]
    return anchor - timedelta(days=days - 1), anchor
