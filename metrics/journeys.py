"""Journeys: the pages sessions walk, where they enter and leave, and funnels (METRICS.md "Activity")."""

from __future__ import annotations

import polars as pl

from metrics.base import event_scope
from metrics.registry import Option, metric
from metrics.sessions import SESSION_TIMEOUT, session_rows
from pulse.measures import rate
from pulse.periods import end_of_day_utc, local_midnight_utc
from pulse.query import Query

TOP_PATHS = 20
# The funnel builder offers this many of the most frequent step names.
TOP_CANDIDATES = 200


@metric("paths", ["path", "sessions"], options=(SESSION_TIMEOUT,), area="activity")
def paths(store, q: Query) -> pl.DataFrame:
    """The 20 most common page paths of sessions in the range: their pages in order, repeats in a row counted once, first five steps."""
    rows, params = session_rows(store, q, q.range_start, q.range_end)
    out = store.fetch(
        f"SELECT path, count(*) AS sessions FROM {rows} WHERE path IS NOT NULL "
        f"GROUP BY path ORDER BY sessions DESC, path LIMIT {TOP_PATHS}",
        params,
    )
    return out.cast({"sessions": pl.Int64})


@metric("entry_exit", ["page", "entries", "exits", "bounce_rate"], options=(SESSION_TIMEOUT,), area="activity")
def entry_exit(store, q: Query) -> pl.DataFrame:
    """Per page, the sessions in the range whose first page view it was (entries) and whose last (exits), and the share of its entries that were one-event sessions (bounce rate)."""
    rows, params = session_rows(store, q, q.range_start, q.range_end)
    out = store.fetch(
        f"""
        WITH visits AS (SELECT entry_page, exit_page, events FROM {rows} WHERE entry_page IS NOT NULL),
        entries AS (
            SELECT entry_page AS page, count(*) AS entries, count(*) FILTER (WHERE events = 1) AS bounces
            FROM visits GROUP BY 1
        ),
        exits AS (SELECT exit_page AS page, count(*) AS exits FROM visits GROUP BY 1)
        SELECT page, coalesce(entries, 0) AS entries, coalesce(exits, 0) AS exits,
               {rate('bounces', 'entries')} AS bounce_rate
        FROM entries FULL JOIN exits USING (page)
        ORDER BY page
        """,
        params,
    )
    return out.cast({"entries": pl.Int64, "exits": pl.Int64})


def _matches(alias: str, param: str) -> str:
    """SQL: the event is the step named by $param (an event_name or a page_path)."""
    return f"({alias}.event_name = ${param} OR {alias}.page_path = ${param})"


def _is_step(alias: str, k: int) -> str:
    """SQL: the row's mask (funnel) holds step k."""
    return f"{alias}.mask % {2 ** k} >= {2 ** (k - 1)}"


@metric(
    "funnel",
    ["step", "name", "users", "conversion_from_start", "conversion_from_previous", "median_seconds_from_previous"],
    options=(
        Option("steps", "list", None, "the funnel's steps in order: event names or page paths, comma-separated",
               required="A funnel needs its steps: give --option steps=first,second,... (event names or page paths)."),
        Option("window_days", "int", 14, "days from a user's first step within which the later steps count", minimum=1,
               maximum=3650),
    ),
    area="activity",
)
def funnel(store, q: Query) -> pl.DataFrame:
    """Users who reach each step in order: they enter at their first step-1 event in the range and reach each next step at its first event after the previous step, within the window from entry."""
    steps = q.opt("steps")
    window = int(q.opt("window_days"))
    scope, params = event_scope(q, "e")
    params |= {f"step_{k}": name for k, name in enumerate(steps, 1)}
    params |= {
        "start": q.range_start,
        "end": q.range_end,
        "start_at": local_midnight_utc(q.range_start, store.timezone),
        "end_at": end_of_day_utc(q.range_end, store.timezone),
    }
    any_step = " OR ".join(_matches("e", f"step_{k}") for k in range(1, len(steps) + 1))
    # An event's mask: the steps it can be, step k as 2^(k-1). Events of one user at one instant
    # with one mask are interchangeable, so hits keeps them as one row with their number (copies)
    # and nothing needs an event's identity (a row number is DuckDB's own, and reading every
    # event's id costs more than the funnel). Of events at one instant the smaller mask comes first.
    mask = " + ".join(f"CASE WHEN {_matches('e', f'step_{k}')} THEN {2 ** (k - 1)} ELSE 0 END"
                      for k in range(1, len(steps) + 1))
    # reached_k: each user's first step-k event at or after their step-(k-1) event (not that
    # same event: a later one, one of another mask, or another copy) and no later than
    # entry + window; users only join steps they came through.
    reached = [f"""reached_1 AS (
            SELECT user_id, min(ts) AS entry, min(ts) AS reached_at, arg_min(mask, (ts, mask)) AS mask,
                   CAST(NULL AS TIMESTAMP) AS previous_at
            FROM hits e WHERE day BETWEEN $start AND $end AND {_is_step('e', 1)}
            GROUP BY user_id
        )"""]
    for k in range(2, len(steps) + 1):
        reached.append(f"""reached_{k} AS (
            SELECT r.user_id, any_value(r.entry) AS entry, min(e.ts) AS reached_at,
                   arg_min(e.mask, (e.ts, e.mask)) AS mask, any_value(r.reached_at) AS previous_at
            FROM reached_{k - 1} r JOIN hits e ON e.user_id = r.user_id
            WHERE {_is_step('e', k)} AND e.ts >= r.reached_at AND (e.ts > r.reached_at OR e.mask <> r.mask OR e.copies > 1)
                  AND e.ts <= r.entry + INTERVAL {window} DAY
            GROUP BY r.user_id
        )""")
    counts = " UNION ALL ".join(
        f"SELECT {k} AS step, $step_{k} AS name, count(*) AS users, "
        f"quantile_cont((epoch_us(reached_at) - epoch_us(previous_at)) / 1000000.0, 0.5) AS median_seconds_from_previous "
        f"FROM reached_{k}"
        for k in range(1, len(steps) + 1)
    )
    out = store.fetch(
        f"""
        WITH hits AS (
            SELECT e.user_id, e.ts, e.day, {mask} AS mask, count(*) AS copies FROM events e
            WHERE e.ts >= $start_at AND e.ts <= $end_at + INTERVAL {window} DAY AND ({any_step}) AND {scope}
            GROUP BY ALL
        ),
        {", ".join(reached)},
        counts AS ({counts})
        SELECT step, name, users,
               {rate('users', 'first_value(users) OVER (ORDER BY step)')} AS conversion_from_start,
               {rate('users', 'coalesce(lag(users) OVER (ORDER BY step), users)')} AS conversion_from_previous,
               CAST(median_seconds_from_previous AS DOUBLE) AS median_seconds_from_previous
        FROM counts ORDER BY step
        """,
        params,
    )
    return out.cast({"step": pl.Int64, "name": pl.String, "users": pl.Int64})


@metric("funnel_candidates", ["name", "events"], area="activity", internal=True)
def funnel_candidates(store, q: Query) -> pl.DataFrame:
    """The event names and page paths seen in the range, which a funnel can take as steps, most frequent first (the top 200)."""
    scope, params = event_scope(q, "e")
    # Two small group-bys, not one over (event_name, page_path) pairs: the same answer, cheaper.
    out = store.fetch(
        f"""
        SELECT name, sum(events) AS events FROM (
            SELECT e.event_name AS name, count(*) AS events FROM events e
            WHERE e.day BETWEEN $start AND $end AND e.event_name IS NOT NULL AND {scope}
            GROUP BY 1
            UNION ALL
            SELECT e.page_path AS name, count(*) AS events FROM events e
            WHERE e.day BETWEEN $start AND $end AND e.page_path IS NOT NULL
                  AND e.page_path IS DISTINCT FROM e.event_name AND {scope}
            GROUP BY 1
        ) GROUP BY name ORDER BY events DESC, name LIMIT {TOP_CANDIDATES}
        """,
        {**params, "start": q.range_start, "end": q.range_end},
    )
    return out.cast({"events": pl.Int64})
