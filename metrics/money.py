"""Building blocks for the money metrics, shared by the overview, revenue, retention and user pages.

Revenue counts succeeded rows in the reporting currency only; rows in other currencies are
reported apart, never mixed in. MRR "at the end of" a day or month is the sum of the
subscription periods active just before the next one begins (pulse.measures.mrr_active_at).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from metrics.base import Params, user_scope
from pulse.measures import FAILED_COUNT, GROSS, ORDER, ORDER_COUNT, REFUNDED, local_day, mrr_active_at
from pulse.periods import local_midnight_utc, next_period, periods_between
from pulse.query import Query


def transactions_scope(store, q: Query, alias: str = "t") -> tuple[str, Params]:
    """A condition on transactions: the user filters and the reporting currency."""
    users, params = user_scope(q, f"{alias}.user_id", devices=True)
    return f"{alias}.currency = $currency AND {users}", {**params, "currency": store.currency}


def revenue_totals_sql(store, q: Query, period: str | None = None) -> tuple[str, Params]:
    """Revenue totals for local days $start..$end: orders, buyers, gross, refunds (unrounded
    amounts), failed payments. One row, or with `period` (a SQL expression) one row per period."""
    scope, params = transactions_scope(store, q)
    group = (f"{period} AS period,", "GROUP BY ALL") if period else ("", "")
    sql = f"""
    SELECT {group[0]}
           {ORDER_COUNT} AS orders,
           count(DISTINCT t.user_id) FILTER (WHERE {ORDER}) AS buyers,
           {GROSS} AS gross,
           {REFUNDED} AS refunds,
           {FAILED_COUNT} AS failed
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
    WHERE {mrr_active_at(alias, '$at')} AND {users}
    GROUP BY {alias}.user_id
    """
    return sql, params


def monthly(q: Query) -> Query:
    """The same query by calendar month: MRR and cohorts are monthly whatever the interval."""
    return replace(q, interval="month")


def month_ends_sql() -> str:
    """A relation (month, at) of the months bound as $months and the instants $ats at which each
    ends (see month_end_params). The two lists are read by position, which DuckDB and
    ClickHouse do alike (two unnests in one SELECT are zipped by one, multiplied by the other)."""
    return ("(SELECT (CAST($months AS DATE[]))[i.range] AS month, (CAST($ats AS TIMESTAMP[]))[i.range] AS at "
            "FROM range(1, array_length(CAST($months AS DATE[])) + 1) i)")


def month_end_params(store, months: list[date]) -> Params:
    """For each month, the instant the next one begins: local midnight in the reporting
    timezone, as a naive UTC value like the stored timestamps."""
    return {"months": months, "ats": [local_midnight_utc(next_period(m, "month"), store.timezone) for m in months]}


def first_subscription_month(store) -> date | None:
    """The reporting-timezone month of the earliest subscription period, if there is one."""
    first = store.scalar(f"SELECT min({local_day('started_at')}) FROM subscriptions", {"tz": store.timezone})
    return first.replace(day=1) if first is not None else None


def history_months(store, months: list[date]) -> list[date]:
    """Every month from the first subscription (or the first of `months`) to the last of `months`."""
    first = first_subscription_month(store)
    return periods_between(min(first, months[0]) if first else months[0], months[-1], "month")


def customer_mrr_sql(q: Query) -> tuple[str, Params]:
    """Per (user_id, month) of $months, the customer's MRR m(u, M) at the month's end, where it
    is above zero (periods without MRR, trials and free plans, are left out before the join).
    Exact: money is rounded once, at output (see subscriptions.MOVEMENTS_ROUNDED).
    """
    users, params = user_scope(q, "s.user_id", devices=True)
    sql = f"""
    SELECT s.user_id, e.month, sum(s.mrr) AS mrr
    FROM subscriptions s
    JOIN {month_ends_sql()} e ON {mrr_active_at('s', 'e.at')}
    WHERE s.mrr > 0 AND {users}
    GROUP BY s.user_id, e.month
    """
    return sql, params
