"""Purchases and revenue: what was bought, refunded and failed (METRICS.md "Purchases and revenue").

Money sums only succeeded rows in the reporting currency; `other_currencies` shows the
rest apart. Range-level tables use the range widened to whole periods, like the charts
next to them; `customer_value` is as of `--end`.
"""

from __future__ import annotations

import polars as pl

from metrics.base import user_scope
from metrics.money import monthly, revenue_totals_sql, transactions_scope
from metrics.registry import LIMIT, OFFSET, Option, metric
from pulse.measures import (
    FAILED_AMOUNT,
    FAILED_COUNT,
    GROSS,
    NET,
    NOT_SET,
    ORDER,
    ORDER_COUNT,
    REFUND_COUNT,
    REFUNDED,
    money,
    rate,
)
from pulse.periods import calendar_sql, offset_sql, trunc_sql
from pulse.query import Query
from pulse.schema import TRANSACTION_KINDS, TRANSACTION_STATUSES

BREAKDOWN_DIMENSIONS = ("category", "provider", "payment_method", "plan", "country")

# revenue's columns, shaped from revenue_totals_sql (orders, buyers, gross, refunds, failed).
REVENUE_COLUMNS = f"""orders, buyers, {money('gross')} AS gross_revenue, {money('refunds')} AS refunds,
    {money('gross - refunds')} AS net_revenue, {money('gross / NULLIF(orders, 0)')} AS avg_order_value,
    failed AS failed_payments, {rate('failed', 'failed + orders')} AS failed_rate"""


@metric(
    "revenue",
    ["period", "orders", "buyers", "gross_revenue", "refunds", "net_revenue", "avg_order_value",
     "failed_payments", "failed_rate"],
    area="purchases",
)
def revenue(store, q: Query) -> pl.DataFrame:
    """Orders, buyers, gross revenue, refunds, net revenue, average order value and failed payments per period.

    A refund counts in the period it was paid back, not the period of its purchase.
    Failed payments count failed rows in the reporting currency; pending rows count nowhere.
    """
    sums, params = revenue_totals_sql(store, q, period=trunc_sql("t.day", q.interval))
    out = store.fetch(
        f"""
        WITH sums AS ({sums}),
        filled AS (
            SELECT c.period, coalesce(orders, 0) AS orders, coalesce(buyers, 0) AS buyers,
                   coalesce(gross, 0) AS gross, coalesce(refunds, 0) AS refunds, coalesce(failed, 0) AS failed
            FROM {calendar_sql()} c LEFT JOIN sums USING (period)
        )
        SELECT period, {REVENUE_COLUMNS} FROM filled ORDER BY period
        """,
        {**params, "start": q.range_start, "end": q.range_end, "periods": q.periods()},
    )
    return out.cast({"orders": pl.Int64, "buyers": pl.Int64, "failed_payments": pl.Int64})


@metric(
    "revenue_summary",
    ["orders", "buyers", "gross_revenue", "refunds", "net_revenue", "avg_order_value", "failed_payments", "failed_rate"],
    area="purchases",
)
def revenue_summary(store, q: Query) -> pl.DataFrame:
    """The range's totals as in `revenue`: orders, buyers, gross and net revenue, refunds, average order value, failed payments.

    buyers counts each buyer once over the whole range (not the sum of the periods' buyers).
    """
    totals, params = revenue_totals_sql(store, q)
    out = store.fetch(
        f"""
        SELECT {REVENUE_COLUMNS} FROM ({totals})
        """,
        {**params, "start": q.range_start, "end": q.range_end},
    )
    return out.cast({"orders": pl.Int64, "buyers": pl.Int64, "failed_payments": pl.Int64})


@metric(
    "refunds_and_failures",
    ["period", "refund_count", "refunded_amount", "failed_payments", "failed_amount", "failed_rate"],
    area="purchases",
)
def refunds_and_failures(store, q: Query) -> pl.DataFrame:
    """Refunds paid back and payments that failed per period: how many, how much, and the failure rate.

    refund_count is a count (METRICS.md's `refunds` is the refunded amount, as in `revenue`).

    failed_rate = failed / (failed + succeeded orders), as in `revenue`. Reporting currency only.
    """
    scope, params = transactions_scope(store, q)
    out = store.fetch(
        f"""
        WITH sums AS (
            SELECT {trunc_sql('t.day', q.interval)} AS period,
                   {REFUND_COUNT} AS refund_count,
                   {REFUNDED} AS refunded,
                   {FAILED_COUNT} AS failed,
                   {FAILED_AMOUNT} AS failed_amount,
                   {ORDER_COUNT} AS orders
            FROM transactions t
            WHERE t.day BETWEEN $start AND $end AND {scope}
            GROUP BY ALL
        )
        SELECT c.period, coalesce(refund_count, 0) AS refund_count, {money('coalesce(refunded, 0)')} AS refunded_amount,
               coalesce(failed, 0) AS failed_payments, {money('coalesce(failed_amount, 0)')} AS failed_amount,
               {rate('failed', 'failed + orders')} AS failed_rate
        FROM {calendar_sql()} c LEFT JOIN sums USING (period)
        ORDER BY c.period
        """,
        {**params, "start": q.range_start, "end": q.range_end, "periods": q.periods()},
    )
    return out.cast({"refund_count": pl.Int64, "failed_payments": pl.Int64})


BREAKDOWN_VALUES = {
    "category": "t.category",
    "provider": "t.provider",
    "payment_method": "t.payment_method",
    "plan": "t.plan",
    "country": "p.country",
}


@metric(
    "revenue_breakdown",
    ["dimension", "value", "orders", "buyers", "gross_revenue", "share"],
    options=(Option("dimension", "choice", "category", "what to break revenue down by", BREAKDOWN_DIMENSIONS),),
    area="purchases",
)
def revenue_breakdown(store, q: Query) -> pl.DataFrame:
    """Orders, buyers and gross revenue in the range by one dimension, with each value's share of gross revenue.

    plan is the transaction's plan; country is the buyer's country. Rows without a value are
    shown as "(none)".
    """
    dimension = q.opt("dimension")
    scope, params = transactions_scope(store, q)
    out = store.fetch(
        f"""
        WITH orders AS (
            SELECT coalesce({BREAKDOWN_VALUES[dimension]}, $not_set) AS value, t.user_id, t.amount
            FROM transactions t LEFT JOIN people p ON p.user_id = t.user_id
            WHERE t.day BETWEEN $start AND $end AND {ORDER} AND {scope}
        ),
        by_value AS (
            SELECT value, count(*) AS orders, count(DISTINCT user_id) AS buyers, sum(amount) AS gross
            FROM orders GROUP BY value
        )
        SELECT $dimension AS dimension, value, orders, buyers, {money('gross')} AS gross_revenue,
               {rate('gross', 'sum(gross) OVER ()')} AS share
        FROM by_value ORDER BY value
        """,
        {**params, "start": q.range_start, "end": q.range_end, "dimension": dimension, "not_set": NOT_SET},
    )
    return out.cast({"orders": pl.Int64, "buyers": pl.Int64})


@metric("purchase_cohorts", ["cohort", "period_offset", "cohort_size", "buyers", "revenue"], area="purchases")
def purchase_cohorts(store, q: Query) -> pl.DataFrame:
    """Buyers and net revenue in each month after a customer's first purchase, by the month of that first purchase.

    Cohorts are the months of the range (widened to whole months), each followed up to the
    range's last month. revenue is net: orders minus refunds of the cohort's customers that month.
    """
    months = monthly(q)
    scope, params = transactions_scope(store, q)
    out = store.fetch(
        f"""
        WITH paid AS (
            SELECT t.* FROM transactions t WHERE t.day <= $end AND t.status = 'succeeded' AND {scope}
        ),
        firsts AS (
            SELECT t.user_id, {trunc_sql('min(t.day)', 'month')} AS cohort FROM paid t WHERE {ORDER} GROUP BY t.user_id
        ),
        members AS (SELECT * FROM firsts WHERE cohort BETWEEN $start AND $end),
        sizes AS (SELECT cohort, count(*) AS cohort_size FROM members GROUP BY cohort),
        activity AS (
            SELECT m.cohort, {offset_sql('month', 'm.cohort', trunc_sql('t.day', 'month'))} AS period_offset,
                   count(DISTINCT t.user_id) FILTER (WHERE {ORDER}) AS buyers, {NET} AS revenue
            FROM members m JOIN paid t ON t.user_id = m.user_id AND t.day >= m.cohort
            GROUP BY ALL
        ),
        grid AS (
            SELECT c.cohort, o.period_offset
            FROM {calendar_sql('cohort')} c
            CROSS JOIN (SELECT range AS period_offset FROM range(0, $offsets)) o
            WHERE {offset_sql('month', 'c.cohort', 'CAST($end AS DATE)')} >= o.period_offset
        )
        SELECT g.cohort, g.period_offset, coalesce(s.cohort_size, 0) AS cohort_size,
               coalesce(a.buyers, 0) AS buyers, {money('coalesce(a.revenue, 0)')} AS revenue
        FROM grid g
        LEFT JOIN sizes s USING (cohort)
        LEFT JOIN activity a USING (cohort, period_offset)
        ORDER BY g.cohort, g.period_offset
        """,
        {**params, "start": months.range_start, "end": months.range_end, "periods": months.periods(),
         "offsets": len(months.periods())},
    )
    return out.cast({"period_offset": pl.Int64, "cohort_size": pl.Int64, "buyers": pl.Int64})


CUSTOMER_SORTS = ("user_id", "orders", "total_spent", "last_purchase", "recency_days")


@metric(
    "customer_value",
    ["user_id", "orders", "total_spent", "first_purchase", "last_purchase", "avg_order_value", "recency_days", "frequency"],
    options=(
        Option("sort", "choice", "user_id", "order the buyers by this column", CUSTOMER_SORTS),
        Option("descending", "bool", False, "sort from the highest value down"),
        Option("limit", "int", 0, "keep only the first N buyers (0: all)", minimum=0, maximum=1_000_000),
    ),
    area="purchases",
)
def customer_value(store, q: Query) -> pl.DataFrame:
    """Per buyer, as of the end date: orders, net spend, first and last purchase, average order value, recency, frequency.

    recency_days = --end − the last purchase day.

    Counts the buyer's whole history up to --end (not only the range). total_spent is net of
    refunds; avg_order_value is gross / orders, as in `revenue`; frequency = orders × 30 /
    days from the first purchase to --end (both counted).
    """
    scope, params = transactions_scope(store, q)
    direction = "DESC" if q.opt("descending") else "ASC"
    limit = f"LIMIT {int(q.opt('limit'))}" if q.opt("limit") else ""
    out = store.fetch(
        f"""
        WITH buyers AS (
            SELECT t.user_id,
                   {ORDER_COUNT} AS orders,
                   {GROSS} AS gross,
                   {REFUNDED} AS refunded,
                   min(t.day) FILTER (WHERE {ORDER}) AS first_purchase,
                   max(t.day) FILTER (WHERE {ORDER}) AS last_purchase
            FROM transactions t
            WHERE t.day <= $end AND t.status = 'succeeded' AND {scope}
            GROUP BY t.user_id
            HAVING count(*) FILTER (WHERE {ORDER}) > 0
        )
        SELECT user_id, orders, {money('gross - refunded')} AS total_spent, first_purchase, last_purchase,
               {money('gross / orders')} AS avg_order_value,
               date_diff('day', last_purchase, CAST($end AS DATE)) AS recency_days,
               CAST(orders * 30 AS DOUBLE) / (date_diff('day', first_purchase, CAST($end AS DATE)) + 1) AS frequency
        FROM buyers
        ORDER BY {q.opt('sort')} {direction}, user_id
        {limit}
        """,
        {**params, "end": q.end},
    )
    return out.cast({"orders": pl.Int64, "recency_days": pl.Int64, "frequency": pl.Float64})


@metric("other_currencies", ["currency", "transactions", "amount"], area="purchases")
def other_currencies(store, q: Query) -> pl.DataFrame:
    """Succeeded orders and their net amount per currency other than the reporting one, in the range; never part of revenue.

    transactions counts succeeded purchases and subscriptions; amount is their sum minus
    succeeded refunds, in that currency.
    """
    users, params = user_scope(q, "t.user_id", devices=True)
    out = store.fetch(
        f"""
        SELECT t.currency, {ORDER_COUNT} AS transactions, {money(NET)} AS amount
        FROM transactions t
        WHERE t.currency <> $currency AND t.status = 'succeeded' AND t.day BETWEEN $start AND $end AND {users}
        GROUP BY t.currency ORDER BY t.currency
        """,
        {**params, "currency": store.currency, "start": q.range_start, "end": q.range_end},
    )
    return out.cast({"transactions": pl.Int64})


FACETS = ("category", "provider", "payment_method", "plan", "currency")


@metric(
    "transaction_facets",
    ["value", "transactions"],
    options=(Option("facet", "choice", "category", "the column whose values to list", FACETS),),
    area="purchases",
    internal=True,
)
def transaction_facets(store, q: Query) -> pl.DataFrame:
    """The values one column of the transactions takes in the range, with how many rows have each (any status or currency).

    What the purchase explorer offers to filter by; rows without a value are left out.
    """
    facet = q.opt("facet")
    users, params = user_scope(q, "t.user_id", devices=True)
    out = store.fetch(
        f"""
        SELECT t.{facet} AS value, count(*) AS transactions
        FROM transactions t
        WHERE t.day BETWEEN $start AND $end AND t.{facet} IS NOT NULL AND {users}
        GROUP BY t.{facet} ORDER BY value
        """,
        {**params, "start": q.range_start, "end": q.range_end},
    )
    return out.cast({"transactions": pl.Int64})


TRANSACTION_COLUMNS = ("transaction_id", "ts", "user_id", "kind", "status", "amount", "currency", "category",
                       "provider", "product_name", "payment_method", "plan")
TRANSACTION_SORTS = ("ts", "amount", "user_id", "kind", "status", "category", "provider", "transaction_id")


def transactions_rows(store, q: Query) -> tuple[str, dict]:
    """The statement of transactions_list (its rows, in order), which an export streams."""
    users, params = user_scope(q, "t.user_id", devices=True)
    conditions = ["t.day BETWEEN $start AND $end", users]
    values = {"status": q.opt("status"), "kind": q.opt("kind"), "category": q.opt("category"), "provider": q.opt("provider"),
              "min_amount": q.opt("min_amount"), "max_amount": q.opt("max_amount")}
    for name in ("status", "kind", "category", "provider"):
        if values[name] is not None:
            conditions.append(f"t.{name}::VARCHAR = ${name}")
    if values["min_amount"] is not None:
        conditions.append("t.amount >= $min_amount")
    if values["max_amount"] is not None:
        conditions.append("t.amount <= $max_amount")
    direction = "DESC" if q.opt("descending") else "ASC"
    sql = f"""
        SELECT t.transaction_id, t.ts, t.user_id, t.kind::VARCHAR AS kind, t.status::VARCHAR AS status,
               {money('t.amount')} AS amount, t.currency, t.category, t.provider, t.product_name,
               t.payment_method, t.plan
        FROM transactions t
        WHERE {' AND '.join(conditions)}
        ORDER BY {q.opt('sort')} {direction} NULLS LAST, transaction_id {direction}
        {f"LIMIT {int(q.opt('limit'))}" if q.opt("limit") else ""} OFFSET {int(q.opt("offset"))}
        """
    return sql, {**params, **{k: v for k, v in values.items() if v is not None}, "start": q.range_start, "end": q.range_end}


@metric(
    "transactions_list",
    list(TRANSACTION_COLUMNS),
    options=(
        Option("status", "choice", None, "only rows with this status", TRANSACTION_STATUSES),
        Option("kind", "choice", None, "only rows of this kind", TRANSACTION_KINDS),
        Option("category", "str", None, "only rows of this category"),
        Option("provider", "str", None, "only rows from this provider"),
        Option("min_amount", "amount", None, "only rows of at least this amount"),
        Option("max_amount", "amount", None, "only rows of at most this amount"),
        Option("sort", "choice", "ts", "order the rows by this column", TRANSACTION_SORTS),
        Option("descending", "bool", True, "sort from the highest (newest) value down"),
        LIMIT,
        OFFSET,
    ),
    area="purchases",
    rows=transactions_rows,
)
def transactions_list(store, q: Query) -> pl.DataFrame:
    """Transactions in the range, in every currency and status, filtered, sorted and paged (the purchase explorer).

    ts is UTC, as stored; ties in the sort order are broken by transaction_id.
    """
    return store.fetch(*transactions_rows(store, q))
