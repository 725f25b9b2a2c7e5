"""Activity: who is active, how often, and who is new (METRICS.md "Activity")."""

from __future__ import annotations

import polars as pl

from metrics.base import active_days, fill_periods, rate, trunc, user_scope
from metrics.registry import EVENT_TYPE, metric
from pulse.query import Query


@metric("active_users", ["period", "active_users"], options=(EVENT_TYPE,), area="activity")
def active_users(store, q: Query) -> pl.DataFrame:
    """Distinct users with at least one event, per period."""
    days, params = active_days(q)
    out = store.fetch(
        f"SELECT {trunc('day', q.interval)} AS period, count(DISTINCT user_id) AS active_users "
        f"FROM {days} GROUP BY ALL",
        {**params, "start": q.range_start, "end": q.range_end},
    )
    return fill_periods(q, out.cast({"active_users": pl.Int64}))


def rolling_active(q: Query, windows: dict[str, int]) -> tuple[str, dict]:
    """SQL for (date, <name> per window): distinct users active in [d - w + 1, d] for each
    day d of the range.

    Each user's active days become intervals [day, day + w - 1]; overlapping ones are
    merged per user and counted with a running sum, so the cost is one pass over user-days
    whatever the window (a join of every user-day to w target days is not).
    """
    widest = max(windows.values())
    days, params = active_days(q, f"CAST($start AS DATE) - {widest - 1}", "$end")
    parts = []
    for name, w in windows.items():
        parts.append(f"""
        {name}_islands AS (
            SELECT user_id, day, sum(CASE WHEN gap IS NULL OR gap > {w} THEN 1 ELSE 0 END)
                   OVER (PARTITION BY user_id ORDER BY day ROWS UNBOUNDED PRECEDING) AS island
            FROM (SELECT user_id, day, day - lag(day) OVER (PARTITION BY user_id ORDER BY day) AS gap FROM active)
        ),
        {name}_deltas AS (
            SELECT day, sum(delta) AS delta FROM (
                SELECT min(day) AS day, 1 AS delta FROM {name}_islands GROUP BY user_id, island
                UNION ALL
                SELECT max(day) + {w} AS day, -1 AS delta FROM {name}_islands GROUP BY user_id, island
            ) GROUP BY day
        ),
        {name}_counts AS (
            SELECT c.day, sum(coalesce(d.delta, 0)) OVER (ORDER BY c.day) AS {name}
            FROM calendar c LEFT JOIN {name}_deltas d USING (day)
        )""")
    select = ", ".join(f"CAST({name}_counts.{name} AS BIGINT) AS {name}" for name in windows)
    joins = " ".join(f"JOIN {name}_counts USING (day)" for name in windows)
    sql = f"""
    WITH active AS (SELECT DISTINCT user_id, day FROM {days}),
    calendar AS (
        SELECT CAST(range AS DATE) AS day
        FROM range(CAST($start AS DATE) - {widest - 1}, CAST($end AS DATE) + 1, INTERVAL 1 DAY)
    ),
    {",".join(parts)}
    SELECT calendar.day AS date, {select}
    FROM calendar {joins}
    WHERE calendar.day BETWEEN $start AND $end
    ORDER BY date
    """
    return sql, {**params, "start": q.start, "end": q.end}


@metric("dau_wau_mau", ["date", "dau", "wau", "mau", "stickiness"], options=(EVENT_TYPE,), area="activity")
def dau_wau_mau(store, q: Query) -> pl.DataFrame:
    """Per day: users active that day, in the last 7 days and in the last 30 days; dau / mau."""
    sql, params = rolling_active(q, {"dau": 1, "wau": 7, "mau": 30})
    out = store.fetch(f"SELECT *, {rate('dau', 'mau')} AS stickiness FROM ({sql})", params)
    return out


@metric("new_users", ["period", "new_users", "cumulative_users"], area="activity")
def new_users(store, q: Query) -> pl.DataFrame:
    """Users whose signup falls in each period, and all users signed up by its end."""
    users, params = user_scope(q, devices=True)
    params = {**params, "start": q.range_start, "end": q.range_end}
    counts = store.fetch(
        f"SELECT {trunc('signup_day', q.interval)} AS period, count(*) AS new_users FROM people "
        f"WHERE signup_day BETWEEN $start AND $end AND {users} GROUP BY ALL",
        params,
    )
    before = store.scalar(f"SELECT count(*) FROM people WHERE signup_day < $start AND {users}", params)
    out = fill_periods(q, counts.cast({"new_users": pl.Int64}))
    return out.with_columns(cumulative_users=(pl.col("new_users").cum_sum() + before).cast(pl.Int64))
