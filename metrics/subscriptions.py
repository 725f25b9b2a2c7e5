"""Subscriptions: recurring revenue and how it moves (METRICS.md "Subscriptions (MRR)").

Month-end MRR counts the periods active just before the next month begins, at local
midnight in the reporting timezone. MRR metrics are monthly whatever the interval: the
range widens to whole months.
"""

from __future__ import annotations

import polars as pl

from metrics.base import user_scope
from metrics.money import customer_mrr_sql, history_months, month_end_params, month_ends_sql, monthly
from metrics.registry import Option, metric
from pulse.measures import TRIAL_PLAN, local_day, money, mrr_active_at, rate
from pulse.periods import calendar_sql, end_of_day_utc, shift_sql, trunc_sql
from pulse.query import Query


def movements_sql(store, q: Query) -> tuple[str, dict]:
    """SQL for one row per month of the range: mrr and customers at its end and at the end of
    the month before, churned customers, and the five MRR movements (METRICS.md).

    Customer MRR is computed for every month end since the first subscription, because
    "new" versus "reactivation" depends on whether a customer ever had MRR before.
    """
    months = monthly(q).periods()
    customer_mrr, params = customer_mrr_sql(q)
    sql = f"""
    WITH customer_mrr AS ({customer_mrr}),
    firsts AS (SELECT user_id, min(month) AS first_month FROM customer_mrr GROUP BY user_id),
    pairs AS (
        SELECT coalesce(cur.user_id, prev.user_id) AS user_id, coalesce(cur.month, prev.next_month) AS month,
               coalesce(prev.mrr, 0) AS m0, coalesce(cur.mrr, 0) AS m1
        FROM customer_mrr cur
        FULL JOIN (SELECT user_id, {shift_sql('month', 'month', 1)} AS next_month, mrr FROM customer_mrr) prev
          ON cur.user_id = prev.user_id AND cur.month = prev.next_month
    ),
    by_month AS (
        SELECT p.month, sum(m1) AS mrr, count(*) FILTER (WHERE m1 > 0) AS customers,
               sum(m0) AS previous_mrr, count(*) FILTER (WHERE m0 > 0) AS previous_customers,
               count(*) FILTER (WHERE m1 = 0) AS churned_customers,
               sum(m1) FILTER (WHERE m0 = 0 AND p.month = f.first_month) AS new_mrr,
               sum(m1) FILTER (WHERE m0 = 0 AND p.month > f.first_month) AS reactivation_mrr,
               sum(m1 - m0) FILTER (WHERE m1 > m0 AND m0 > 0) AS expansion_mrr,
               sum(m0 - m1) FILTER (WHERE m1 < m0 AND m1 > 0) AS contraction_mrr,
               sum(m0) FILTER (WHERE m1 = 0) AS churned_mrr
        FROM pairs p JOIN firsts f USING (user_id)
        GROUP BY p.month
    )
    SELECT c.month,
           coalesce(mrr, 0) AS mrr, coalesce(customers, 0) AS customers,
           coalesce(previous_mrr, 0) AS previous_mrr, coalesce(previous_customers, 0) AS previous_customers,
           coalesce(churned_customers, 0) AS churned_customers,
           coalesce(new_mrr, 0) AS new_mrr, coalesce(reactivation_mrr, 0) AS reactivation_mrr,
           coalesce(expansion_mrr, 0) AS expansion_mrr, coalesce(contraction_mrr, 0) AS contraction_mrr,
           coalesce(churned_mrr, 0) AS churned_mrr
    FROM {calendar_sql('month', 'range_months')} c LEFT JOIN by_month USING (month)
    """
    return sql, {**params, **month_end_params(store, history_months(store, months)), "range_months": months}


# The bridge in cents, rounded once: each movement is the step between two rounded running
# totals (start, + new, + reactivation, + expansion, - contraction, - churned = end), so the
# start and end are the exact MRR rounded, every movement is within a cent of its exact
# value, and start + movements = end holds to the cent in every export.
_STEPS = ("new_mrr", "reactivation_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr")
_SIGNS = {"new_mrr": "+", "reactivation_mrr": "+", "expansion_mrr": "+", "contraction_mrr": "-", "churned_mrr": "-"}


def _bridge_in_cents() -> str:
    totals, running = ["previous_mrr"], "previous_mrr"
    for step in _STEPS:
        running = f"{running} {_SIGNS[step]} {step}"
        totals.append(running)
    cents = [money(t) for t in totals]
    moves = [f"{cents[i + 1]} - {cents[i]}" if _SIGNS[step] == "+" else f"{cents[i]} - {cents[i + 1]}"
             for i, step in enumerate(_STEPS)]
    return ", ".join([f"{cents[0]} AS start_mrr"] + [f"CAST({m} AS DECIMAL(18,2)) AS {step}" for m, step in zip(moves, _STEPS)]
                     + [f"{money('mrr')} AS end_mrr"])


MOVEMENTS_ROUNDED = _bridge_in_cents()


@metric(
    "mrr",
    ["month", "mrr", "arr", "customers", "arpu", "new_mrr", "reactivation_mrr", "expansion_mrr",
     "contraction_mrr", "churned_mrr", "net_new_mrr"],
    area="revenue",
)
def mrr(store, q: Query) -> pl.DataFrame:
    """Monthly recurring revenue at each month end, with ARR, paying customers, ARPU and the MRR movements that led to it.

    net_new_mrr = new + reactivation + expansion − contraction − churned, so the previous
    month's mrr plus net_new_mrr is this month's mrr. MRR is summed exactly and rounded
    once; each movement is within a cent of its exact value and the bridge adds up to the cent.
    """
    sql, params = movements_sql(store, q)
    out = store.fetch(
        f"""
        SELECT month, end_mrr AS mrr, {money('12 * exact_mrr')} AS arr, customers,
               {money('exact_mrr / NULLIF(customers, 0)')} AS arpu,
               new_mrr, reactivation_mrr, expansion_mrr, contraction_mrr, churned_mrr,
               CAST(end_mrr - start_mrr AS DECIMAL(18,2)) AS net_new_mrr
        FROM (SELECT month, customers, mrr AS exact_mrr, {MOVEMENTS_ROUNDED} FROM ({sql})) ORDER BY month
        """,
        params,
    )
    return out.cast({"customers": pl.Int64})


@metric(
    "mrr_bridge",
    ["month", "start_mrr", "new_mrr", "reactivation_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "end_mrr"],
    area="revenue",
)
def mrr_bridge(store, q: Query) -> pl.DataFrame:
    """Per month, MRR at the start (the previous month's end), each movement, and MRR at the end.

    start + new + reactivation + expansion − contraction − churned = end, to the cent.
    """
    sql, params = movements_sql(store, q)
    out = store.fetch(
        f"""
        SELECT month, {MOVEMENTS_ROUNDED} FROM ({sql}) ORDER BY month
        """,
        params,
    )
    return out


@metric(
    "mrr_rates",
    ["month", "customer_churn_rate", "gross_mrr_churn", "net_mrr_churn", "nrr", "grr", "ltv"],
    area="revenue",
)
def mrr_rates(store, q: Query) -> pl.DataFrame:
    """Customer churn, gross and net MRR churn, net and gross revenue retention, and LTV, per month.

    Rates compare the month's end with the previous month's end and are empty when the
    previous month had no MRR. ltv = this month's ARPU / customer_churn_rate, empty when no
    customer churned.
    """
    sql, params = movements_sql(store, q)
    churn_rate = rate("churned_customers", "previous_customers")
    # ltv = (mrr / customers) / (churned / previous), written as one division of the MRR sum:
    # ClickHouse divides a decimal by a count in decimals cut to their scale (ARPU to 4 places,
    # then divided by the rate, a cent off), DuckDB in doubles; from one division both round
    # the quotient to the same cents (tests/test_dialect.py).
    out = store.fetch(
        f"""
        SELECT month, {churn_rate} AS customer_churn_rate,
               {rate('churned_mrr + contraction_mrr', 'previous_mrr')} AS gross_mrr_churn,
               {rate('churned_mrr + contraction_mrr - expansion_mrr', 'previous_mrr')} AS net_mrr_churn,
               {rate('previous_mrr + expansion_mrr - contraction_mrr - churned_mrr', 'previous_mrr')} AS nrr,
               {rate('previous_mrr - contraction_mrr - churned_mrr', 'previous_mrr')} AS grr,
               {money('mrr * previous_customers / NULLIF(customers * churned_customers, 0)')} AS ltv
        FROM ({sql}) ORDER BY month
        """,
        params,
    )
    return out


@metric("plan_mix", ["month", "plan", "customers", "mrr"], area="revenue")
def plan_mix(store, q: Query) -> pl.DataFrame:
    """Paying customers and MRR by plan at each month end (paid periods only).

    Every plan that had paid periods at some month end of the range appears in every month,
    with zeros where it had none.
    """
    months = monthly(q).periods()
    users, params = user_scope(q, "s.user_id", devices=True)
    out = store.fetch(
        f"""
        WITH by_plan AS (
            SELECT e.month, s.plan, count(DISTINCT s.user_id) AS customers, sum(s.mrr) AS mrr
            FROM subscriptions s
            JOIN {month_ends_sql()} e ON {mrr_active_at('s', 'e.at')}
            WHERE s.mrr > 0 AND {users}
            GROUP BY e.month, s.plan
        )
        SELECT c.month, p.plan, coalesce(b.customers, 0) AS customers, {money('coalesce(b.mrr, 0)')} AS mrr
        FROM {calendar_sql('month', 'months')} c
        CROSS JOIN (SELECT DISTINCT plan FROM by_plan) p
        LEFT JOIN by_plan b ON b.month = c.month AND b.plan = p.plan
        ORDER BY c.month, p.plan
        """,
        {**params, **month_end_params(store, months)},
    )
    return out.cast({"customers": pl.Int64})


STATUSES = ("trial", "active", "cancelled", "free")


@metric("subscription_status", ["status", "subscriptions"], area="revenue")
def subscription_status(store, q: Query) -> pl.DataFrame:
    """Subscriptions by status as of the end date: trial, active (paid), cancelled (ended, never resumed), free.

    A subscription's status is that of its latest period started by then: cancelled if that
    period has ended, trial if its plan is "trial", active if it has MRR, free otherwise.
    Subscriptions that start later are not counted.
    """
    users, params = user_scope(q, "s.user_id", devices=True)
    statuses = ", ".join(f"({i}, '{status}')" for i, status in enumerate(STATUSES))
    out = store.fetch(
        f"""
        WITH latest AS (
            SELECT s.subscription_id, s.plan, s.mrr, s.ended_at
            FROM subscriptions s
            WHERE s.started_at < $at AND {users}
            QUALIFY row_number() OVER (PARTITION BY s.subscription_id ORDER BY s.started_at DESC) = 1
        ),
        counted AS (
            SELECT CASE WHEN ended_at IS NOT NULL AND ended_at < $at THEN 'cancelled'
                        WHEN lower(plan) = $trial THEN 'trial'
                        WHEN mrr > 0 THEN 'active'
                        ELSE 'free' END AS status,
                   count(*) AS subscriptions
            FROM latest GROUP BY 1
        )
        SELECT s.status, coalesce(c.subscriptions, 0) AS subscriptions
        FROM (VALUES {statuses}) s(position, status)
        LEFT JOIN counted c USING (status)
        ORDER BY s.position
        """,
        {**params, "at": end_of_day_utc(q.end, store.timezone), "trial": TRIAL_PLAN},
    )
    return out.cast({"subscriptions": pl.Int64})


@metric(
    "trial_conversion",
    ["cohort", "trials", "converted", "conversion_rate", "median_days_to_convert"],
    options=(Option("within_days", "int", 30, "days after a trial starts in which a paid period counts", minimum=0,
                   maximum=3650),),
    area="revenue",
)
def trial_conversion(store, q: Query) -> pl.DataFrame:
    """Trials started per month, how many converted to a paid period within N days, and the median days it took.

    A trial is a period with plan "trial"; it converts when a paid period (mrr > 0) of the
    same user starts at or after it and at most within_days local days later. Days to
    convert count to that user's first such paid period.
    """
    months = monthly(q)
    users, params = user_scope(q, "s.user_id", devices=True)
    out = store.fetch(
        f"""
        WITH trials AS (
            SELECT s.subscription_id, s.user_id, s.started_at, {local_day('s.started_at')} AS trial_day
            FROM subscriptions s
            WHERE lower(s.plan) = $trial AND {users}
        ),
        cohort_trials AS (SELECT * FROM trials WHERE trial_day BETWEEN $start AND $end),
        conversions AS (
            SELECT t.subscription_id, t.started_at, min(date_diff('day', t.trial_day, {local_day('p.started_at')})) AS days
            FROM cohort_trials t
            JOIN subscriptions p ON p.user_id = t.user_id AND p.mrr > 0 AND p.started_at >= t.started_at
            WHERE date_diff('day', t.trial_day, {local_day('p.started_at')}) <= $within
            GROUP BY t.subscription_id, t.started_at
        ),
        by_cohort AS (
            SELECT {trunc_sql('t.trial_day', 'month')} AS cohort, count(*) AS trials, count(c.days) AS converted,
                   median(c.days) AS median_days
            FROM cohort_trials t LEFT JOIN conversions c USING (subscription_id, started_at)
            GROUP BY 1
        )
        SELECT k.cohort, coalesce(trials, 0) AS trials, coalesce(converted, 0) AS converted,
               {rate('converted', 'trials')} AS conversion_rate,
               CAST(median_days AS DOUBLE) AS median_days_to_convert
        FROM {calendar_sql('cohort')} k LEFT JOIN by_cohort USING (cohort)
        ORDER BY k.cohort
        """,
        {**params, "tz": store.timezone, "trial": TRIAL_PLAN, "within": q.opt("within_days"),
         "start": months.range_start, "end": months.range_end, "periods": months.periods()},
    )
    return out.cast({"trials": pl.Int64, "converted": pl.Int64})


@metric("plan_transitions", ["from_plan", "to_plan", "customers"], area="revenue")
def plan_transitions(store, q: Query) -> pl.DataFrame:
    """Customers who moved from one plan to another, counted where the new period starts inside the range.

    A transition is a user's period followed by their next period (by start, across
    subscriptions, gaps allowed) on a different plan.
    """
    users, params = user_scope(q, "s.user_id", devices=True)
    out = store.fetch(
        f"""
        WITH ordered AS (
            SELECT s.user_id, s.plan,
                   lead(s.plan) OVER w AS next_plan, lead(s.started_at) OVER w AS next_start
            FROM subscriptions s
            WHERE {users}
            WINDOW w AS (PARTITION BY s.user_id ORDER BY s.started_at, s.subscription_id)
        )
        SELECT plan AS from_plan, next_plan AS to_plan, count(DISTINCT user_id) AS customers
        FROM ordered
        WHERE next_plan <> plan AND {local_day('next_start')} BETWEEN $start AND $end
        GROUP BY ALL ORDER BY from_plan, to_plan
        """,
        {**params, "tz": store.timezone, "start": q.range_start, "end": q.range_end},
    )
    return out.cast({"customers": pl.Int64})
