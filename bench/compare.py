"""Pulse side by side with peer engines, in one run (issue 16, point 6).

    python bench/compare.py                          # the 10M store from bench/run.py
    python bench/compare.py --events 1000000         # bench/out/1000000/pulse.duckdb
    python bench/compare.py --store PATH             # any UTC store

On the same events, four questions (METRICS.md) are answered by Pulse's registered metrics
and by peer engines; every peer's answer must equal Pulse's:

1. daily active users over the last 90 days of data (active_users, by day);
2. rolling 30-day MAU for each of the last 30 days (dau_wau_mau's mau: users active in [d-29, d]);
3. weekly first-time retention, 8 offsets (retention, by week, periods=8) over the last 90
   days widened to whole weeks: a user's cohort is the week of their first activity ever
   (users first active before the range sit in no cohort), retained at offset k = cohort
   members active in week cohort + k, k = 0 … 7;
4. sessions per day over the last 90 days (sessions' sessions column): a user's events with
   gaps of at most the store's session timeout (30 min) are one session, which belongs to
   the day of its first event.

Engines: Pulse (registered metrics on the store, which read the tables derived at load
time); DuckDB SQL on the raw `events` table of the same file; DuckDB on a (day, user) rollup
built once in memory (questions 1-3; sessions need raw events); polars and pandas on the
events (user_id, ts) loaded once into memory; PostgreSQL, when reachable, on the events
copied once into an UNLOGGED table. The raw-events engines read only user_id and ts: the
day of an event is the UTC date of ts, so the store must be in UTC (bench/run.py's are).
Loading and copying are outside the timing. Each answer is computed once untimed, then
three times; the median is reported with its ratio to Pulse's (engine / Pulse: above 1 means
Pulse is faster). A differing answer prints MISMATCH and the exit status is 1.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402

OUT = ROOT / "bench" / "out"
DEFAULT_EVENTS = 10_000_000
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
RUNS = 3  # timed runs after one untimed run; the median is reported
RANGE_DAYS = 90  # questions 1, 3 and 4 look at the last 90 days of data
MAU_DAYS = 30  # question 2: MAU for each of the last 30 days
MAU_WINDOW = 30  # ... over the 30 days ending on each
PERIODS = 8  # question 3: offsets 0 … 7

QUESTIONS = {
    "dau": "1. daily active users, last 90 days",
    "mau": "2. rolling 30-day MAU, each of the last 30 days",
    "retention": "3. weekly first-time retention, 8 offsets",
    "sessions": "4. sessions per day, last 90 days",
}
ENGINES = {
    "pulse": "Pulse (registered metrics)",
    "duckdb_raw": "DuckDB, raw events",
    "duckdb_rollup": "DuckDB, (day, user) rollup",
    "polars": "polars, in memory",
    "pandas": "pandas, in memory",
    "postgres": "PostgreSQL",
}

Answer = Any  # a polars or pandas frame, or a list of row tuples, columns in the question's order


@dataclass(frozen=True)
class Window:
    """The days each question covers, all ending on the last day of data."""

    last: date
    start: date  # questions 1 and 4: the last 90 days
    mau_start: date  # question 2: the last 30 days
    week_start: date  # question 3: the last 90 days widened to whole ISO weeks
    week_end: date
    timeout: int  # question 4: minutes between two events of one session, at most

    @property
    def session_from(self) -> datetime:
        """Events from one timeout before the first day suffice to cut that day's sessions
        exactly: any event on or after it still sees the event before it, if that is close."""
        return midnight(self.start) - timedelta(minutes=self.timeout)


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


# -- Pulse ----------------------------------------------------------------------------------


def pulse_queries(w: Window) -> dict[str, Any]:
    """Each question as the Query a page would pass to its metric."""
    from pulse.query import make_query

    return {
        "dau": make_query(w.start, w.last, "day"),
        "mau": make_query(w.mau_start, w.last, "day"),
        "retention": make_query(w.start, w.last, "week", {"periods": str(PERIODS)}),
        "sessions": make_query(w.start, w.last, "day"),
    }


def pulse_engine(store, w: Window) -> dict[str, Callable[[], Answer]]:
    """The registered metrics, through metrics.registry.run, cut to the compared columns."""
    from metrics import registry

    q = pulse_queries(w)
    return {
        "dau": lambda: registry.run("active_users", store, q["dau"]).select("period", "active_users"),
        "mau": lambda: registry.run("dau_wau_mau", store, q["mau"]).select("date", "mau"),
        "retention": lambda: registry.run("retention", store, q["retention"]).select("cohort", "period_offset", "retained"),
        "sessions": lambda: registry.run("sessions", store, q["sessions"]).select("period", "sessions"),
    }


# -- SQL, written once for DuckDB and PostgreSQL ----------------------------------------------
#
# Questions 1-3 read user activity through two relations each engine provides (Relations):
# its distinct user-days and each user's first active day. Question 4 reads raw events only.


def date_sql(day: date) -> str:
    return f"DATE '{day.isoformat()}'"


def timestamp_sql(at: date | datetime) -> str:
    at = at if isinstance(at, datetime) else midnight(at)
    return f"TIMESTAMP '{at.isoformat(sep=' ')}'"


def before_sql(day: date) -> str:
    """A condition on ts: before the end of `day`."""
    return f"ts < {timestamp_sql(day + timedelta(days=1))}"


@dataclass(frozen=True)
class Relations:
    """Where the SQL of questions 1-3 reads activity from, as SQL text."""

    user_days: Callable[[date, date], str]  # (lo, hi) -> distinct (user_id, day), days lo … hi
    first_days: Callable[[date], str]  # (hi) -> (user_id, first_day): each user's first active day up to hi


EVENTS = Relations(
    # An event's day is the UTC date of its ts.
    user_days=lambda lo, hi: (f"SELECT DISTINCT user_id, CAST(ts AS DATE) AS day FROM events "
                              f"WHERE ts >= {timestamp_sql(lo)} AND {before_sql(hi)}"),
    first_days=lambda hi: (f"SELECT user_id, CAST(min(ts) AS DATE) AS first_day FROM events "
                           f"WHERE {before_sql(hi)} GROUP BY user_id"),
)
ROLLUP = Relations(
    user_days=lambda lo, hi: f"SELECT user_id, day FROM rollup WHERE day BETWEEN {date_sql(lo)} AND {date_sql(hi)}",
    first_days=lambda hi: f"SELECT user_id, min(day) AS first_day FROM rollup WHERE day <= {date_sql(hi)} GROUP BY user_id",
)


def week_sql(day: str) -> str:
    """The Monday of the ISO week of the DATE `day` (date_trunc returns a timestamp, and a
    timestamptz in PostgreSQL; this stays a DATE in both)."""
    return f"{day} - CAST(EXTRACT(isodow FROM {day}) AS INTEGER) + 1"


def dau_sql(r: Relations, w: Window) -> str:
    """Users per day: the user-days counted by day."""
    return f"SELECT day, count(*) AS users FROM ({r.user_days(w.start, w.last)}) d GROUP BY day"


def mau_sql(r: Relations, w: Window) -> str:
    """Per target day d: distinct users active in [d-29, d]; each user-day joins the (at most
    30) target days whose window holds it."""
    targets = ", ".join(f"({date_sql(w.mau_start + timedelta(days=i))})" for i in range((w.last - w.mau_start).days + 1))
    first = w.mau_start - timedelta(days=MAU_WINDOW - 1)
    return f"""
    WITH targets AS (SELECT * FROM (VALUES {targets}) t(target))
    SELECT t.target, count(DISTINCT d.user_id) AS mau
    FROM targets t JOIN ({r.user_days(first, w.last)}) d ON d.day BETWEEN t.target - {MAU_WINDOW - 1} AND t.target
    GROUP BY t.target"""


def retention_sql(r: Relations, w: Window) -> str:
    """First-time weekly cohorts: users whose first active day ever is in the range, by its
    week, counted in each later week they were active in, up to offset PERIODS - 1."""
    return f"""
    WITH cohorts AS (
        SELECT user_id, {week_sql('first_day')} AS cohort FROM ({r.first_days(w.week_end)}) f
        WHERE first_day >= {date_sql(w.week_start)}
    ),
    weeks AS (SELECT DISTINCT user_id, {week_sql('day')} AS week FROM ({r.user_days(w.week_start, w.week_end)}) d)
    SELECT c.cohort, CAST((w.week - c.cohort) / 7 AS INTEGER) AS period_offset, count(*) AS retained
    FROM cohorts c JOIN weeks w USING (user_id)
    WHERE w.week - c.cohort < {7 * PERIODS}
    GROUP BY 1, 2"""


def sessions_sql(w: Window) -> str:
    """Sessions per day of their first event: an event starts a session when it is the
    user's first or comes more than the timeout after the user's previous event."""
    return f"""
    WITH flagged AS (
        SELECT ts, ts - lag(ts) OVER (PARTITION BY user_id ORDER BY ts) <= INTERVAL '{w.timeout} minutes' AS continues
        FROM events
        WHERE ts >= {timestamp_sql(w.session_from)} AND {before_sql(w.last)}
    )
    SELECT CAST(ts AS DATE) AS day, count(*) AS sessions
    FROM flagged WHERE continues IS NOT TRUE AND ts >= {timestamp_sql(w.start)}
    GROUP BY 1"""


def sql_engine(run: Callable[[str], list[tuple]], r: Relations, w: Window) -> dict[str, Callable[[], Answer]]:
    """The four SQL statements, each run by `run` on one connection."""
    return {
        "dau": lambda: run(dau_sql(r, w)),
        "mau": lambda: run(mau_sql(r, w)),
        "retention": lambda: run(retention_sql(r, w)),
        "sessions": lambda: run(sessions_sql(w)),
    }


def duckdb_raw_engine(path: Path, w: Window) -> tuple[dict[str, Callable[[], Answer]], Callable[[], None]]:
    """Plain DuckDB SQL on the store's raw events, through a read-only connection."""
    con = duckdb.connect(str(path), read_only=True)
    return sql_engine(lambda sql: con.execute(sql).fetchall(), EVENTS, w), con.close


def duckdb_rollup_engine(path: Path, w: Window) -> tuple[dict[str, Callable[[], Answer]], Callable[[], None]]:
    """DuckDB on an in-memory (user_id, day) table built once from the events, kept in day
    order like Pulse's own user_days; questions 1-3 only."""
    con = duckdb.connect()
    con.execute("ATTACH ? AS store (READ_ONLY)", [str(path)])
    con.execute("CREATE TABLE rollup AS SELECT user_id, day FROM store.events GROUP BY ALL ORDER BY day, user_id")
    con.execute("DETACH store")
    answers = sql_engine(lambda sql: con.execute(sql).fetchall(), ROLLUP, w)
    del answers["sessions"]
    return answers, con.close


# -- PostgreSQL -------------------------------------------------------------------------------


def postgres_engine(path: Path, url: str, w: Window) -> tuple[dict[str, Callable[[], Answer]], Callable[[], None]] | None:
    """The events (user_id, ts) copied into an UNLOGGED table of a schema of our own (COPY
    of a CSV that DuckDB writes), indexed on (user_id, ts) and analyzed; None, with a printed
    note, when the server cannot be reached. The returned closer drops the schema."""
    try:
        import psycopg

        conn = psycopg.connect(url, autocommit=True, connect_timeout=5)
    except ImportError:
        print("PostgreSQL skipped: psycopg (3) is not installed")
        return None
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL skipped: not reachable at {url} ({str(exc).strip().splitlines()[0]})")
        return None
    schema = f"pulse_compare_{os.getpid()}"

    def close() -> None:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.close()

    try:
        started = time.perf_counter()
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"SET search_path = {schema}")
        conn.execute("CREATE UNLOGGED TABLE events (user_id text NOT NULL, ts timestamp NOT NULL)")
        with tempfile.TemporaryDirectory(prefix="pulse-compare-") as tmp:
            csv = Path(tmp) / "events.csv"
            with duckdb.connect(str(path), read_only=True) as con:
                con.execute(f"COPY (SELECT user_id, ts FROM events) TO '{csv}' (HEADER false)")
            with conn.cursor().copy("COPY events (user_id, ts) FROM STDIN (FORMAT csv)") as copy, csv.open("rb") as f:
                while chunk := f.read(1 << 20):
                    copy.write(chunk)
        conn.execute("CREATE INDEX ON events (user_id, ts)")
        conn.execute("VACUUM ANALYZE events")
        # The default 4 MB sends these queries' sorts and hashes to disk; the JIT compiles
        # each statement anew and, on this machine, costs more than it saves.
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SET jit = off")
        version = conn.execute("SHOW server_version").fetchone()[0]
        print(f"PostgreSQL {version}: events copied, indexed and analyzed in {time.perf_counter() - started:.1f} s")
    except BaseException:
        close()
        raise
    return sql_engine(lambda sql: conn.execute(sql).fetchall(), EVENTS, w), close


# -- polars -------------------------------------------------------------------------------------


def load_events(path: Path) -> Any:
    """The events' user_id and ts as an Arrow table, user_id dictionary-encoded."""
    with duckdb.connect(str(path), read_only=True) as con:
        table = con.sql("SELECT user_id, ts FROM events").to_arrow_table()
    return table.set_column(0, "user_id", table.column("user_id").dictionary_encode())


def polars_dau(ev: pl.DataFrame, w: Window) -> pl.DataFrame:
    """Distinct users per UTC date of ts."""
    return (
        ev.lazy().filter(pl.col("ts") >= midnight(w.start), pl.col("ts") < midnight(w.last + timedelta(days=1)))
        .group_by(day=pl.col("ts").dt.date()).agg(pl.col("user_id").n_unique())
        .collect()
    )


def polars_mau(ev: pl.DataFrame, w: Window) -> pl.DataFrame:
    """Each distinct user-day spread over the target days whose 30-day window holds it, then
    distinct users per target day."""
    first = w.mau_start - timedelta(days=MAU_WINDOW - 1)
    return (
        ev.lazy().filter(pl.col("ts") >= midnight(first), pl.col("ts") < midnight(w.last + timedelta(days=1)))
        .select("user_id", day=pl.col("ts").dt.date()).unique()
        .select("user_id", target=pl.date_ranges(pl.max_horizontal("day", pl.lit(w.mau_start)),
                                                 pl.min_horizontal(pl.col("day") + timedelta(days=MAU_WINDOW - 1),
                                                                   pl.lit(w.last))))
        .explode("target")
        .group_by("target").agg(pl.col("user_id").n_unique())
        .collect()
    )


def polars_retention(ev: pl.DataFrame, w: Window) -> pl.DataFrame:
    """Users by the week of their first event (when in the range), joined to the distinct
    weeks they were active in, counted per cohort and offset."""
    end = midnight(w.week_end + timedelta(days=1))
    cohorts = (
        ev.lazy().filter(pl.col("ts") < end)
        .group_by("user_id").agg(first=pl.col("ts").min())
        .filter(pl.col("first") >= midnight(w.week_start))
        .select("user_id", cohort=pl.col("first").dt.date().dt.truncate("1w"))
    )
    weeks = (
        ev.lazy().filter(pl.col("ts") >= midnight(w.week_start), pl.col("ts") < end)
        .select("user_id", week=pl.col("ts").dt.date().dt.truncate("1w")).unique()
    )
    return (
        cohorts.join(weeks, on="user_id")
        .with_columns(period_offset=(pl.col("week") - pl.col("cohort")).dt.total_days() // 7)
        .filter(pl.col("period_offset") < PERIODS)
        .group_by("cohort", "period_offset").agg(retained=pl.len())
        .collect()
    )


def polars_sessions(ev: pl.DataFrame, w: Window) -> pl.DataFrame:
    """Events sorted by user and time; a session starts at a user's first event and after
    every gap longer than the timeout; starts counted per day."""
    starts = (pl.col("user_id") != pl.col("user_id").shift()).fill_null(True) | (
        pl.col("ts").diff() > timedelta(minutes=w.timeout))
    return (
        ev.lazy().filter(pl.col("ts") >= w.session_from, pl.col("ts") < midnight(w.last + timedelta(days=1)))
        .sort("user_id", "ts")
        .filter(starts & (pl.col("ts") >= midnight(w.start)))
        .group_by(day=pl.col("ts").dt.date()).agg(sessions=pl.len())
        .collect()
    )


def polars_engine(path: Path, w: Window) -> tuple[dict[str, Callable[[], Answer]], Callable[[], None]]:
    """polars on the events loaded once (user_id categorical, ts)."""
    ev = pl.from_arrow(load_events(path))
    questions = {"dau": polars_dau, "mau": polars_mau, "retention": polars_retention, "sessions": polars_sessions}
    return {name: (lambda f=f: f(ev, w)) for name, f in questions.items()}, lambda: None


# -- pandas -------------------------------------------------------------------------------------


def pandas_between(ev: pd.DataFrame, since: datetime, until: datetime) -> pd.DataFrame:
    """The events with since <= ts < until."""
    return ev[(ev["ts"] >= since) & (ev["ts"] < until)]


def pandas_monday(ts: pd.Series) -> pd.Series:
    """Midnight of the Monday of each timestamp's ISO week."""
    return ts.dt.normalize() - pd.to_timedelta(ts.dt.day_of_week, unit="D")


def pandas_dau(ev: pd.DataFrame, w: Window) -> pd.DataFrame:
    """Distinct users per UTC date of ts."""
    e = pandas_between(ev, midnight(w.start), midnight(w.last + timedelta(days=1)))
    return e.groupby(e["ts"].dt.normalize())["user_id"].nunique().reset_index()


def pandas_mau(ev: pd.DataFrame, w: Window) -> pd.DataFrame:
    """Distinct user-days crossed with the target days, kept where the window holds the
    day, then distinct users per target day."""
    first = w.mau_start - timedelta(days=MAU_WINDOW - 1)
    e = pandas_between(ev, midnight(first), midnight(w.last + timedelta(days=1)))
    days = pd.DataFrame({"user_id": e["user_id"], "day": e["ts"].dt.normalize()}).drop_duplicates()
    targets = pd.DataFrame({"target": pd.date_range(w.mau_start, w.last, freq="D", unit="us")})
    pairs = days.merge(targets, how="cross")
    pairs = pairs[(pairs["day"] <= pairs["target"]) & (pairs["day"] > pairs["target"] - pd.Timedelta(days=MAU_WINDOW))]
    return pairs.groupby("target")["user_id"].nunique().reset_index()


def pandas_retention(ev: pd.DataFrame, w: Window) -> pd.DataFrame:
    """Users by the week of their first event (when in the range), merged with the distinct
    weeks they were active in, counted per cohort and offset."""
    end = midnight(w.week_end + timedelta(days=1))
    firsts = ev[ev["ts"] < end].groupby("user_id", observed=True)["ts"].min()
    firsts = firsts[firsts >= midnight(w.week_start)]
    cohorts = pd.DataFrame({"user_id": firsts.index, "cohort": pandas_monday(firsts).to_numpy()})
    e = pandas_between(ev, midnight(w.week_start), end)
    weeks = pd.DataFrame({"user_id": e["user_id"], "week": pandas_monday(e["ts"])}).drop_duplicates()
    pairs = cohorts.merge(weeks, on="user_id")
    pairs["period_offset"] = (pairs["week"] - pairs["cohort"]).dt.days // 7
    pairs = pairs[pairs["period_offset"] < PERIODS]
    return pairs.groupby(["cohort", "period_offset"]).size().reset_index()


def pandas_sessions(ev: pd.DataFrame, w: Window) -> pd.DataFrame:
    """Events sorted by user and time; a session starts at a user's first event and after
    every gap longer than the timeout; starts counted per day."""
    e = pandas_between(ev, w.session_from, midnight(w.last + timedelta(days=1))).sort_values(["user_id", "ts"])
    users, ts = e["user_id"].cat.codes, e["ts"]
    starts = (users != users.shift()) | (ts.diff() > pd.Timedelta(minutes=w.timeout))
    starts &= ts >= midnight(w.start)
    return ts[starts].dt.normalize().value_counts().reset_index()


def pandas_engine(path: Path, w: Window) -> tuple[dict[str, Callable[[], Answer]], Callable[[], None]]:
    """pandas on the events loaded once (user_id categorical, ts datetime64[us])."""
    ev = load_events(path).to_pandas()
    questions = {"dau": pandas_dau, "mau": pandas_mau, "retention": pandas_retention, "sessions": pandas_sessions}
    return {name: (lambda f=f: f(ev, w)) for name, f in questions.items()}, lambda: None


# -- timing and comparing -----------------------------------------------------------------------


def timed(compute: Callable[[], Answer]) -> tuple[float, Answer]:
    """One untimed run, then RUNS timed ones: the median seconds and the last answer."""
    answer = compute()
    seconds = []
    for _ in range(RUNS):
        started = time.perf_counter()
        answer = compute()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), answer


def plain(value: Any) -> Any:
    """A cell as a plain Python value: timestamps and datetimes as dates, integers as int."""
    if isinstance(value, datetime):  # pandas.Timestamp too
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, float) and not value.is_integer():
        return value
    return int(value)


def canonical(answer: Answer) -> list[tuple]:
    """An answer as sorted rows of plain values, without rows whose count (last column) is 0:
    Pulse lists every period with zeros, a peer's GROUP BY only the ones that had any."""
    if isinstance(answer, pl.DataFrame):
        rows = answer.rows()
    elif isinstance(answer, pd.DataFrame):
        rows = list(answer.itertuples(index=False, name=None))
    else:
        rows = answer
    return sorted(row for row in (tuple(plain(v) for v in r) for r in rows) if row[-1] != 0)


def differences(expected: list[tuple], got: list[tuple], shown: int = 5) -> str:
    """A few rows only Pulse has and only the peer has."""
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    return (f"{len(expected)} rows vs {len(got)}; only in Pulse's: {missing[:shown]}"
            f"{' …' if len(missing) > shown else ''}; only in this engine's: {extra[:shown]}{' …' if len(extra) > shown else ''}")


def run_engine(name: str, engine: dict[str, Callable[[], Answer]], results: dict, answers: dict) -> None:
    """Time each question of one engine and keep its canonical answer."""
    for question, compute in engine.items():
        seconds, answer = timed(compute)
        results[question][name] = seconds
        answers[question][name] = canonical(answer)
        print(f"  {ENGINES[name]:28} {QUESTIONS[question]:50} {seconds:8.4f} s", flush=True)


def report(results: dict, answers: dict, engines: list[str]) -> bool:
    """The table per question; True when every answer equals Pulse's."""
    ok = True
    for question, title in QUESTIONS.items():
        pulse = results[question]["pulse"]
        expected = answers[question]["pulse"]
        print(f"\n{title} ({len(expected)} non-zero rows)")
        print(f"  {'engine':28} {'median s':>9} {'÷ Pulse':>9}  equal")
        for name in engines:
            seconds = results[question].get(name)
            if seconds is None:
                print(f"  {ENGINES[name]:28} {'–':>9} {'–':>9}  –")
                continue
            equal = answers[question][name] == expected
            print(f"  {ENGINES[name]:28} {seconds:9.4f} {f'{seconds / pulse:.1f}×':>9}  {'yes' if equal else 'NO'}")
            if not equal:
                ok = False
                print(f"  MISMATCH {ENGINES[name]} on {title}: {differences(expected, answers[question][name])}")
    return ok


def summary(results: dict) -> None:
    """One line per target, with the worst ratio over the questions it covers."""
    targets = (
        ("Pulse ≥ 10× faster than pandas on each question", "pandas", 10.0),
        ("Pulse ≥ 30× faster than PostgreSQL on each question", "postgres", 30.0),
        ("Pulse no slower than DuckDB on the (day, user) rollup (questions 1–3)", "duckdb_rollup", 1.0),
    )
    print("\nTargets:")
    for text, engine, needed in targets:
        ratios = {q: results[q][engine] / results[q]["pulse"] for q in QUESTIONS if results[q].get(engine) is not None}
        if not ratios:
            print(f"  {text}: not measured ({ENGINES[engine]} did not run)")
            continue
        worst = min(ratios, key=ratios.get)
        verdict = "met" if ratios[worst] >= needed else "missed"
        print(f"  {text}: {verdict} (worst {ratios[worst]:.1f}× on {QUESTIONS[worst]})")


def window(store) -> Window:
    """The questions' days on this store: everything ends on its last day of data."""
    from pulse.query import make_query

    info = store.info()
    last = info.last_day
    start = last - timedelta(days=RANGE_DAYS - 1)
    weeks = make_query(start, last, "week")  # Pulse's own widening to whole weeks
    return Window(last=last, start=start, mau_start=last - timedelta(days=MAU_DAYS - 1),
                  week_start=weeks.range_start, week_end=weeks.range_end, timeout=info.session_timeout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, help="a Pulse store (default: bench/out/<events>/pulse.duckdb)")
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="which bench/run.py store to use")
    parser.add_argument("--postgres", default=POSTGRES_URL, help="PostgreSQL URL (default: %(default)s)")
    args = parser.parse_args()
    path = (args.store or OUT / str(args.events) / "pulse.duckdb").resolve()
    if not path.exists():
        print(f"There is no store at {path}. Build it with:\n"
              f"    .venv/bin/python bench/run.py --events {args.events}", file=sys.stderr)
        sys.exit(2)

    from pulse.store import Store

    store = Store(path)
    info = store.info()
    if info.timezone != "UTC":
        print(f"The store at {path} reports in {info.timezone}; this comparison reads an event's day as the UTC date "
              "of ts, so it needs a UTC store (bench/run.py builds one).", file=sys.stderr)
        sys.exit(2)
    store = Store(path, timezone=info.timezone, session_timeout=info.session_timeout)
    w = window(store)
    print(f"{path}: {info.rows['events']:,} events, {info.first_day} – {info.last_day}, timezone {info.timezone}")
    print(f"days: questions 1 and 4 {w.start} – {w.last}; question 2 {w.mau_start} – {w.last}; "
          f"question 3 weeks {w.week_start} – {w.week_end}; session timeout {w.timeout} min")
    print(f"each figure: the median of {RUNS} runs after one untimed run\n")

    results: dict[str, dict[str, float]] = {q: {} for q in QUESTIONS}
    answers: dict[str, dict[str, list[tuple]]] = {q: {} for q in QUESTIONS}
    run_engine("pulse", pulse_engine(store, w), results, answers)
    engines = ["pulse"]
    setups: list[tuple[str, Callable[[], Any]]] = [
        ("duckdb_raw", lambda: duckdb_raw_engine(path, w)),
        ("duckdb_rollup", lambda: duckdb_rollup_engine(path, w)),
        ("polars", lambda: polars_engine(path, w)),
        ("pandas", lambda: pandas_engine(path, w)),
        ("postgres", lambda: postgres_engine(path, args.postgres, w)),
    ]
    for name, setup in setups:
        started = time.perf_counter()
        built = setup()
        if built is None:
            continue
        engine, close = built
        print(f"  {ENGINES[name]}: set up in {time.perf_counter() - started:.1f} s (untimed)", flush=True)
        try:
            run_engine(name, engine, results, answers)
        finally:
            close()
            del engine, built
        engines.append(name)

    ok = report(results, answers, engines)
    summary(results)
    print(f"\npeak memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
    if not ok:
        print("MISMATCH: at least one engine's answer differs from Pulse's (see above)")
        sys.exit(1)


if __name__ == "__main__":
    main()
