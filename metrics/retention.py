"""Retention and churn: do people come back, who is slipping away, and when
(METRICS.md "Retention and churn", plus retention_by and at_risk_users from issue 4).

Everything reads the user-day rollup through base.active_days, so the filters and the
event_type option narrow "active" the same way as on every other page. A cohort matrix is
one statement over per-period bitmaps of users (see _activity_sql), never one query per
cohort; SQL returns the sparse counts and polars lays them on the full grid of cohorts and
observable offsets.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import polars as pl

from metrics.base import MONEY_DTYPE, SINCE, Params, active_days, first_active_days
from metrics.money import mrr_at_sql
from metrics.registry import EVENT_TYPE, Option, metric
from pulse.measures import money
from pulse.periods import calendar_sql, end_of_day_utc, fill_periods, offset_sql, previous_period, shift_sql, trunc_sql
from pulse.query import Query

MODE = Option(
    "mode", "choice", "first_time",
    "first_time: a user's cohort is the period of their first activity ever; "
    "recurring: every period the user was active in is one of their cohorts",
    choices=("first_time", "recurring"),
)
CUMULATIVE = Option("cumulative", "bool", False, "retained at an offset = active in that period or any later one in the range")
PERIODS = Option("periods", "int", 8, "how many offsets to show (0 … N-1)", minimum=1, maximum=1000)
DIMENSION = Option(
    "dimension", "choice", "plan", "the user attribute the curve is split by",
    choices=("plan", "country", "device_type", "auth_provider"),
)
INACTIVE_DAYS = Option("inactive_days", "int", 30, "days without activity before --end after which a user counts as gone",
                       minimum=0, maximum=3650)
RETENTION_OPTIONS = (MODE, CUMULATIVE, PERIODS, EVENT_TYPE)

DAY_N = (1, 7, 14, 30, 60, 90)
UNKNOWN = "Unknown"

# Each dimension as a relation (user_id, value): one row per user, from the derived tables.
# device_type is the device the user arrived on: their first session's device, which is
# the first of its events that names one (sessions.device_type), a fixed attribute of the
# user like their plan or country.
DIMENSIONS = {
    "plan": "SELECT user_id, plan AS value FROM people",
    "country": "SELECT user_id, country AS value FROM people",
    "auth_provider": "SELECT user_id, auth_provider AS value FROM people",
    "device_type": "SELECT user_id, CAST(device_type AS VARCHAR) AS value FROM sessions WHERE session_no = 1",
}

COUNT_SCHEMA = {"cohort": pl.Date, "period_offset": pl.Int64, "retained": pl.Int64}


def _rate(numerator: str, denominator: str) -> pl.Expr:
    """A fraction that is empty, not an error, when the denominator is 0."""
    return pl.when(pl.col(denominator) > 0).then(pl.col(numerator) / pl.col(denominator)).cast(pl.Float64)


def _user_count(store) -> int:
    """How many users the store knows: the length of every user bitmap."""
    return max(1, store.scalar("SELECT count(*) FROM people"))


def _activity_sql(q: Query, users: int) -> tuple[str, Params]:
    """CTEs `ids` (user_id, uid 1..users), `active` (uid, period) and `activity` (period,
    users): the bitmap of the users active in each period between $start and $end that had
    anyone active.

    Bitmaps keep cohort matrices cheap: a cohort's count at an offset is the popcount of
    two bitmaps ANDed, so the cost is periods x offsets x users/8 bytes however active
    people are, where joining each user's active periods to their cohorts grows with the
    square of their activity. (ClickHouse has the same in groupBitmap / bitmapAnd.)
    """
    days, params = active_days(q)
    # ids is materialized so every reference sees the same numbering; the LIMIT keeps each
    # uid inside the bitmaps should a load publish new users after they were counted.
    sql = f"""
    ids AS MATERIALIZED (
        SELECT user_id, CAST(row_number() OVER (ORDER BY user_id) AS INTEGER) AS uid FROM people LIMIT {int(users)}
    ),
    active AS (SELECT i.uid, {trunc_sql('a.day', q.interval)} AS period FROM {days} a JOIN ids i USING (user_id)),
    activity AS (SELECT period, bitmap_of(uid, {int(users)}) AS users FROM active GROUP BY period)"""
    return sql, params


def _cohort_counts(store, q: Query, dimension: str | None = None) -> pl.DataFrame:
    """Sparse ([value,] cohort, period_offset, retained) for cohorts in the range and
    offsets 0 … N-1 where someone was retained; offset 0 is the cohort's size, since every
    member is active in it.

    first_time members are users whose first activity ever (after filters) falls in the
    range, so someone active before the range sits in no cohort of it; recurring members
    of cohort c are the users active in c. Members are retained at period p by activity in
    p (exact) or in p or any later period of the range (cumulative: the OR of the activity
    bitmaps from p to the end). With a dimension, each count is also ANDed with the bitmap
    of the users holding each value. One statement counts the whole matrix.
    """
    users, interval = _user_count(store), q.interval
    activity, params = _activity_sql(q, users)
    if q.opt("mode") == "first_time":
        firsts, first_params = first_active_days(store, q)
        params = {**params, **first_params}
        members = f"""
        firsts AS {firsts},
        members AS (
            SELECT {trunc_sql('f.first_day', interval)} AS cohort, bitmap_of(i.uid, {int(users)}) AS users
            FROM firsts f JOIN ids i USING (user_id) GROUP BY ALL
        )"""
    else:
        members = "members AS (SELECT period AS cohort, users FROM activity)"
    if q.opt("cumulative"):
        retaining = f"""
        retaining AS (
            SELECT c.period, bitmap_union(a.users) AS users
            FROM {calendar_sql('period', 'periods_list')} c JOIN activity a ON a.period >= c.period GROUP BY c.period
        )"""
    else:
        retaining = "retaining AS (SELECT period, users FROM activity)"
    if dimension is None:
        value, cohorts = "", "cohorts AS (SELECT cohort, users FROM members)"
    else:
        value, cohorts = "m.value, ", f"""
        groups AS (
            SELECT coalesce(d.value, '{UNKNOWN}') AS value, bitmap_of(i.uid, {int(users)}) AS users
            FROM ids i LEFT JOIN ({DIMENSIONS[dimension]}) d USING (user_id) GROUP BY 1
        ),
        cohorts AS (SELECT g.value, m.cohort, bitmap_and(m.users, g.users) AS users FROM members m CROSS JOIN groups g)"""
    offset = offset_sql(interval, "m.cohort", "r.period")
    sql = f"""
    WITH {activity},
    {members},
    {retaining},
    {cohorts}
    SELECT {value}m.cohort, {offset} AS period_offset, bitmap_count(bitmap_and(m.users, r.users)) AS retained
    FROM cohorts m JOIN retaining r ON r.period >= m.cohort AND {offset} < $periods
    """
    out = store.fetch(sql, {**params, "start": q.range_start, "end": q.range_end, "since": SINCE,
                            "periods": q.opt("periods"), "periods_list": q.periods()})
    schema = ({"value": pl.String} if dimension else {}) | COUNT_SCHEMA
    # Filtering here, not in SQL: DuckDB would push the condition into the join and count
    # every pair of periods before the offset limit drops most of them.
    return out.select(list(schema)).cast(schema).filter(pl.col("retained") > 0)


def _grid(q: Query) -> pl.DataFrame:
    """(cohort, period_offset) for every cohort of the range and each offset 0 … N-1 whose
    period is not after the range's last period."""
    periods, n = q.periods(), q.opt("periods")
    pairs = [(cohort, k) for i, cohort in enumerate(periods) for k in range(min(n, len(periods) - i))]
    return pl.DataFrame(pairs, schema={"cohort": pl.Date, "period_offset": pl.Int64}, orient="row")


def _matrix(q: Query, counts: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Counts laid on the full grid (per key value), with each cohort's size and zeros
    where no member came back."""
    grid = _grid(q)
    if keys:
        grid = counts.select(keys).unique().join(grid, how="cross")
    sizes = counts.filter(pl.col("period_offset") == 0).select(*keys, "cohort", cohort_size=pl.col("retained"))
    return (
        grid.join(sizes, on=[*keys, "cohort"], how="left")
        .join(counts, on=[*keys, "cohort", "period_offset"], how="left")
        .with_columns(pl.col("cohort_size", "retained").fill_null(0))
    )


def _summed(matrix: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Σretained / Σcohort_size per offset, over the cohorts that observe it."""
    return (
        matrix.group_by(*keys, "period_offset")
        .agg(pl.col("cohort_size").sum(), pl.col("retained").sum())
        .with_columns(rate=_rate("retained", "cohort_size"))
        .sort(*keys, "period_offset")
    )


@metric("retention", ["cohort", "period_offset", "cohort_size", "retained", "rate"], options=RETENTION_OPTIONS, area="retention")
def retention(store, q: Query) -> pl.DataFrame:
    """Of the users in each cohort, the share active again N periods later.

    A cohort is the period of a user's first activity ever (mode=first_time: a user first
    active before the range is in no cohort of it) or every period a user was active in
    (mode=recurring). Filters narrow the activity first: with device_type=mobile a
    first_time cohort is the period of the user's first mobile activity. retained counts
    members active in period cohort + offset (cumulative=true: in that period or any later
    one up to the range's end). Every period of the range is a cohort, empty ones with size
    0 and no rate; offsets 0 … N-1 appear only where cohort + offset is not after the
    range's last period.
    """
    matrix = _matrix(q, _cohort_counts(store, q), [])
    return matrix.with_columns(rate=_rate("retained", "cohort_size")).sort("cohort", "period_offset")


@metric("retention_curve", ["period_offset", "cohort_size", "retained", "rate"], options=RETENTION_OPTIONS, area="retention")
def retention_curve(store, q: Query) -> pl.DataFrame:
    """The share of cohort members active N periods later, over all cohorts that reach that far.

    Σretained / Σcohort_size of the retention matrix per offset, over the cohorts where
    the offset is observable; an offset no cohort of the range reaches is absent.
    """
    return _summed(_matrix(q, _cohort_counts(store, q), []), [])


TOP = Option("top", "int", 0, "keep the N groups with the most members and merge the rest into \"Other\" (0: every group)",
             minimum=0, maximum=1000)
OTHER = "Other"


def _top_groups(counts: pl.DataFrame, top: int) -> pl.DataFrame:
    """counts with every group but the `top` largest (members of the range's cohorts; ties by
    name) merged into one group "Other". Groups are disjoint, so their counts add up exactly."""
    sizes = counts.filter(pl.col("period_offset") == 0).group_by("value").agg(pl.col("retained").sum())
    kept = sizes.sort(["retained", "value"], descending=[True, False]).head(top)["value"]
    if sizes.height <= top:
        return counts
    return (
        counts.with_columns(value=pl.when(pl.col("value").is_in(kept.implode())).then(pl.col("value")).otherwise(pl.lit(OTHER)))
        .group_by("value", "cohort", "period_offset").agg(pl.col("retained").sum())
    )


@metric("retention_by", ["value", "period_offset", "cohort_size", "retained", "rate"],
        options=(DIMENSION, TOP, *RETENTION_OPTIONS), area="retention")
def retention_by(store, q: Query) -> pl.DataFrame:
    """The retention curve of each group of users, split by plan, country, first device or sign-in provider.

    plan, country and auth_provider come from the user's profile; device_type is the
    device of the user's first session (its first event that names one). Users without
    the attribute form the group "Unknown". Each group's curve is computed like
    retention_curve over its own members; a group appears when it has a member in a
    cohort of the range. With top=N, the N groups with the most members stay and the rest
    form one group "Other", so a chart has at most N + 1 lines.
    """
    counts = _cohort_counts(store, q, q.opt("dimension"))
    if q.opt("top"):
        counts = _top_groups(counts, q.opt("top"))
    return _summed(_matrix(q, counts, ["value"]), ["value"])


@metric("day_n_retention", ["cohort", "cohort_size", *[f"day_{n}" for n in DAY_N]], options=(EVENT_TYPE,), area="retention")
def day_n_retention(store, q: Query) -> pl.DataFrame:
    """Of the users first active on each day, the share active again exactly 1, 7, 14, 30, 60 and 90 days later.

    Cohorts are the days from --start to --end whatever the interval; day_N is empty when
    the cohort day + N is after --end (not yet observable) or the cohort is empty.
    """
    days, params = active_days(q)
    firsts, ever_params = first_active_days(store, q)
    counts = ", ".join(f"count(*) FILTER (WHERE n = {n}) AS day_{n}" for n in DAY_N)
    wanted = ", ".join(str(n) for n in (0, *DAY_N))
    out = store.fetch(
        f"""
        WITH members AS (SELECT user_id, first_day AS cohort FROM {firsts}),
        hits AS (
            SELECT m.cohort, date_diff('day', m.cohort, a.day) AS n
            FROM members m JOIN {days} a ON a.user_id = m.user_id AND date_diff('day', m.cohort, a.day) IN ({wanted})
        )
        SELECT cohort, count(*) FILTER (WHERE n = 0) AS cohort_size, {counts} FROM hits GROUP BY cohort
        """,
        {**params, **ever_params, "start": q.start, "end": q.end, "since": SINCE},
    )
    counted = out.cast({"cohort": pl.Date})
    out = fill_periods(replace(q, interval="day").periods(), counted, [c for c in out.columns if c != "cohort"], "cohort")
    return out.with_columns(
        pl.when(pl.col("cohort") + timedelta(days=n) <= q.end).then(_rate(f"day_{n}", "cohort_size")).alias(f"day_{n}")
        for n in DAY_N
    )


@metric("churn", ["period", "active_previous", "churned", "churn_rate"], options=(EVENT_TYPE,), area="retention")
def churn(store, q: Query) -> pl.DataFrame:
    """Of the users active in the previous period, the share not active in this one.

    The first period's previous period lies before the range; its activity is read too.
    """
    periods, interval = q.periods(), q.interval
    activity, params = _activity_sql(q, _user_count(store))
    following = shift_sql("a.period", interval, 1)
    out = store.fetch(
        f"""
        WITH {activity}
        SELECT {following} AS period, bitmap_count(a.users) AS active_previous,
               bitmap_count(a.users) - coalesce(bitmap_count(bitmap_and(a.users, b.users)), 0) AS churned
        FROM activity a LEFT JOIN activity b ON b.period = {following}
        WHERE a.period < $last
        """,
        {**params, "start": previous_period(periods[0], interval), "end": q.range_end, "last": periods[-1]},
    )
    out = fill_periods(periods, out.cast({"period": pl.Date}), ("active_previous", "churned"))
    return out.with_columns(churn_rate=_rate("churned", "active_previous"))


@metric("lifetime", ["users", "avg_lifetime_days", "median_lifetime_days"], options=(INACTIVE_DAYS, EVENT_TYPE), area="retention")
def lifetime(store, q: Query) -> pl.DataFrame:
    """How many days lie between the first and the last activity of users who have gone quiet.

    Over users whose last activity up to --end is more than inactive_days (default 30)
    days before --end, whenever they started: last activity day − first activity day.
    --start does not narrow it; averages are empty when no user has gone quiet.
    """
    days, params = active_days(q, "$since", "$end")
    out = store.fetch(
        f"""
        SELECT count(*) AS users, avg(lifetime) AS avg_lifetime_days, quantile_cont(lifetime, 0.5) AS median_lifetime_days
        FROM (SELECT user_id, date_diff('day', min(day), max(day)) AS lifetime FROM {days}
              GROUP BY user_id HAVING max(day) < $cutoff)
        """,
        {**params, "since": SINCE, "end": q.end, "cutoff": q.end - timedelta(days=q.opt("inactive_days"))},
    )
    return out.cast({"users": pl.Int64, "avg_lifetime_days": pl.Float64, "median_lifetime_days": pl.Float64})


def at_risk_windows(q: Query) -> dict[str, tuple[date, date]]:
    """The two 14-day windows (first day, last day) that at_risk_users compares, ending on --end."""
    return {"prev_14": (q.end - timedelta(days=27), q.end - timedelta(days=14)),
            "last_14": (q.end - timedelta(days=13), q.end)}


def at_risk_sql(q: Query) -> tuple[str, Params]:
    """A relation (user_id, active_days_prev_14, active_days_last_14, last_seen) of the users
    at risk as of --end: fewer than half as many active days in the last 14 days as in the 14
    before (at_risk_windows), after filters; last_seen is their last active day up to --end."""
    days, params = active_days(q, "$ar_first", "$ar_end")
    windows = at_risk_windows(q)
    sql = f"""(
        SELECT * FROM (
            SELECT user_id, count(*) FILTER (WHERE day <= $ar_prev_end) AS active_days_prev_14,
                   count(*) FILTER (WHERE day > $ar_prev_end) AS active_days_last_14, max(day) AS last_seen
            FROM {days} GROUP BY user_id
        ) WHERE 2 * active_days_last_14 < active_days_prev_14
    )"""
    return sql, {**params, "ar_first": windows["prev_14"][0], "ar_prev_end": windows["prev_14"][1], "ar_end": q.end}


@metric("at_risk_users", ["user_id", "email", "plan", "mrr", "last_seen", "active_days_prev_14", "active_days_last_14"],
        options=(EVENT_TYPE,), area="retention")
def at_risk_users(store, q: Query) -> pl.DataFrame:
    """Users whose active days in the last 14 days up to the end date fell below half of those in the 14 days before.

    The 28 days end on --end (--start and the interval do not matter): prev_14 is
    --end-27 … --end-14, last_14 is --end-13 … --end.
    mrr is the user's MRR at the end of --end (0 without a subscription), last_seen their
    last active day up to --end, plan their current plan. Sorted by mrr, then
    active_days_prev_14, descending (ties by user_id).
    """
    at_risk, params = at_risk_sql(q)
    mrr_sql, mrr_params = mrr_at_sql(q)
    out = store.fetch(
        f"""
        SELECT c.user_id, p.email, p.plan, {money('coalesce(m.mrr, 0)')} AS mrr, c.last_seen,
               c.active_days_prev_14, c.active_days_last_14
        FROM {at_risk} c
        LEFT JOIN people p USING (user_id)
        LEFT JOIN ({mrr_sql}) m USING (user_id)
        ORDER BY mrr DESC, active_days_prev_14 DESC, user_id
        """,
        {**params, **mrr_params, "at": end_of_day_utc(q.end, store.timezone)},
    )
    return out.cast({"mrr": MONEY_DTYPE, "last_seen": pl.Date, "active_days_prev_14": pl.Int64, "active_days_last_14": pl.Int64})
