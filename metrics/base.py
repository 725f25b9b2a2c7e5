"""The shared, filtered base of every metric: periods, user and event scopes, money.

Each helper returns a SQL fragment plus the named parameters it binds, so a metric can
compose them into one DuckDB statement. Values are always bound (`$name`); the only text
formatted into SQL is from fixed allow-lists (intervals, column names, bit masks).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from pulse.schema import EVENT_TYPES
from pulse.derived import DEVICE_BIT, EVENT_TYPE_BIT
from pulse.query import Query, QueryError

Params = dict[str, Any]

MONEY_DTYPE = pl.Decimal(18, 2)


def trunc(expr: str, interval: str) -> str:
    """SQL for the first day of the period containing the DATE `expr`."""
    if interval == "day":
        return f"CAST({expr} AS DATE)"
    if interval not in ("week", "month"):
        raise ValueError(interval)
    return f"CAST(date_trunc('{interval}', {expr}) AS DATE)"


def period_frame(q: Query, column: str = "period") -> pl.DataFrame:
    """Every period of the range, so metrics can fill zeros where nothing happened."""
    return pl.DataFrame({column: q.periods()}, schema={column: pl.Date})


def fill_periods(q: Query, frame: pl.DataFrame, column: str = "period") -> pl.DataFrame:
    """Left-join `frame` onto every period of the range; missing counts become 0."""
    out = period_frame(q, column).join(frame, on=column, how="left")
    return out.with_columns(
        [pl.col(c).fill_null(0) for c, dtype in out.schema.items() if c != column and dtype.is_numeric()]
    )


def _device_bit(device: str) -> int:
    if device not in DEVICE_BIT:
        raise QueryError(f"Unknown device_type {device!r}; use one of: {', '.join(DEVICE_BIT)}.")
    return DEVICE_BIT[device]


def user_scope(q: Query, column: str = "user_id", devices: bool = False) -> tuple[str, Params]:
    """A condition on `column` keeping the users that pass the user-level filters: country
    and plan from the user's profile, and — with `devices`, for tables that have no device
    column (users, transactions, subscriptions) — users who used that device at least once."""
    conditions, params = [], {}
    for name in ("country", "plan"):
        value = q.filter(name)
        if value is not None:
            conditions.append(f"{column} IN (SELECT user_id FROM people WHERE {name} = $f_{name})")
            params[f"f_{name}"] = value.upper() if name == "country" else value
    device = q.filter("device_type")
    if devices and device is not None:
        conditions.append(f"{column} IN (SELECT user_id FROM user_days WHERE devices & {_device_bit(device)} <> 0)")
    if not conditions:
        return "TRUE", {}
    return " AND ".join(conditions), params


def _event_type(q: Query) -> str | None:
    value = dict(q.options).get("event_type")
    if value is not None and value not in EVENT_TYPES:
        raise QueryError(f"Unknown event_type {value!r}; use one of: {', '.join(EVENT_TYPES)}.")
    return value


def event_scope(q: Query, alias: str = "events") -> tuple[str, Params]:
    """A condition on raw events: the user filters, device_type, and the event_type option."""
    users, params = user_scope(q, f"{alias}.user_id")
    conditions = [users]
    device = q.filter("device_type")
    if device is not None:
        conditions.append(f"{alias}.device_type::VARCHAR = $f_device")
        params["f_device"] = device
    event_type = _event_type(q)
    if event_type is not None:
        conditions.append(f"{alias}.event_type::VARCHAR = $f_event_type")
        params["f_event_type"] = event_type
    return " AND ".join(conditions), params


def active_days(q: Query, start: str = "$start", end: str = "$end") -> tuple[str, Params]:
    """A relation (user_id, day) of the days each user was active between two SQL date
    expressions, inclusive, after filters.

    Reads the user-day rollup; its bit masks answer a device or an event-type filter on
    their own. Only both at once needs the raw events (a mobile login must be one event).
    """
    device, event_type = q.filter("device_type"), _event_type(q)
    if device is not None and event_type is not None:
        where, params = event_scope(q)
        return (
            f"(SELECT DISTINCT user_id, day FROM events WHERE day BETWEEN {start} AND {end} AND {where})",
            params,
        )
    users, params = user_scope(q, "user_id")
    conditions = [f"day BETWEEN {start} AND {end}", users]
    if device is not None:
        conditions.append(f"devices & {_device_bit(device)} <> 0")
    if event_type is not None:
        conditions.append(f"event_types & {EVENT_TYPE_BIT[event_type]} <> 0")
    return f"(SELECT user_id, day FROM user_days WHERE {' AND '.join(conditions)})", params


def local_midnight_utc(day: date, tz: str) -> datetime:
    """The UTC instant (naive, as stored) at which `day` begins in the reporting timezone."""
    local = datetime.combine(day, time(), ZoneInfo(tz))
    return local.astimezone(timezone.utc).replace(tzinfo=None)


def money(expr: str) -> str:
    """SQL for an amount rounded to cents, as exported."""
    return f"CAST(round({expr}, 2) AS DECIMAL(18,2))"


def rate(numerator: str, denominator: str) -> str:
    """SQL for a fraction that is empty, not an error, when the denominator is 0."""
    return f"CAST({numerator} AS DOUBLE) / NULLIF({denominator}, 0)"
