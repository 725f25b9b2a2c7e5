"""Activity: who is active, how often, who is new, returning or gone, and when in the week
they use the product (METRICS.md "Activity")."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import polars as pl

from metrics.base import active_days, event_scope, user_scope, weekday_hours_sql, whole_days
from metrics.registry import EVENT_TYPE, LIMIT, OFFSET, Option, metric
from metrics.sessions import SESSION_TIMEOUT, session_rows
from pulse.measures import local_day, mean_seconds, rate
from pulse.periods import fill_periods, period_end, period_start, previous_period, shift_sql, trunc_sql
from pulse.query import Query
from pulse.schema import EVENT_TYPES

# The rolling windows of dau_wau_mau, in days.
ROLLING = {"dau": 1, "wau": 7, "mau": 30}
# Engagement averages stickiness over this many trailing days.
ENGAGEMENT_DAYS = 7


@metric("active_users", ["period", "active_users"], options=(EVENT_TYPE,), area="activity")
def active_users(store, q: Query) -> pl.DataFrame:
    """Distinct users with at least one event, per period."""
    if q.interval == "day" and not q.filters and not q.scope and whole_days(store, q):
        # Unfiltered days: the load counted each day's users once (day_users).
        out = store.fetch("SELECT day AS period, users AS active_users FROM day_users WHERE day BETWEEN $start AND $end",
                          {"start": q.range_start, "end": q.range_end})
        return fill_periods(q.periods(), out, ("active_users",))
    days, params = active_days(q)
    # active_days has one row per user and day: a day's rows are already its distinct users.
    users = "count(*)" if q.interval == "day" else "count(DISTINCT user_id)"
    out = store.fetch(
        f"SELECT {trunc_sql('day', q.interval)} AS period, {users} AS active_users "
        f"FROM {days} GROUP BY ALL",
        {**params, "start": q.range_start, "end": q.range_end},
    )
    return fill_periods(q.periods(), out, ("active_users",))


def rolling_active(store, q: Query, windows: dict[str, int]) -> tuple[str, dict]:
    """SQL for (date, <name> per window): distinct users active in [d - w + 1, d] for each
    day d of the range.

    A user is counted on day d through their latest active day a <= d, for as long as
    d - a < w. So each user-day a, whose user is next active g days later, counts on the days
    [a, a + min(g, w) - 1]: +1 at a, -1 at a + min(g, w), and a running sum over the calendar
    gives the counts. One window function over user-days finds every g; everything after
    works on (day, g) pairs, whatever the number of users or windows (a join of every
    user-day to w target days does not scale).
    """
    widest = max(windows.values())
    # Without a device or event-type filter every user-day counts, and the next active day the
    # load kept on each is the one a window over the user-days would find.
    kept = whole_days(store, q)
    days, params = active_days(q, f"CAST($start AS DATE) - {widest - 1}", "$end", next_day=kept)
    following = "next_day" if kept else "lead(day) OVER (PARTITION BY user_id ORDER BY day)"
    counts = []
    for name, w in windows.items():
        counts.append(f"""
        {name}_counts AS (
            SELECT c.day, sum(coalesce(d.delta, 0)) OVER (ORDER BY c.day) AS {name}
            FROM calendar c LEFT JOIN (
                SELECT day, sum(delta) AS delta FROM (
                    SELECT day, users AS delta FROM spans
                    UNION ALL
                    SELECT CAST(day + least(gap, {w}) AS DATE) AS day, -users AS delta FROM spans
                ) GROUP BY day
            ) d USING (day)
        )""")
    select = ", ".join(f"CAST({name}_counts.{name} AS BIGINT) AS {name}" for name in windows)
    joins = " ".join(f"JOIN {name}_counts USING (day)" for name in windows)
    # active_days gives each (user, day) once; a user's last day in it has no next day here,
    # and any gap of `widest` days or more ends every window alike.
    sql = f"""
    WITH gaps AS (
        SELECT day, CAST(least(coalesce(date_diff('day', day, {following}), {widest}), {widest}) AS INTEGER) AS gap
        FROM {days}
    ),
    spans AS (SELECT day, gap, count(*) AS users FROM gaps GROUP BY day, gap),
    calendar AS (
        SELECT CAST(range AS DATE) AS day
        FROM range(CAST($start AS DATE) - {widest - 1}, CAST($end AS DATE) + 1, INTERVAL 1 DAY)
    ),
    {",".join(counts)}
    SELECT calendar.day AS date, {select}
    FROM calendar {joins}
    WHERE calendar.day BETWEEN $start AND $end
    ORDER BY date
    """
    return sql, {**params, "start": q.start, "end": q.end}


@metric("dau_wau_mau", ["date", "dau", "wau", "mau", "stickiness"], options=(EVENT_TYPE,), area="activity")
def dau_wau_mau(store, q: Query) -> pl.DataFrame:
    """Per day: users active that day, in the last 7 days and in the last 30 days, and stickiness (DAU ÷ MAU)."""
    sql, params = rolling_active(store, q, ROLLING)
    out = store.fetch(f"SELECT *, {rate('dau', 'mau')} AS stickiness FROM ({sql})", params)
    return out


@metric("new_users", ["period", "new_users", "cumulative_users"], area="activity")
def new_users(store, q: Query) -> pl.DataFrame:
    """Users whose signup falls in each period, and all users signed up by its end."""
    users, params = user_scope(q, devices=True)
    params = {**params, "start": q.range_start, "end": q.range_end}
    counts = store.fetch(
        f"SELECT {trunc_sql('signup_day', q.interval)} AS period, count(*) AS new_users FROM people "
        f"WHERE signup_day BETWEEN $start AND $end AND {users} GROUP BY ALL",
        params,
    )
    before = store.scalar(f"SELECT count(*) FROM people WHERE signup_day < $start AND {users}", params)
    out = fill_periods(q.periods(), counts, ("new_users",))
    return out.with_columns(cumulative_users=(pl.col("new_users").cum_sum() + before).cast(pl.Int64))


def lifecycle_statuses(q: Query, first: date, last: date) -> tuple[str, dict]:
    """A relation (user_id, period, status) for the periods first..last (period starts).

    A user active in p is `new` if p is their signup period, else `returning` if they were
    active in p - 1, else `resurrecting`; a user active in p - 1 and not in p is `dormant` in
    p. One pass over each user's active periods in order: the previous and next active
    period say the rest.
    """
    interval = q.interval
    days, params = active_days(q, "$lc_from", "$lc_to")
    previous, following = shift_sql("period", interval, -1), shift_sql("period", interval, 1)
    sql = f"""
    WITH active AS (SELECT DISTINCT user_id, {trunc_sql('day', interval)} AS period FROM {days}),
    marked AS (
        SELECT a.user_id, a.period, {trunc_sql('p.signup_day', interval)} AS signup_period,
               lag(a.period) OVER w AS previous_active, lead(a.period) OVER w AS next_active
        FROM active a LEFT JOIN people p ON p.user_id = a.user_id
        WINDOW w AS (PARTITION BY a.user_id ORDER BY a.period)
    )
    SELECT user_id, period,
           CASE WHEN signup_period = period THEN 'new'
                WHEN previous_active = {previous} THEN 'returning'
                ELSE 'resurrecting' END AS status
    FROM marked WHERE period BETWEEN $lc_first AND $lc_last
    UNION ALL
    SELECT user_id, {following} AS period, 'dormant' AS status
    FROM marked WHERE next_active IS DISTINCT FROM {following} AND {following} BETWEEN $lc_first AND $lc_last
    """
    return f"({sql})", {
        **params,
        "lc_from": previous_period(first, interval),
        "lc_to": period_end(last, interval),
        "lc_first": first,
        "lc_last": last,
    }


@metric("lifecycle", ["period", "new", "returning", "resurrecting", "dormant"], options=(EVENT_TYPE,), area="activity")
def lifecycle(store, q: Query) -> pl.DataFrame:
    """Active users per period split into new (signed up in it), returning (active the period before) and resurrecting (back after a gap), and dormant: active the period before but not in this one."""
    statuses, params = lifecycle_statuses(q, q.range_start, q.range_end)
    out = store.fetch(
        f"""
        SELECT period, count(*) FILTER (WHERE status = 'new') AS "new",
               count(*) FILTER (WHERE status = 'returning') AS returning,
               count(*) FILTER (WHERE status = 'resurrecting') AS resurrecting,
               count(*) FILTER (WHERE status = 'dormant') AS dormant
        FROM {statuses} GROUP BY period
        """,
        params,
    )
    return fill_periods(q.periods(), out, ("new", "returning", "resurrecting", "dormant"))


USER_KINDS = ("active", "new", "returning", "resurrecting", "dormant")


@metric(
    "active_user_list",
    ["user_id", "email", "plan", "country", "last_seen"],
    options=(
        Option("period", "date", None, "the period to list (a date in it); default the range's last period"),
        Option("kind", "choice", "active", "which users of that period", USER_KINDS),
        EVENT_TYPE,
    ),
    area="activity",
)
def active_user_list(store, q: Query) -> pl.DataFrame:
    """The users behind a point of the active users or lifecycle chart: those active (or new, returning, resurrecting, dormant) in one period, with the local day they were last seen."""
    chosen = q.opt("period")
    period = period_start(chosen, q.interval) if chosen is not None else q.periods()[-1]
    kind = q.opt("kind")
    statuses, params = lifecycle_statuses(q, period, period)
    wanted = USER_KINDS[1:4] if kind == "active" else (kind,)
    return store.fetch(
        f"""
        SELECT s.user_id, p.email, p.plan, p.country,
               {local_day('p.last_seen')} AS last_seen
        FROM {statuses} s LEFT JOIN people p ON p.user_id = s.user_id
        WHERE s.status IN (SELECT unnest(CAST($kinds AS VARCHAR[])))
        ORDER BY s.user_id
        """,
        {**params, "kinds": list(wanted), "tz": store.timezone},
    )


# Over rolling_active's rows in date order: 100 × stickiness, averaged over each day and the
# days before it (days without monthly users have no stickiness and are left out).
ENGAGEMENT_SQL = f"100 * avg({rate('dau', 'mau')}) OVER (ORDER BY date ROWS {ENGAGEMENT_DAYS - 1} PRECEDING)"


@metric("engagement", ["date", "engagement_score"], options=(EVENT_TYPE,), area="activity")
def engagement(store, q: Query) -> pl.DataFrame:
    """Per day: 100 × stickiness (DAU ÷ MAU), averaged over that day and the six before it."""
    sql, params = rolling_active(store, replace(q, start=q.start - timedelta(days=ENGAGEMENT_DAYS - 1)), ROLLING)
    return store.fetch(
        f"""
        SELECT date, engagement_score FROM (
            SELECT date, {ENGAGEMENT_SQL} AS engagement_score FROM ({sql})
        ) WHERE date >= $first ORDER BY date
        """,
        {**params, "first": q.start},
    )


@metric("activity_heatmap", ["weekday", "hour", "events"], options=(EVENT_TYPE,), area="activity")
def activity_heatmap(store, q: Query) -> pl.DataFrame:
    """Events in the range by local weekday (0 = Monday) and hour of day."""
    scope, params = event_scope(q, "e")
    return store.fetch(
        weekday_hours_sql(f"SELECT e.day, e.hour FROM events e WHERE e.day BETWEEN $start AND $end AND {scope}"),
        {**params, "start": q.range_start, "end": q.range_end},
    )


ACTIVITY_KPIS = ("dau", "wau", "mau", "engagement_score", "sessions", "avg_duration_s", "bounce_rate")


@metric("activity_kpis", ["kpi", "value", "previous", "change"], options=(SESSION_TIMEOUT,), area="activity")
def activity_kpis(store, q: Query) -> pl.DataFrame:
    """Averages over the range's days of DAU, WAU, MAU and engagement, and the range's sessions, average session length and bounce rate, against the previous range of equal length."""
    before = q.previous()
    rolling, rolling_params = rolling_active(store, replace(q, start=before.start - timedelta(days=ENGAGEMENT_DAYS - 1)), ROLLING)
    rows, session_params = session_rows(store, q, before.start, q.end)
    daily, per_session = [], []
    for half, (first, last) in {"now": ("$k_start", "$k_end"), "before": ("$k_before_start", "$k_before_end")}.items():
        on_days = f"FILTER (WHERE date BETWEEN {first} AND {last})"
        daily += [f"avg({name}) {on_days} AS {name}_{half}" for name in ROLLING]
        daily.append(f"avg(engagement) {on_days} AS engagement_score_{half}")
        in_half = f"day BETWEEN {first} AND {last}"
        bounces, started = f"count(*) FILTER (WHERE {in_half} AND events = 1)", f"count(*) FILTER (WHERE {in_half})"
        per_session += [f"{started} AS sessions_{half}", f"{mean_seconds('duration_s', in_half)} AS avg_duration_s_{half}",
                        f"{rate(bounces, started)} AS bounce_rate_{half}"]
    row = store.fetch(
        f"""
        WITH daily AS (
            SELECT *, {ENGAGEMENT_SQL} AS engagement FROM ({rolling})
        )
        SELECT * FROM (SELECT {", ".join(daily)} FROM daily)
        CROSS JOIN (SELECT {", ".join(per_session)} FROM {rows})
        """,
        {**rolling_params, **session_params, "k_start": q.start, "k_end": q.end,
         "k_before_start": before.start, "k_before_end": before.end},
    ).row(0, named=True)
    now = [None if row[f"{k}_now"] is None else float(row[f"{k}_now"]) for k in ACTIVITY_KPIS]
    previous = [None if row[f"{k}_before"] is None else float(row[f"{k}_before"]) for k in ACTIVITY_KPIS]
    return pl.DataFrame(
        {
            "kpi": list(ACTIVITY_KPIS),
            "value": now,
            "previous": previous,
            "change": [(v - p) / p if v is not None and p else None for v, p in zip(now, previous)],
        },
        schema={"kpi": pl.String, "value": pl.Float64, "previous": pl.Float64, "change": pl.Float64},
    )


EVENT_COLUMNS = ("event_id", "user_id", "ts", "event_type", "event_name", "page_path", "device_type", "browser", "os",
                 "country_code", "referrer")


def events_rows(store, q: Query) -> tuple[str, dict]:
    """The statement of events_list (its rows, in order), which an export streams."""
    scope, params = event_scope(q, "e")
    sql = f"""
        SELECT e.event_id, e.user_id, e.ts, e.event_type::VARCHAR AS event_type, e.event_name, e.page_path,
               e.device_type::VARCHAR AS device_type, e.browser, e.os, e.country_code, e.referrer
        FROM events e
        WHERE e.day BETWEEN $start AND $end AND {scope}
        ORDER BY e.ts DESC, e.event_id DESC
        {f"LIMIT {int(q.opt('limit'))}" if q.opt("limit") else ""} OFFSET {int(q.opt("offset"))}
        """
    return sql, {**params, "start": q.range_start, "end": q.range_end}


@metric(
    "events_list",
    list(EVENT_COLUMNS),
    options=(
        Option("event_type", "choice", None, "only events of this type", EVENT_TYPES,
               invalid=EVENT_TYPE.invalid),
        LIMIT,
        OFFSET,
    ),
    area="activity",
    rows=events_rows,
)
def events_list(store, q: Query) -> pl.DataFrame:
    """Events in the range, newest first, filtered and paged (the events explorer).

    ts is UTC, as stored; events at the same instant are ordered by event_id, highest first.
    """
    return store.fetch(*events_rows(store, q))
