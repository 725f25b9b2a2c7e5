"""Overview: the headline numbers for a range against the range before it."""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from metrics.base import MONEY_DTYPE, active_days, user_scope
from metrics.money import mrr_at_sql, revenue_totals_sql
from metrics.registry import metric
from pulse.periods import end_of_day_utc
from pulse.query import Query

KPIS = ("total_users", "active_users", "new_users", "mrr", "net_revenue", "transactions", "failed_payments")
MONEY_KPIS = ("mrr", "net_revenue")


def _kpi_values(store, q: Query) -> dict[str, Decimal]:
    days, active_params = active_days(q)
    users, user_params = user_scope(q, devices=True)
    revenue_sql, revenue_params = revenue_totals_sql(store, q)
    mrr_sql, mrr_params = mrr_at_sql(q)
    params = {**active_params, **user_params, **revenue_params, **mrr_params,
              "start": q.start, "end": q.end, "at": end_of_day_utc(q.end, store.timezone)}
    row = store.fetch(
        f"""
        SELECT (SELECT count(*) FROM people WHERE signup_day <= $end AND {users}) AS total_users,
               (SELECT count(DISTINCT user_id) FROM {days}) AS active_users,
               (SELECT count(*) FROM people WHERE signup_day BETWEEN $start AND $end AND {users}) AS new_users,
               (SELECT coalesce(sum(mrr), 0) FROM ({mrr_sql})) AS mrr,
               r.gross - r.refunds AS net_revenue,
               r.orders AS transactions,
               r.failed AS failed_payments
        FROM ({revenue_sql}) r
        """,
        params,
    ).row(0, named=True)
    return {name: Decimal(row[name]) for name in KPIS}


@metric("kpis", ["kpi", "value", "previous", "change"], area="overview")
def kpis(store, q: Query) -> pl.DataFrame:
    """Headline figures for the range and the previous range of equal length."""
    now, before = _kpi_values(store, q), _kpi_values(store, q.previous())
    return pl.DataFrame(
        {
            "kpi": list(KPIS),
            "value": [now[k] for k in KPIS],
            "previous": [before[k] for k in KPIS],
            "change": [float((now[k] - before[k]) / before[k]) if before[k] else None for k in KPIS],
        },
        schema={"kpi": pl.String, "value": MONEY_DTYPE, "previous": MONEY_DTYPE, "change": pl.Float64},
    )


def filter_choices(store) -> dict[str, list[str]]:
    """The values the filter bar offers: countries and plans of users, devices of events."""
    countries = store.fetch("SELECT DISTINCT country FROM people WHERE country IS NOT NULL ORDER BY 1")
    plans = store.fetch("SELECT DISTINCT plan FROM people WHERE plan IS NOT NULL ORDER BY 1")
    devices = store.fetch("SELECT DISTINCT device_type::VARCHAR AS d FROM sessions WHERE device_type IS NOT NULL ORDER BY 1")
    return {
        "country": countries.to_series().to_list(),
        "plan": plans.to_series().to_list(),
        "device_type": devices.to_series().to_list(),
    }
