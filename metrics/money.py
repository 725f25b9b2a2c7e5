"""Building blocks for the money metrics, shared by the overview and the revenue pages.

Revenue counts succeeded rows in the reporting currency only; rows in other currencies are
reported apart, never mixed in. MRR "at the end of" a day or month is the sum of the
subscription periods active just before the next one begins at instant t:
started_at < t <= ended_at (or still running), as METRICS.md defines month-end MRR.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from metrics.base import Params, local_midnight_utc, user_scope
from pulse.query import Query


def transactions_scope(store, q: Query, alias: str = "t") -> tuple[str, Params]:
    """A condition on transactions: the user filters and the reporting currency."""
    users, params = user_scope(q, f"{alias}.user_id", devices=True)
    return f"{alias}.currency = $currency AND {users}", {**params, "currency": store.currency}


def revenue_totals_sql(store, q: Query) -> tuple[str, Params]:
    """One row of revenue totals for local days $start..$end: orders, buyers, gross,
    refunds, net (unrounded decimals), failed payments."""
    scope, params = transactions_scope(store, q)
    sql = f"""
    SELECT count(*) FILTER (WHERE t.status = 'succeeded' AND t.kind IN ('purchase', 'subscription')) AS orders,
           count(DISTINCT t.user_id) FILTER (WHERE t.status = 'succeeded' AND t.kind IN ('purchase', 'subscription')) AS buyers,
           coalesce(sum(t.amount) FILTER (WHERE t.status = 'succeeded' AND t.kind IN ('purchase', 'subscription')), 0) AS gross,
           coalesce(sum(t.amount) FILTER (WHERE t.status = 'succeeded' AND t.kind = 'refund'), 0) AS refunds,
           count(*) FILTER (WHERE t.status = 'failed') AS failed
    FROM transactions t
    WHERE t.day BETWEEN $start AND $end AND {scope}
    """
    return sql, params


def mrr_at_sql(q: Query, alias: str = "s") -> tuple[str, Params]:
    """Per user, the MRR of their subscription periods active just before the instant $at."""
    users, params = user_scope(q, f"{alias}.user_id", devices=True)
    sql = f"""
    SELECT {alias}.user_id, sum({alias}.mrr) AS mrr
    FROM subscriptions {alias}
    WHERE {alias}.started_at < $at AND ({alias}.ended_at IS NULL OR {alias}.ended_at >= $at) AND {users}
    GROUP BY {alias}.user_id
    """
    return sql, params


def end_of_day_instant(store, day: date) -> datetime:
    """The instant just after `day` ends in the reporting timezone (as a naive UTC value)."""
    return local_midnight_utc(day + timedelta(days=1), store.timezone)
