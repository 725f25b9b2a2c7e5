"""SQL for the tables the store derives from the input tables on every load.

Pages read these instead of raw events wherever they give the same answer: one row per
(user, local day), one row per session, one row per user. They are rebuilt whole inside
the load's private copy of the store, so readers only ever see them consistent with the
input tables they came from.
"""

from __future__ import annotations

from pulse.measures import local_day
from pulse.schema import DEVICE_TYPES, EVENT_TYPES

# Bit i of user_days.event_types is set when the user had an event of EVENT_TYPES[i] that day;
# likewise devices for DEVICE_TYPES, with the last bit for events with no device_type.
EVENT_TYPE_BIT = {name: 1 << i for i, name in enumerate(EVENT_TYPES)}
DEVICE_BIT = {name: 1 << i for i, name in enumerate(DEVICE_TYPES)}
NO_DEVICE_BIT = 1 << len(DEVICE_TYPES)


def _bit_case(column: str, bits: dict[str, int], default: int) -> str:
    whens = " ".join(f"WHEN '{name}' THEN {bit}" for name, bit in bits.items())
    return f"CASE {column}::VARCHAR {whens} ELSE {default} END"


USER_DAYS = f"""
CREATE OR REPLACE TABLE user_days AS
SELECT user_id, day, count(*)::INTEGER AS events,
       bit_or({_bit_case('event_type', EVENT_TYPE_BIT, 0)})::INTEGER AS event_types,
       bit_or({_bit_case('device_type', DEVICE_BIT, NO_DEVICE_BIT)})::INTEGER AS devices
FROM events
GROUP BY user_id, day
ORDER BY day, user_id
"""


def _session_steps(timeout_minutes: int, where: str) -> list[tuple[str, str]]:
    """The sessionising steps as (name, SELECT) pairs; each reads the ones before it.

    The window passes run over narrow rows (row id, user, time) and the wide columns are
    joined back once: sorting whole event rows through several windows cost ~2x at 10M.
    """
    timeout = int(timeout_minutes)
    return [
        ("flags", f"""
    SELECT rowid AS rid, user_id, ts,
           CASE WHEN ts - lag(ts) OVER (PARTITION BY user_id ORDER BY ts, rowid) <= INTERVAL {timeout} MINUTE
                THEN 0 ELSE 1 END AS starts
    FROM events WHERE {where}"""),
        ("numbers", """
    SELECT rid, sum(starts) OVER (PARTITION BY user_id ORDER BY ts, rid
                                  ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)::INTEGER AS session_no
    FROM flags"""),
        ("numbered", """
    SELECT e.user_id, n.session_no, e.ts, n.rid, e.day, e.event_type, e.page_path,
           e.device_type, e.browser, e.os, e.country_code
    FROM events e JOIN numbers n ON e.rowid = n.rid"""),
        ("pages", """
    SELECT user_id, session_no, ts, rid, page_path,
           lag(page_path) OVER (PARTITION BY user_id, session_no ORDER BY ts, rid) AS prev_page
    FROM numbered WHERE event_type = 'page_view' AND page_path IS NOT NULL"""),
        ("steps", """
    SELECT user_id, session_no, page_path,
           row_number() OVER (PARTITION BY user_id, session_no ORDER BY ts, rid) AS step
    FROM pages WHERE prev_page IS NULL OR prev_page <> page_path"""),
        ("paths", """
    SELECT user_id, session_no, string_agg(page_path, ' > ' ORDER BY step) AS path
    FROM steps WHERE step <= 5 GROUP BY user_id, session_no"""),
        ("ends", """
    SELECT user_id, session_no, arg_min(page_path, (ts, rid)) AS entry_page,
           arg_max(page_path, (ts, rid)) AS exit_page, count(*)::INTEGER AS page_views
    FROM pages GROUP BY user_id, session_no"""),
        ("session_rows", """
    SELECT user_id, session_no, min(ts) AS start_ts, max(ts) AS end_ts,
           arg_min(day, (ts, rid)) AS day,
           (epoch_us(max(ts)) - epoch_us(min(ts))) / 1000000.0 AS duration_s,
           count(*)::INTEGER AS events,
           arg_min(device_type, (ts, rid)) AS device_type,
           arg_min(browser, (ts, rid)) AS browser,
           arg_min(os, (ts, rid)) AS os,
           arg_min(country_code, (ts, rid)) AS country_code
    FROM numbered GROUP BY user_id, session_no"""),
    ]


_SESSIONS_FINAL = """
SELECT s.*, e.entry_page, e.exit_page, coalesce(e.page_views, 0)::INTEGER AS page_views, p.path
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


def build_sessions(con, timeout_minutes: int) -> None:
    """Rebuild the sessions table at load time, the same steps as sessions_select but each
    kept as a temporary table (at 10M events about 30% faster than one statement)."""
    for name, sql in _session_steps(timeout_minutes, "TRUE"):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
    con.execute(f"CREATE OR REPLACE TABLE sessions AS {_SESSIONS_FINAL} ORDER BY start_ts")
    for name, _ in _session_steps(timeout_minutes, "TRUE"):
        con.execute(f"DROP TABLE {name}")


PEOPLE = f"""
CREATE OR REPLACE TABLE people AS
WITH seen AS (
    SELECT user_id, min(ts) AS first_seen, max(ts) AS last_seen,
           arg_min(country_code, ts) FILTER (WHERE country_code IS NOT NULL) AS event_country
    FROM events GROUP BY user_id
),
paid AS (SELECT user_id, min(ts) AS first_txn FROM transactions GROUP BY user_id),
subs AS (SELECT user_id, min(started_at) AS first_sub, arg_max(plan, started_at) AS sub_plan
         FROM subscriptions GROUP BY user_id),
ids AS (
    SELECT user_id FROM users UNION SELECT user_id FROM seen
    UNION SELECT user_id FROM paid UNION SELECT user_id FROM subs
),
joined AS (
    SELECT ids.user_id, u.email, u.name,
           coalesce(u.signup_at, least(seen.first_seen, paid.first_txn, subs.first_sub)) AS signup_at,
           coalesce(u.country, seen.event_country) AS country,
           u.timezone, u.auth_provider,
           coalesce(u.plan, subs.sub_plan) AS plan,
           coalesce(u.marketing_opt_in, false) AS marketing_opt_in,
           seen.first_seen, seen.last_seen,
           u.user_id IS NOT NULL AS in_users
    FROM ids
    LEFT JOIN users u USING (user_id)
    LEFT JOIN seen USING (user_id)
    LEFT JOIN paid USING (user_id)
    LEFT JOIN subs USING (user_id)
)
SELECT *, {local_day('signup_at')} AS signup_day
FROM joined
ORDER BY signup_at, user_id
"""
