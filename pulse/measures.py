"""Named measures: each SQL idea about events and money written once, used everywhere.

Conditions on transactions read the alias `t`; the MRR condition takes its alias. A name
means one thing: `refunded` is an amount, `refund_count` a count (METRICS.md: refunds =
Σ amount of kind refund).
"""

from __future__ import annotations

# -- time: stored timestamps are naive UTC; $tz is the reporting timezone --------------------


def local_day(expr: str) -> str:
    """SQL for the reporting-timezone day of a stored timestamp; binds $tz."""
    return f"CAST(timezone($tz, timezone('UTC', {expr})) AS DATE)"


def local_hour(expr: str) -> str:
    """SQL for the reporting-timezone hour (0-23) of a stored timestamp; binds $tz."""
    return f"CAST(hour(timezone($tz, timezone('UTC', {expr}))) AS TINYINT)"


def mean_seconds(column: str, where: str | None = None) -> str:
    """SQL for the mean of a column of seconds (microsecond precision). Summed as whole
    microseconds, exactly (over the rows `where` keeps), so the mean depends neither on the order the rows are added in
    nor on the engine (ClickHouse's cast of a float to a decimal truncates; DuckDB's rounds)."""
    only = f" FILTER (WHERE {where})" if where else ""
    return (f"CAST(sum(CAST(round({column} * 1000000) AS BIGINT)){only} AS DOUBLE) "
            f"/ NULLIF(count({column}){only}, 0) / 1000000.0")


# -- money (METRICS.md "Purchases and revenue"), rows of transactions t -----------------------

ORDER = "t.status = 'succeeded' AND t.kind IN ('purchase', 'subscription')"
REFUND = "t.status = 'succeeded' AND t.kind = 'refund'"
FAILED = "t.status = 'failed'"

ORDER_COUNT = f"count(*) FILTER (WHERE {ORDER})"
REFUND_COUNT = f"count(*) FILTER (WHERE {REFUND})"
FAILED_COUNT = f"count(*) FILTER (WHERE {FAILED})"
GROSS = f"coalesce(sum(t.amount) FILTER (WHERE {ORDER}), 0)"
REFUNDED = f"coalesce(sum(t.amount) FILTER (WHERE {REFUND}), 0)"
FAILED_AMOUNT = f"coalesce(sum(t.amount) FILTER (WHERE {FAILED}), 0)"
NET = f"{GROSS} - {REFUNDED}"


def mrr_active_at(alias: str, at: str) -> str:
    """SQL: the subscription period `alias` counts in MRR at the instant `at` (METRICS.md:
    started before it, and not ended before it)."""
    return f"{alias}.started_at < {at} AND ({alias}.ended_at IS NULL OR {alias}.ended_at >= {at})"


# The plan label that marks a trial period (DATA.md: "free, trial, pro, enterprise").
TRIAL_PLAN = "trial"

# -- shaping ------------------------------------------------------------------------------

# The value shown for rows that have none for a chosen dimension.
NOT_SET = "(none)"


def money(expr: str) -> str:
    """SQL for an amount rounded to cents, as exported: money is summed exactly and rounded once."""
    return f"CAST(round({expr}, 2) AS DECIMAL(18,2))"


def rate(numerator: str, denominator: str) -> str:
    """SQL for a fraction that is empty, not an error, when the denominator is 0."""
    return f"CAST({numerator} AS DOUBLE) / NULLIF({denominator}, 0)"


# -- bitmaps of user numbers (retention, churn) -------------------------------------------------
# Sets of users as bitmaps of their numbers 1 … n: built per group, intersected, unioned and
# counted. Named here once as DuckDB macros (bitstrings) on every reading connection;
# pulse.dialect renders the same names as ClickHouse's groupBitmap functions.
BITMAP_MACROS = {
    "bitmap_of": ("uid, n", "bitstring_agg(uid, 1, n)"),  # aggregate: the group's users
    "bitmap_union": ("b", "bit_or(b)"),  # aggregate: users in any of the group's bitmaps
    "bitmap_and": ("a, b", "a & b"),  # users in both
    "bitmap_count": ("b", "bit_count(b)"),  # how many users
}

