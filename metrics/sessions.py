"""Sessions: how many, how long, how many bounced, and on what (METRICS.md "Sessions").

A session belongs to the local day, and so the period, of its first event. The metrics read
the derived `sessions` table, which the store cut with its own timeout when it loaded. Asked
for another timeout, or filtered to one device (a filter restricts the events before the
sessions are cut), they cut sessions from the raw events with the same SQL
(pulse.derived.sessions_select), which is exact but slower.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from metrics.base import Params, event_scope, user_scope
from metrics.registry import Option, metric
from pulse.derived import sessions_select
from pulse.measures import NOT_SET, mean_seconds, rate
from pulse.periods import fill_periods, local_midnight_utc, trunc_sql
from pulse.query import Query

SESSION_TIMEOUT = Option(
    "session_timeout_minutes", "int", None, "minutes of inactivity after which the next event starts a new session",
    minimum=1, maximum=24 * 60, setting="session_timeout",
)

# (label, upper bound in seconds, exclusive) in METRICS.md's order; each bucket starts where
# the one before it ends.
LENGTH_BUCKETS = (("0-30s", 30), ("30s-2m", 120), ("2m-5m", 300), ("5m-15m", 900), ("15m-30m", 1800), ("30m+", None))

BREAKDOWN_DIMENSIONS = ("device_type", "browser", "os", "country")


def built_timeout(store) -> int:
    """The timeout the store's derived sessions table was cut with (its load's setting)."""
    return int(store.scalar("SELECT value FROM meta WHERE key = 'session_timeout'"))


def session_rows(store, q: Query, first: date, last: date) -> tuple[str, Params]:
    """A relation with the derived sessions table's columns: the sessions, after filters, whose
    first event falls on a local day in [first, last].

    Cut from raw events, the events start one timeout before `first` begins: any event on or
    after `first` then sees the event before it, so sessions that began earlier are cut as
    they were and dropped, and sessions that began inside are whole. Events after `last` are
    all kept, so a session running past the end keeps its true length.
    """
    timeout = q.opt(SESSION_TIMEOUT.name)
    if q.filter("device_type") is None and timeout == built_timeout(store):
        users, params = user_scope(q, "user_id")
        return f"(SELECT * FROM sessions WHERE day BETWEEN $s_first AND $s_last AND {users})", {
            **params, "s_first": first, "s_last": last}
    scope, params = event_scope(q)
    cut = sessions_select(timeout, f"events.ts >= $s_from AND {scope}")
    return f"(SELECT * FROM ({cut}) WHERE day BETWEEN $s_first AND $s_last)", {
        **params,
        "s_first": first,
        "s_last": last,
        "s_from": local_midnight_utc(first, store.timezone) - timedelta(minutes=timeout),
    }


@metric(
    "sessions",
    ["period", "sessions", "users", "sessions_per_user", "avg_duration_s", "median_duration_s", "bounce_rate"],
    options=(SESSION_TIMEOUT,),
    area="activity",
)
def sessions(store, q: Query) -> pl.DataFrame:
    """Sessions per period of their first event, the users who had them, their average and median length, and the share that were one event long (bounces)."""
    rows, params = session_rows(store, q, q.range_start, q.range_end)
    out = store.fetch(
        f"""
        SELECT {trunc_sql('day', q.interval)} AS period, count(*) AS sessions, count(DISTINCT user_id) AS users,
               {rate('count(*)', 'count(DISTINCT user_id)')} AS sessions_per_user,
               {mean_seconds('duration_s')} AS avg_duration_s,
               quantile_cont(duration_s, 0.5) AS median_duration_s,
               {rate('count(*) FILTER (WHERE events = 1)', 'count(*)')} AS bounce_rate
        FROM {rows} GROUP BY ALL
        """,
        params,
    )
    return fill_periods(q.periods(), out, ("sessions", "users"))


@metric("session_length_distribution", ["bucket", "sessions"], options=(SESSION_TIMEOUT,), area="activity")
def session_length_distribution(store, q: Query) -> pl.DataFrame:
    """Sessions in the range by length (last event − first event): under 30 s, 30 s–2 min, 2–5 min, 5–15 min, 15–30 min, 30 min and more."""
    rows, params = session_rows(store, q, q.range_start, q.range_end)
    cases = " ".join(f"WHEN duration_s < {upper} THEN {i}" for i, (_, upper) in enumerate(LENGTH_BUCKETS) if upper)
    counts = store.fetch(
        f"SELECT CASE {cases} ELSE {len(LENGTH_BUCKETS) - 1} END AS bucket_no, count(*) AS sessions "
        f"FROM {rows} GROUP BY ALL",
        params,
    )
    buckets = pl.DataFrame(
        {"bucket_no": range(len(LENGTH_BUCKETS)), "bucket": [label for label, _ in LENGTH_BUCKETS]},
        schema={"bucket_no": counts.schema["bucket_no"], "bucket": pl.String},
    )
    return (
        buckets.join(counts, on="bucket_no", how="left")
        .select("bucket", pl.col("sessions").fill_null(0).cast(pl.Int64))
    )


# Per dimension: the column events and sessions carry it in, and the value of a row (alias r)
# that has that column as `raw`, where p is the user's profile.
BREAKDOWN_VALUES = {
    "device_type": ("device_type", "r.raw::VARCHAR"),
    "browser": ("browser", "r.raw"),
    "os": ("os", "r.raw"),
    "country": ("country_code", "coalesce(r.raw, p.country)"),
}


@metric(
    "breakdown",
    ["dimension", "value", "users", "sessions", "events"],
    options=(
        Option("dimension", "choice", "device_type", "what to break activity down by", BREAKDOWN_DIMENSIONS),
        SESSION_TIMEOUT,
    ),
    area="activity",
)
def breakdown(store, q: Query) -> pl.DataFrame:
    """Users, sessions and events in the range by device type, browser, OS or country (the event's country, else the user's); a session counts under the value of its first event."""
    dimension = q.opt("dimension")
    column, value = BREAKDOWN_VALUES[dimension]
    profile = "LEFT JOIN people p ON p.user_id = r.user_id" if dimension == "country" else ""
    scope, params = event_scope(q, "e")
    rows, session_params = session_rows(store, q, q.range_start, q.range_end)
    # Events are first counted per (raw value, user): a plain group-by that runs in parallel,
    # where a distinct count per value over every event does not.
    out = store.fetch(
        f"""
        WITH per_user AS (
            SELECT e.{column} AS raw, e.user_id, count(*) AS events FROM events e
            WHERE e.day BETWEEN $start AND $end AND {scope}
            GROUP BY 1, 2
        ),
        by_event AS (
            SELECT coalesce({value}, $not_set) AS value, count(DISTINCT r.user_id) AS users, sum(r.events) AS events
            FROM per_user r {profile}
            GROUP BY 1
        ),
        by_session AS (
            SELECT coalesce({value}, $not_set) AS value, count(*) AS sessions
            FROM (SELECT user_id, {column} AS raw FROM {rows}) r {profile}
            GROUP BY 1
        )
        SELECT $dimension AS dimension, value, coalesce(users, 0) AS users, coalesce(sessions, 0) AS sessions,
               coalesce(events, 0) AS events
        FROM by_event FULL JOIN by_session USING (value)
        ORDER BY users DESC, value
        """,
        {**params, **session_params, "start": q.range_start, "end": q.range_end, "not_set": NOT_SET, "dimension": dimension},
    )
    return out.cast({"dimension": pl.String, "value": pl.String, "users": pl.Int64, "sessions": pl.Int64, "events": pl.Int64})
