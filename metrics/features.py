"""Features and the API: what is used, by how many, what fell out of use, who nears a plan's
API limit (METRICS.md "Activity"; the API limits come from the `api_limits` setting)."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from metrics.base import SINCE, Params, active_days, event_scope, user_scope, whole_days
from metrics.registry import Option, metric
from pulse.measures import rate
from pulse.periods import calendar_sql, trunc_sql
from pulse.query import Query

UNCATEGORIZED = "Uncategorized"
# A trend is a change of more than this fraction against the previous range.
TREND_THRESHOLD_PERCENT = 10
# Accounts at or above this share of their plan's monthly API limit are listed.
API_WARNING_PERCENT = 80


def _uses(store, q: Query, first: str, last: str) -> tuple[str, Params]:
    """SQL: the uses of features (feature, day, user_id, uses, described_at, category) on the
    days between two SQL date expressions, after filters, one row per user, day and feature.

    The load keeps exactly these rows (feature_days), so they are read from there, except
    under a device filter (a device is a property of each use, which the rows do not keep)
    or on a store whose derived tables predate them; then from the events, a row per use.
    A feature's category is that of its latest use that had properties (categories below)."""
    if whole_days(store, q):
        users, params = user_scope(q, "f.user_id")
        return (f"(SELECT f.feature, f.day, f.user_id, f.uses, f.described_at, f.category FROM feature_days f "
                f"WHERE f.day BETWEEN {first} AND {last} AND {users})"), params
    scope, params = event_scope(q, "e")
    return f"""(SELECT e.event_name AS feature, e.day, e.user_id, 1 AS uses,
                       CASE WHEN e.properties IS NOT NULL THEN e.ts END AS described_at,
                       CASE WHEN e.properties IS NOT NULL
                            THEN coalesce(json_extract_string(e.properties, '$.category'), '') END AS category
                FROM events e
                WHERE e.event_type = 'feature_use' AND e.event_name IS NOT NULL AND e.day BETWEEN {first} AND {last}
                      AND {scope})""", params


def _categories(uses: str) -> str:
    """SQL: each feature of `uses` with the category of its latest use that had properties, else
    Uncategorized."""
    return f"""(SELECT feature, coalesce(nullif(arg_max(category, described_at), ''), $uncategorized) AS category
             FROM {uses} GROUP BY feature)"""


@metric(
    "feature_usage",
    ["feature", "category", "usage_count", "unique_users", "adoption_rate", "trend"],
    area="activity",
)
def feature_usage(store, q: Query) -> pl.DataFrame:
    """Per feature used in the range: its uses, its users, the share of active users who used it (adoption), and whether its use rose or fell more than 10 % against the previous range of equal length.

    A feature's category is the `category` property of its latest use in the range.
    """
    first, last = q.range_start, q.range_end
    before = first - timedelta(days=(last - first).days + 1)
    now, params = _uses(store, q, "$start", "$end")
    earlier, _ = _uses(store, q, "$before", "$start - 1")
    days, active_params = active_days(q, "$start", "$end")
    threshold = TREND_THRESHOLD_PERCENT
    out = store.fetch(
        f"""
        WITH now AS (
            SELECT feature, sum(uses) AS usage_count, count(DISTINCT user_id) AS unique_users FROM {now} GROUP BY feature
        ),
        categories AS {_categories(now)},
        earlier AS (SELECT feature, sum(uses) AS usage_count FROM {earlier} GROUP BY feature),
        active AS (SELECT count(DISTINCT user_id) AS users FROM {days})
        SELECT now.feature, categories.category, now.usage_count, now.unique_users,
               {rate('now.unique_users', 'active.users')} AS adoption_rate,
               CASE WHEN now.usage_count * 100 > coalesce(earlier.usage_count, 0) * {100 + threshold} THEN 'increasing'
                    WHEN now.usage_count * 100 < coalesce(earlier.usage_count, 0) * {100 - threshold} THEN 'decreasing'
                    ELSE 'stable' END AS trend
        FROM now JOIN categories USING (feature) LEFT JOIN earlier USING (feature) CROSS JOIN active
        ORDER BY now.feature
        """,
        {**params, **active_params, "before": before, "start": first, "end": last, "uncategorized": UNCATEGORIZED},
    )
    return out.cast({"usage_count": pl.Int64, "unique_users": pl.Int64})


@metric(
    "feature_adoption",
    ["category", "feature", "period", "unique_users", "adoption_rate"],
    area="activity",
)
def feature_adoption(store, q: Query) -> pl.DataFrame:
    """Per feature used in the range and per period: its users, and their share of that period's active users (adoption)."""
    rows, params = _uses(store, q, "$start", "$end")
    days, active_params = active_days(q, "$start", "$end")
    out = store.fetch(
        f"""
        WITH uses AS (SELECT *, {trunc_sql('day', q.interval)} AS period FROM {rows}),
        features AS {_categories("uses")},
        users AS (SELECT feature, period, count(DISTINCT user_id) AS unique_users FROM uses GROUP BY ALL),
        active AS (SELECT {trunc_sql('day', q.interval)} AS period, count(DISTINCT user_id) AS users FROM {days} GROUP BY ALL),
        calendar AS {calendar_sql()}
        SELECT f.category, f.feature, c.period, coalesce(u.unique_users, 0) AS unique_users,
               {rate('coalesce(u.unique_users, 0)', 'a.users')} AS adoption_rate
        FROM features f CROSS JOIN calendar c
        LEFT JOIN users u ON u.feature = f.feature AND u.period = c.period
        LEFT JOIN active a ON a.period = c.period
        ORDER BY f.category, f.feature, c.period
        """,
        {**params, **active_params, "start": q.range_start, "end": q.range_end, "periods": q.periods(),
         "uncategorized": UNCATEGORIZED},
    )
    return out.cast({"unique_users": pl.Int64})


@metric("unused_features", ["feature", "last_used"], area="activity")
def unused_features(store, q: Query) -> pl.DataFrame:
    """Features used before the range and never inside it, with the last day they were used."""
    rows, params = _uses(store, q, "$since", "$end")
    return store.fetch(
        f"""
        SELECT feature, max(day) AS last_used FROM {rows}
        GROUP BY feature
        HAVING max(day) < $start
        ORDER BY feature
        """,
        {**params, "since": SINCE, "start": q.range_start, "end": q.range_end},
    )


@metric(
    "api_usage",
    ["user_id", "email", "plan", "api_calls", "limit", "share"],
    options=(Option("limits", "limits", None, "monthly API calls allowed per plan, e.g. free=1000,pro=50000",
                    setting="api_limits"),),
    area="activity",
)
def api_usage(store, q: Query) -> pl.DataFrame:
    """Accounts that made at least 80 % of their plan's monthly API call limit in the month of the range's end (counted from the month's first day to the end day), highest share first."""
    limits = dict(q.opt("limits"))
    # One row per plan (a VALUES list, which both engines read alike; two unnests in one
    # SELECT are zipped by DuckDB and multiplied by ClickHouse).
    plans = {k: v for i, (plan, calls) in enumerate(limits.items()) for k, v in ((f"plan_{i}", plan), (f"calls_{i}", calls))}
    rows = ", ".join(f"($plan_{i}, $calls_{i})" for i in range(len(limits))) or "(NULL, NULL)"
    scope, params = event_scope(q, "e")
    out = store.fetch(
        f"""
        WITH limits AS (SELECT plan, CAST(calls AS BIGINT) AS calls FROM (VALUES {rows}) AS l(plan, calls)),
        usage AS (
            SELECT e.user_id, count(*) AS api_calls FROM events e
            WHERE e.event_type = 'api_call' AND e.day BETWEEN $month_start AND $end AND {scope}
            GROUP BY e.user_id
        )
        SELECT u.user_id, p.email, p.plan, u.api_calls, l.calls AS "limit", {rate('u.api_calls', 'l.calls')} AS share
        FROM usage u JOIN people p USING (user_id) JOIN limits l ON l.plan = p.plan
        WHERE u.api_calls * 100 >= l.calls * {API_WARNING_PERCENT}
        ORDER BY share DESC, u.user_id
        """,
        {**params, **plans, "month_start": q.end.replace(day=1), "end": q.end},
    )
    return out.cast({"api_calls": pl.Int64, "limit": pl.Int64})
