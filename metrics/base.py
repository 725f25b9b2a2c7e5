"""The shared, filtered base of every metric: which users, events and active days count.

Each helper returns a SQL fragment plus the named parameters it binds, so a metric can
compose them into one DuckDB statement. Values are always bound (`$name`); the only text
formatted into SQL is from fixed allow-lists (column names, bit masks). Period arithmetic
lives in pulse.periods, named measures (an order, a refund, MRR at an instant, a local
day) in pulse.measures.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from pulse.derived import DEVICE_BIT, EVENT_TYPE_BIT
from pulse.query import Query

Params = dict[str, Any]

MONEY_DTYPE = pl.Decimal(18, 2)


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
        allowed = q.in_scope(name)
        if allowed:  # a staff member's data scope: only these users exist for them
            conditions.append(f"{column} IN (SELECT user_id FROM people WHERE {name} IN (SELECT unnest($s_{name})))")
            params[f"s_{name}"] = list(allowed)
    device = q.filter("device_type")
    if devices and device is not None:
        conditions.append(f"{column} IN (SELECT user_id FROM user_days WHERE devices & {DEVICE_BIT[device]} <> 0)")
    if not conditions:
        return "TRUE", {}
    return " AND ".join(conditions), params


def _event_type(q: Query) -> str | None:
    """The event_type option, where the metric declares it (its choices are checked there)."""
    return dict(q.options).get("event_type")


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


def whole_days(store, q: Query) -> bool:
    """True when the load's per-user days can answer q: no device or event-type filter narrows
    which of a user's days count (every user-day of the users in scope is an active day, as the
    load counted it), and the store's derived tables are this Pulse's."""
    return q.filter("device_type") is None and _event_type(q) is None and store.derived_current()


def active_days(q: Query, start: str = "$start", end: str = "$end", next_day: bool = False) -> tuple[str, Params]:
    """A relation (user_id, day) of the days each user was active between two SQL date
    expressions, inclusive, after filters.

    Reads the user-day rollup; its bit masks answer a device or an event-type filter on
    their own. Only both at once needs the raw events (a mobile login must be one event).
    `next_day` (only when whole_days) adds each user's next active day, kept at load time.
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
        conditions.append(f"devices & {DEVICE_BIT[device]} <> 0")
    if event_type is not None:
        conditions.append(f"event_types & {EVENT_TYPE_BIT[event_type]} <> 0")
    columns = "user_id, day, next_day" if next_day else "user_id, day"
    return f"(SELECT {columns} FROM user_days WHERE {' AND '.join(conditions)})", params


# The first day any activity can have: "ever" for a user's first activity.
SINCE = date(1, 1, 1)


def first_active_days(store, q: Query) -> tuple[str, Params]:
    """A relation (user_id, first_day) of the users whose first activity ever (after filters)
    falls between $start and $end. Without a device or event-type filter it reads the first
    day people keeps per user at load time instead of every user-day there is."""
    if whole_days(store, q):
        users, params = user_scope(q, "user_id")
        return f"(SELECT user_id, first_day FROM people WHERE first_day BETWEEN $start AND $end AND {users})", params
    ever, params = active_days(q, "$since", "$end")
    return (f"(SELECT user_id, min(day) AS first_day FROM {ever} GROUP BY user_id HAVING min(day) >= $start)",
            {**params, "since": SINCE})


def weekday_hours_sql(events: str) -> str:
    """SQL for (weekday 0 = Monday, hour, events) over all 168 cells of a week, counting the
    rows (day, hour) of the relation `events`; empty cells are 0."""
    return f"""
    WITH counts AS (SELECT isodow(day) - 1 AS weekday, hour, count(*) AS events FROM ({events}) GROUP BY ALL)
    SELECT w.range AS weekday, h.range AS hour, CAST(coalesce(c.events, 0) AS BIGINT) AS events
    FROM range(7) w CROSS JOIN range(24) h
    LEFT JOIN counts c ON c.weekday = w.range AND c.hour = h.range
    ORDER BY weekday, hour
    """
