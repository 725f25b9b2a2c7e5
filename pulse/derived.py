"""SQL for the tables the store derives from the input tables on every load.

Pages read these instead of raw events wherever they give the same answer: one row per
(user, local day), one per (user, day, feature used), one per session, one per user. They are computed inside the
load's private copy of the store, so readers only ever see them consistent with the input
tables they came from.

A load recomputes only what it touched (`update`): the user-days and feature-days of the
(user, day) pairs its new events fall on; each touched user's sessions from the session a new event could
join on (the last one starting at or before the user's earliest new event — a later event
can only extend, merge or split what follows it); the people rows of every user with a new
or changed row in any table. Everything else is kept, so a load costs what arrived, not the
whole store. `build` recomputes everything (a new store, a timezone or session-timeout
change, an erasure, `pulse rebuild`), and a test holds any sequence of loads to equal it.

Events at the same instant are ordered by event_id wherever order matters (a session's entry
page, its path), so the result does not depend on the order rows were stored in.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl

from pulse.measures import local_day
from pulse.schema import DEVICE_TYPES, EVENT_TYPES, FIRST_DAY, LAST_DAY

# Bit i of user_days.event_types is set when the user had an event of EVENT_TYPES[i] that day;
# likewise devices for DEVICE_TYPES, with the last bit for events with no device_type.
EVENT_TYPE_BIT = {name: 1 << i for i, name in enumerate(EVENT_TYPES)}
DEVICE_BIT = {name: 1 << i for i, name in enumerate(DEVICE_TYPES)}
NO_DEVICE_BIT = 1 << len(DEVICE_TYPES)


def _bit_case(column: str, bits: dict[str, int], default: int) -> str:
    whens = " ".join(f"WHEN '{name}' THEN {bit}" for name, bit in bits.items())
    return f"CASE {column}::VARCHAR {whens} ELSE {default} END"


def user_days_select(where: str = "TRUE") -> str:
    """One row per (user, local day) with events: their count, and bit masks of the event types
    and devices seen (`where` narrows the events first). next_day, the user's next active day,
    is filled in by next_days."""
    return f"""
    SELECT user_id, day, count(*)::INTEGER AS events,
           bit_or({_bit_case('event_type', EVENT_TYPE_BIT, 0)})::INTEGER AS event_types,
           bit_or({_bit_case('device_type', DEVICE_BIT, NO_DEVICE_BIT)})::INTEGER AS devices,
           NULL::DATE AS next_day
    FROM events WHERE {where}
    GROUP BY user_id, day
    ORDER BY day, user_id"""


def user_days_of(first: str = f"DATE '{FIRST_DAY}'", last: str = f"DATE '{LAST_DAY}'") -> str:
    """The user-days from day `first` to `last` (SQL expressions; by default every day) with
    their next days: the next active day within them, else the user's first active day after
    them (from events). A whole build is every day; a load that adds days fixes the next days
    of the users it touched with next_days (DuckDB) or rewrites their months (ClickHouse)."""
    return f"""
    SELECT u.user_id, u.day, u.events, u.event_types, u.devices,
           coalesce(lead(u.day) OVER (PARTITION BY u.user_id ORDER BY u.day), a.first_after) AS next_day
    FROM ({user_days_select(f"day BETWEEN {first} AND {last}")}) u
    LEFT JOIN (SELECT user_id, min(day) AS first_after FROM events WHERE day > {last} GROUP BY user_id) a
        USING (user_id)
    ORDER BY u.day, u.user_id"""


def feature_days_select(where: str = "TRUE") -> str:
    """One row per (user, local day, feature used): its uses; and, for the feature's category,
    the time of the day's latest use that carried properties (described_at) with that use's
    `category` ('' when its properties have none; NULL when no use that day had properties)."""
    return f"""
    SELECT user_id, day, event_name AS feature, count(*)::INTEGER AS uses,
           max(ts) FILTER (WHERE properties IS NOT NULL) AS described_at,
           -- the category of each use, not its whole properties, is what the aggregate holds
           arg_max(coalesce(json_extract_string(properties, '$.category'), ''), ts)
               FILTER (WHERE properties IS NOT NULL) AS category
    FROM events WHERE event_type = 'feature_use' AND event_name IS NOT NULL AND {where}
    GROUP BY user_id, day, event_name
    ORDER BY day, user_id, feature"""


def next_days(con, users: str = "TRUE") -> None:
    """Each user-day's next_day, the user's next active day (for rolling active users, which
    then need no window over user-days), for the users `users` selects (a condition on user_id)."""
    con.execute(f"""
    UPDATE user_days u SET next_day = n.next_day
    FROM (SELECT user_id, day, lead(day) OVER (PARTITION BY user_id ORDER BY day) AS next_day
          FROM user_days WHERE {users}) n
    WHERE u.user_id = n.user_id AND u.day = n.day AND u.next_day IS DISTINCT FROM n.next_day""")


def duration_sql(start: str, end: str) -> str:
    """SQL for a session's length in seconds, to the microsecond."""
    return f"(epoch_us({end}) - epoch_us({start})) / 1000000.0"


def _session_steps(timeout_minutes: int, where: str) -> list[tuple[str, str]]:
    """The sessionising steps as (name, SELECT) pairs; each reads the ones before it.

    The window passes run over narrow rows (event id, user, time) and the wide columns are
    joined back once by event id (unique; DuckDB's rowid would be quicker but ClickHouse has
    none): sorting whole event rows through several windows cost ~2x at 10M.
    """
    timeout = int(timeout_minutes)
    return [
        ("flags", f"""
    SELECT event_id, user_id, ts,
           CASE WHEN ts <= lag(ts) OVER (PARTITION BY user_id ORDER BY ts, event_id) + INTERVAL {timeout} MINUTE
                THEN 0 ELSE 1 END AS starts
    FROM events WHERE {where}"""),
        ("numbers", """
    SELECT event_id, sum(starts) OVER (PARTITION BY user_id ORDER BY ts, event_id
                                  ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)::INTEGER AS session_no
    FROM flags"""),
        ("numbered", """
    SELECT e.user_id, n.session_no, e.ts, event_id, e.day, e.event_type, e.page_path,
           e.device_type, e.browser, e.os, e.country_code
    FROM events e JOIN numbers n USING (event_id)"""),
        ("pages", """
    SELECT user_id, session_no, ts, event_id, page_path,
           lag(page_path) OVER (PARTITION BY user_id, session_no ORDER BY ts, event_id) AS prev_page
    FROM numbered WHERE event_type = 'page_view' AND page_path IS NOT NULL"""),
        ("steps", """
    SELECT user_id, session_no, page_path,
           row_number() OVER (PARTITION BY user_id, session_no ORDER BY ts, event_id) AS step
    FROM pages WHERE prev_page IS NULL OR prev_page <> page_path"""),
        ("paths", """
    SELECT user_id, session_no, string_agg(page_path, ' > ' ORDER BY step) AS path
    FROM steps WHERE step <= 5 GROUP BY user_id, session_no"""),
        ("ends", """
    SELECT user_id, session_no, arg_min(page_path, (ts, event_id)) AS entry_page,
           arg_max(page_path, (ts, event_id)) AS exit_page, count(*)::INTEGER AS page_views
    FROM pages GROUP BY user_id, session_no"""),
        ("session_rows", f"""
    SELECT user_id, session_no, min(ts) AS start_ts, max(ts) AS end_ts,
           arg_min(day, (ts, event_id)) AS day,
           {duration_sql('min(ts)', 'max(ts)')} AS duration_s,
           count(*)::INTEGER AS events,
           arg_min(device_type, (ts, event_id)) AS device_type,
           arg_min(browser, (ts, event_id)) AS browser,
           arg_min(os, (ts, event_id)) AS os,
           arg_min(country_code, (ts, event_id)) AS country_code
    FROM numbered GROUP BY user_id, session_no"""),
    ]


# session_rows' columns are named one by one: ClickHouse's s.* names the USING columns s.user_id.
_SESSIONS_FINAL = """
SELECT s.user_id, s.session_no, s.start_ts, s.end_ts, s.day, s.duration_s, s.events, s.device_type, s.browser, s.os,
       s.country_code, e.entry_page, e.exit_page, coalesce(e.page_views, 0)::INTEGER AS page_views, p.path
FROM session_rows s
LEFT JOIN ends e USING (user_id, session_no)
LEFT JOIN paths p USING (user_id, session_no)
"""


def sessions_select(timeout_minutes: int, where: str = "TRUE") -> str:
    """One row per session (METRICS.md "Sessions"): a new session starts at a user's first
    event and at every event more than `timeout_minutes` after the previous one.

    `where` narrows the events first (a bound-parameter SQL condition over `events`).
    The timeout is an int we format in, never user text.
    """
    ctes = ",\n".join(f"{name} AS MATERIALIZED ({sql})" for name, sql in _session_steps(timeout_minutes, where))
    return f"WITH {ctes}\n{_SESSIONS_FINAL}"


# The sessions table's columns, as sessions_select returns them.
SESSION_COLUMNS = {
    "user_id": "VARCHAR", "session_no": "INTEGER", "start_ts": "TIMESTAMP", "end_ts": "TIMESTAMP", "day": "DATE",
    "duration_s": "DOUBLE", "events": "INTEGER", "device_type": "device_type", "browser": "VARCHAR", "os": "VARCHAR",
    "country_code": "VARCHAR", "entry_page": "VARCHAR", "exit_page": "VARCHAR", "page_views": "INTEGER", "path": "VARCHAR",
}
# Events sessionised at once in memory: about 1 GB of polars frames at this size.
BUCKET_EVENTS = 1_500_000
BUCKET_COLUMNS = ("user_id, ts, event_id, day, event_type::VARCHAR AS event_type, page_path, "
                   "device_type::VARCHAR AS device_type, browser, os, country_code")


def sessions_of(events: pl.DataFrame, timeout_minutes: int) -> pl.DataFrame:
    """The sessions of `events` (every event of each user in it from some instant on), exactly
    as sessions_select computes them, in polars: one sort by (user, time, event_id), then
    passes that each read the rows once. At 10M events about 4x faster than the SQL windows,
    which sort the rows again for every window. Like DuckDB's arg_min, a session's device,
    browser, os and country are those of its first event that has one."""
    limit = timeout_minutes * 60_000_000
    rows = events.sort(["user_id", "ts", "event_id"])
    starts = (pl.col("user_id") != pl.col("user_id").shift()) | (
        (pl.col("ts") - pl.col("ts").shift()).dt.total_microseconds() > limit)
    rows = rows.with_columns(sid=starts.fill_null(True).cum_sum())
    rows = rows.with_columns(session_no=(pl.col("sid") - pl.col("sid").min().over("user_id") + 1).cast(pl.Int32))
    sessions = rows.group_by("sid", maintain_order=True).agg(
        pl.col("user_id").first(), pl.col("session_no").first(),
        pl.col("ts").first().alias("start_ts"), pl.col("ts").last().alias("end_ts"), pl.col("day").first(),
        pl.lit(None, pl.Float64).alias("duration_s"),  # in SQL, as sessions_select: the same rounding
        pl.len().cast(pl.Int32).alias("events"),
        *(pl.col(c).drop_nulls().first() for c in ("device_type", "browser", "os", "country_code")))
    pages = rows.filter((pl.col("event_type") == "page_view") & pl.col("page_path").is_not_null()).select("sid", "page_path")
    ends = pages.group_by("sid", maintain_order=True).agg(
        pl.col("page_path").first().alias("entry_page"), pl.col("page_path").last().alias("exit_page"),
        pl.len().cast(pl.Int32).alias("page_views"))
    moved = (pl.col("sid") != pl.col("sid").shift()) | (pl.col("page_path") != pl.col("page_path").shift())
    paths = pages.filter(moved.fill_null(True)).group_by("sid", maintain_order=True).agg(
        pl.col("page_path").head(5).str.join(" > ").alias("path"))
    return (sessions.join(ends, on="sid", how="left", maintain_order="left")
            .join(paths, on="sid", how="left", maintain_order="left")
            .with_columns(pl.col("page_views").fill_null(0))
            .select(list(SESSION_COLUMNS)))


def _sessionise(con, timeout_minutes: int, source: str, params: dict) -> None:
    """The sessions of the events `source` (a FROM clause over events) selects, into the temp
    table `new_sessions`, a bucket of users at a time so memory stays bounded whatever the
    store's size.

    More than one bucket's events are split by user in one streaming pass into a Parquet file
    per bucket (DuckDB's partitioned write, beside the store's spill files), not sorted by
    bucket: sorting the wide rows cost a seven-million-event load half a minute.
    """
    used = {key: value for key, value in params.items() if f"${key}" in source} or None
    columns = ", ".join(f"{name} {kind}" for name, kind in SESSION_COLUMNS.items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE new_sessions ({columns})")
    total = con.execute(f"SELECT count(*) FROM {source}", used).fetchall()[0][0]
    buckets = max(1, -(-total // BUCKET_EVENTS))
    select = f"SELECT {BUCKET_COLUMNS} FROM {source}"
    if buckets == 1:
        _add_sessions(con, con.sql(select, params=used).pl(), timeout_minutes)
        return
    spill = Path(con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0] or tempfile.gettempdir())
    spill.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sessions-", dir=spill) as split:
        quoted = str(split).replace("'", "''")
        con.execute(f"COPY (SELECT *, hash(user_id) % {buckets} AS bucket FROM ({select})) TO '{quoted}' "
                    "(FORMAT parquet, PARTITION_BY (bucket))", used)
        for part in sorted(Path(split).glob("bucket=*")):
            _add_sessions(con, pl.read_parquet(part / "*.parquet", hive_partitioning=False), timeout_minutes)


def _add_sessions(con, events: pl.DataFrame, timeout_minutes: int) -> None:
    con.register("bucket_sessions", sessions_of(events, timeout_minutes))
    con.execute(f"INSERT INTO new_sessions SELECT * REPLACE ({duration_sql('start_ts', 'end_ts')} AS duration_s) "
                "FROM bucket_sessions")
    con.unregister("bucket_sessions")


def people_select(where: str = "TRUE") -> str:
    """One row per user of any table (`where` narrows the users, as a condition on user_id):
    the profile where the users table has one, else what the other tables say. Binds $tz."""
    return f"""
    WITH seen AS (
        SELECT user_id, min(ts) AS first_seen, max(ts) AS last_seen, min(day) AS first_day, max(day) AS last_day,
               arg_min(country_code, ts) FILTER (WHERE country_code IS NOT NULL) AS event_country
        FROM events WHERE {where} GROUP BY user_id
    ),
    paid AS (SELECT user_id, min(ts) AS first_txn FROM transactions WHERE {where} GROUP BY user_id),
    subs AS (SELECT user_id, min(started_at) AS first_sub, arg_max(plan, started_at) AS sub_plan
             FROM subscriptions WHERE {where} GROUP BY user_id),
    ids AS (
        SELECT user_id FROM users WHERE {where} UNION SELECT user_id FROM seen
        UNION SELECT user_id FROM paid UNION SELECT user_id FROM subs
    ),
    joined AS (
        SELECT ids.user_id, u.email, u.name,
               coalesce(u.signup_at, least(seen.first_seen, paid.first_txn, subs.first_sub)) AS signup_at,
               coalesce(u.country, seen.event_country) AS country,
               u.timezone, u.auth_provider,
               coalesce(u.plan, subs.sub_plan) AS plan,
               coalesce(u.marketing_opt_in, false) AS marketing_opt_in,
               seen.first_seen, seen.last_seen, seen.first_day, seen.last_day,
               u.user_id IS NOT NULL AS in_users
        FROM ids
        LEFT JOIN users u USING (user_id)
        LEFT JOIN seen USING (user_id)
        LEFT JOIN paid USING (user_id)
        LEFT JOIN subs USING (user_id)
    )
    SELECT *, {local_day('signup_at')} AS signup_day
    FROM joined
    ORDER BY signup_at, user_id"""


def day_users_select(where: str = "TRUE") -> str:
    """Active users per local day, unfiltered: a day's user-days counted (one row each)."""
    return f"SELECT day, count(*)::INTEGER AS users FROM user_days WHERE {where} GROUP BY day ORDER BY day"


def build(con, timeout_minutes: int, tz: str) -> None:
    """Recompute every derived table from the input tables."""
    con.execute(f"CREATE OR REPLACE TABLE user_days AS {user_days_of()}")
    con.execute(f"CREATE OR REPLACE TABLE day_users AS {day_users_select()}")
    con.execute(f"CREATE OR REPLACE TABLE feature_days AS {feature_days_select()}")
    _sessionise(con, timeout_minutes, "events", {})
    con.execute("CREATE OR REPLACE TABLE sessions AS SELECT * FROM new_sessions ORDER BY start_ts")
    con.execute(f"CREATE OR REPLACE TABLE people AS {people_select()}", {"tz": tz})
    con.execute("DROP TABLE new_sessions")


# Each touched user's first new event, and where their sessions are recomputed from: the start
# of their last session starting at or before it (else the new event itself), and how many of
# their sessions come before that point (the recomputed ones are numbered on from there).
def cuts_select(new_events: str = "new_events") -> str:
    """The cuts (see above) of the users with events in `new_events` (user_id, day, ts)."""
    return _CUTS_SELECT.format(new_events=new_events)


_CUTS_SELECT = """
SELECT n.user_id,
       coalesce(max(s.start_ts) FILTER (WHERE s.start_ts <= n.first_ts), n.first_ts) AS cut_ts,
       coalesce(max(s.session_no) FILTER (WHERE s.start_ts <= n.first_ts), 1) - 1 AS base
FROM (SELECT user_id, min(ts) AS first_ts FROM {new_events} GROUP BY user_id) n
LEFT JOIN sessions s USING (user_id)
GROUP BY n.user_id, n.first_ts
"""
# The events whose sessions are cut again (a FROM clause over events; binds $since).
CUT_EVENTS = "events JOIN cuts c USING (user_id) WHERE events.ts >= $since AND events.ts >= c.cut_ts"


def update(con, timeout_minutes: int, tz: str) -> None:
    """Recompute what a load touched, from the temp tables it filled: new_events (user_id,
    day, ts of every event it added) and touched_users (user_id of every row it added, changed
    or replaced, in any table)."""
    span = con.execute("SELECT min(day), max(day), min(ts) FROM new_events").fetchall()[0]
    if span[0] is not None:
        con.execute("CREATE OR REPLACE TEMP TABLE new_days AS SELECT DISTINCT user_id, day FROM new_events")
        con.execute("DELETE FROM user_days u USING new_days n WHERE u.user_id = n.user_id AND u.day = n.day")
        days = ("events.day BETWEEN $first AND $last AND EXISTS (SELECT 1 FROM new_days n "
                "WHERE n.user_id = events.user_id AND n.day = events.day)")
        con.execute(f"INSERT INTO user_days {user_days_select(days)}", {"first": span[0], "last": span[1]})
        next_days(con, "user_id IN (SELECT user_id FROM new_days)")
        changed_days = "day IN (SELECT DISTINCT day FROM new_days)"
        con.execute(f"DELETE FROM day_users WHERE {changed_days}")
        con.execute(f"INSERT INTO day_users {day_users_select(changed_days)}")
        con.execute("DELETE FROM feature_days f USING new_days n WHERE f.user_id = n.user_id AND f.day = n.day")
        con.execute(f"INSERT INTO feature_days {feature_days_select(days)}", {"first": span[0], "last": span[1]})
        con.execute(f"CREATE OR REPLACE TEMP TABLE cuts AS {cuts_select()}")
        since = con.execute("SELECT min(cut_ts) FROM cuts").fetchall()[0][0]
        _sessionise(con, timeout_minutes, CUT_EVENTS, {"since": since})
        con.execute("DELETE FROM sessions s USING cuts c WHERE s.user_id = c.user_id AND s.start_ts >= c.cut_ts")
        con.execute("""INSERT INTO sessions
                       SELECT f.* REPLACE ((f.session_no + c.base)::INTEGER AS session_no)
                       FROM new_sessions f JOIN cuts c ON c.user_id = f.user_id ORDER BY f.start_ts""")
        for name in ("new_days", "cuts", "new_sessions"):
            con.execute(f"DROP TABLE {name}")
    users = "user_id IN (SELECT user_id FROM touched_users)"
    con.execute(f"DELETE FROM people WHERE {users}")
    con.execute(f"INSERT INTO people {people_select(users)}", {"tz": tz})
