"""Building blocks for the money metrics, shared by the overview and the revenue pages.

Revenue counts succeeded rows in the reporting currency only; rows in other currencies are
reported apart, never mixed in. MRR "at the end of" a day or month is the sum of the
subscription periods active just before the next one begins at instant t:
started_at < t <= ended_at (or still running), as METRICS.md defines month-end MRR.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

from metrics.base import Params, local_midnight_utc, user_scope
from pulse.query import Query, next_period


def transactions_scope(store, q: Query, alias: str = "t") -> tuple[str, Params]:
    """A condition on transactions: the user filters and the reporting currency."""
    users, params = user_scope(q, f"{alias}.user_id", devices=True)
    return f"{alias}.currency = $currency AND {users}", {**params, "currency": store.currency}


# Row conditions on transactions (alias t), as METRICS.md "Purchases and revenue" counts them.
ORDER = "t.status = 'succeeded' AND t.kind IN ('purchase', 'subscription')"
REFUND = "t.status = 'succeeded' AND t.kind = 'refund'"
FAILED = "t.status = 'failed'"


def revenue_totals_sql(store, q: Query, period: str | None = None) -> tuple[str, Params]:
    """Revenue totals for local days $start..$end: orders, buyers, gross, refunds (unrounded
    decimals), failed payments. One row, or with `period` (a SQL expression) one row per period."""
    scope, params = transactions_scope(store, q)
    group = (f"{period} AS period,", "GROUP BY ALL") if period else ("", "")
    sql = f"""
    SELECT {group[0]}
           count(*) FILTER (WHERE {ORDER}) AS orders,
           count(DISTINCT t.user_id) FILTER (WHERE {ORDER}) AS buyers,
           coalesce(sum(t.amount) FILTER (WHERE {ORDER}), 0) AS gross,
           coalesce(sum(t.amount) FILTER (WHERE {REFUND}), 0) AS refunds,
           count(*) FILTER (WHERE {FAILED}) AS failed
    FROM transactions t
    WHERE t.day BETWEEN $start AND $end AND {scope}
    {group[1]}
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


# The plan label that marks a trial period (DATA.md: "free, trial, pro, enterprise").
TRIAL_PLAN = "trial"


def local_day(expr: str) -> str:
    """SQL for the reporting-timezone day of a stored (naive UTC) timestamp; binds $tz."""
    return f"CAST(timezone($tz, timezone('UTC', {expr})) AS DATE)"


def monthly(q: Query) -> Query:
    """The same query by calendar month: MRR and cohorts are monthly whatever the interval."""
    return replace(q, interval="month")


def calendar_sql(column: str = "period", param: str = "periods") -> str:
    """A one-column relation of the dates bound as the list $<param>, so a metric can left-join
    its figures onto every period of the range and compute its ratios after the zeros."""
    return f"(SELECT unnest(CAST(${param} AS DATE[])) AS {column})"


def month_ends_sql() -> str:
    """A relation (month, at) of the months bound as $months and the instants $ats at which each
    ends (see month_end_params)."""
    return "(SELECT unnest(CAST($months AS DATE[])) AS month, unnest(CAST($ats AS TIMESTAMP[])) AS at)"


def month_end_params(store, months: list[date]) -> Params:
    """For each month, the instant the next one begins: local midnight in the reporting
    timezone, as a naive UTC value like the stored timestamps."""
    return {"months": months, "ats": [local_midnight_utc(next_period(m, "month"), store.timezone) for m in months]}


def months_between(first: date, last: date) -> list[date]:
    """The first day of every month from `first`'s month to `last`'s month, in order."""
    out, current = [], first.replace(day=1)
    while current <= last:
        out.append(current)
        current = next_period(current, "month")
    return out


def first_subscription_month(store) -> date | None:
    """The reporting-timezone month of the earliest subscription period, if there is one."""
    first = store.scalar(f"SELECT min({local_day('started_at')}) FROM subscriptions", {"tz": store.timezone})
    return first.replace(day=1) if first is not None else None


def customer_mrr_sql(q: Query) -> tuple[str, Params]:
    """Per (user_id, month) of $months, the customer's MRR m(u, M) at the month's end, where it
    is above zero (periods without MRR, trials and free plans, are left out before the join).

    Each customer's MRR is rounded to cents before anything is summed, so the MRR bridge
    (start + movements = end) holds to the cent in what is exported.
    """
    users, params = user_scope(q, "s.user_id", devices=True)
    sql = f"""
    SELECT s.user_id, e.month, round(sum(s.mrr), 2) AS mrr
    FROM subscriptions s
    JOIN {month_ends_sql()} e ON s.started_at < e.at AND (s.ended_at IS NULL OR s.ended_at >= e.at)
    WHERE s.mrr > 0 AND {users}
    GROUP BY s.user_id, e.month
    HAVING round(sum(s.mrr), 2) > 0
    """
    return sql, params
