"""Pulse's SQL (pulse.sandbox and `pulse sql`): read-only queries of a literal store, and the
exact sentence for everything it refuses, with the store's bytes unchanged."""

from __future__ import annotations

import hashlib
import io
import os
import re
import time
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import build_store
from polars.testing import assert_frame_equal

from admin.db import AdminDB
from cli.main import main
from pulse import sandbox
from pulse.export import to_csv
from pulse.sandbox import DESCRIPTIONS, NotOneStatementError, SandboxError, run_sql, schema, stream_sql

EVENTS = [
    {"event_id": "e1", "user_id": "u1", "ts": "2024-01-01 10:00", "event_type": "login", "device_type": "mobile"},
    {"event_id": "e2", "user_id": "u2", "ts": "2024-01-01 11:00", "event_type": "login", "device_type": "desktop"},
    {"event_id": "e3", "user_id": "u1", "ts": "2024-01-03 10:00", "event_type": "page_view", "page_path": "/home"},
]
USERS = [
    {"user_id": "u1", "signup_at": "2023-12-31 09:00", "email": "=cmd@example.com", "plan": "pro"},
    {"user_id": "u2", "signup_at": "2024-01-01 08:30", "email": "b@example.com", "plan": "free"},
]
TRANSACTIONS = [{"transaction_id": "t1", "user_id": "u1", "ts": "2024-01-02 12:00", "kind": "purchase", "amount": "19.90"}]
PER_USER = ("SELECT user_id, count(*) AS events, min(day) AS first_day FROM events GROUP BY user_id "
            "ORDER BY user_id")
# A query DuckDB cannot answer from the range's size alone: about 20 s on this machine.
SLOW = "SELECT count(*) FROM range(10000000000) WHERE range % 7 = 3"
SLOW_SENTENCE = ("The query ran past 1 s and was stopped; narrow it (a shorter range, fewer columns) or export it whole "
                 "with pulse sql --out FILE.")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One store for the module: nothing here may change it, and each test checks its bytes."""
    return build_store(tmp_path_factory.mktemp("store") / "pulse.duckdb", events=EVENTS, users=USERS,
                       transactions=TRANSACTIONS)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_select_returns_the_whole_frame(store):
    frame, truncated = run_sql(store, PER_USER)
    # u1: e1 on Jan 1 and e3 on Jan 3; u2: e2 on Jan 1.
    expected = pl.DataFrame({"user_id": ["u1", "u2"], "events": [2, 1], "first_day": [date(2024, 1, 1)] * 2})
    assert_frame_equal(frame, expected)
    assert truncated is False


@pytest.mark.parametrize("sql", [
    "WITH e AS (SELECT * FROM events) SELECT count(*) AS n FROM e",
    "FROM events SELECT count(*) AS n",
    "SELECT * FROM (VALUES (3)) AS t(n)",
    "VALUES (3)",
])
def test_every_kind_of_query_runs(store, sql):
    frame, _ = run_sql(store, sql)
    assert frame.rows() == [(3,)]


@pytest.mark.parametrize("sql,columns", [
    ("DESCRIBE users", ["column_name", "column_type", "null", "key", "default", "extra"]),
    ("SHOW TABLES", ["name"]),
    ("SUMMARIZE transactions", ["column_name", "column_type", "min", "max", "approx_unique", "avg", "std", "q25", "q50",
                                "q75", "count", "null_percentage"]),
    ("EXPLAIN SELECT * FROM events", ["explain_key", "explain_value"]),
    ("EXPLAIN ANALYZE SELECT * FROM events", ["explain_key", "explain_value"]),
])
def test_describe_show_summarize_and_explain_run(store, sql, columns):
    frame, _ = run_sql(store, sql)
    assert frame.columns == columns and frame.height > 0


def test_values_polars_or_csv_cannot_hold_come_as_text_and_repeated_names_are_numbered(store):
    frame, _ = run_sql(store, "SELECT [1, 2] AS x, 1 AS x, {'a': 1} AS s, INTERVAL 1 DAY AS i, 'ab'::BLOB AS b")
    assert_frame_equal(frame, pl.DataFrame({"x": ["[1, 2]"], "x_1": [1], "s": ["{'a': 1}"], "i": ["1 day"], "b": ["ab"]}),
                       check_dtypes=False)
    assert frame.schema["x_1"] == pl.Int32


def test_limit_cuts_the_result_and_says_so(store):
    frame, truncated = run_sql(store, "SELECT event_id FROM events ORDER BY event_id", limit=2)
    assert (frame["event_id"].to_list(), truncated) == (["e1", "e2"], True)
    frame, truncated = run_sql(store, "SELECT event_id FROM events ORDER BY event_id", limit=3)
    assert (frame["event_id"].to_list(), truncated) == (["e1", "e2", "e3"], False)


def test_a_streamed_result_is_the_whole_frame_as_pulse_csv(store, monkeypatch):
    monkeypatch.setattr(sandbox, "BATCH_ROWS", 2)  # several batches, one header
    sql = ("SELECT e.*, u.email, t.amount FROM events e JOIN users u USING (user_id) "
           "LEFT JOIN transactions t USING (user_id) ORDER BY event_id")
    whole, _ = run_sql(store, sql)
    out = io.BytesIO()
    assert stream_sql(store, sql, out) == 3
    assert out.getvalue() == to_csv(whole).encode("utf-8")
    assert b"'=cmd@example.com" in out.getvalue()  # the formula is neutralised


def test_an_empty_result_streams_its_header(store):
    out = io.BytesIO()
    assert stream_sql(store, "SELECT user_id, plan FROM users WHERE false", out) == 0
    assert out.getvalue() == b"user_id,plan\n"


def test_schema_lists_every_table_with_types_and_descriptions(store):
    found = schema(store)
    assert found.columns == ["table", "column", "type", "description"]
    assert found["table"].unique(maintain_order=True).to_list() == list(DESCRIPTIONS)
    typed = {(t, c): ty for t, c, ty in found.select("table", "column", "type").iter_rows()}
    assert typed[("events", "ts")] == "TIMESTAMP"
    assert typed[("transactions", "amount")] == "DECIMAL(18,4)"
    assert typed[("user_days", "day")] == "DATE"
    assert typed[("sessions", "duration_s")] == "DOUBLE"
    # Every column the store has is described (a column added without a description fails here).
    assert found.filter(pl.col("description") == "").select("table", "column").rows() == []
    # And every description names a column the store has.
    assert sorted(typed) == sorted((t, c) for t, columns in DESCRIPTIONS.items() for c in columns)


def test_the_sandbox_is_configured_and_locked(store):
    settings = ["enable_external_access", "python_enable_replacements", "allow_unsigned_extensions",
                "autoinstall_known_extensions", "autoload_known_extensions", "lock_configuration"]
    frame, _ = run_sql(store, "SELECT " + ", ".join(f"current_setting('{name}') AS {name}" for name in settings))
    assert frame.rows(named=True) == [{name: name == "lock_configuration" for name in settings}]


FILES = "Reading files is not allowed in Pulse's SQL (it asked for {})."
# Each refused statement ({tmp}: the test's folder), its sentence, and a file it must not create.
REFUSED = [
    ("SELECT * FROM read_csv('/etc/passwd')", FILES.format("/etc/passwd"), None),
    ("SELECT * FROM read_parquet('{tmp}/in.parquet')", FILES.format("{tmp}/in.parquet"), None),
    ("SELECT * FROM read_json_auto('{tmp}/in.json')", FILES.format("{tmp}/in.json"), None),
    ("SELECT * FROM '{tmp}/users.csv'", FILES.format("{tmp}/users.csv"), None),
    ("SELECT * FROM glob('*')", FILES.format("*"), None),
    ("SELECT * FROM read_text('/etc/hostname')", FILES.format("/etc/hostname"), None),
    ("COPY (SELECT 1) TO '{tmp}/x.csv'", "Pulse's SQL is read-only: COPY would read or write a file.", "x.csv"),
    ("COPY users FROM '{tmp}/users.csv'", "Pulse's SQL is read-only: COPY would read or write a file.", None),
    ("EXPORT DATABASE '{tmp}/dump'", "Pulse's SQL is read-only: EXPORT DATABASE would write files.", "dump"),
    ("ATTACH '{tmp}/other.duckdb' AS other", "Pulse's SQL cannot attach or detach databases (ATTACH).", "other.duckdb"),
    ("DETACH store", "Pulse's SQL cannot attach or detach databases (DETACH).", None),
    ("INSTALL httpfs", "Pulse's SQL cannot install or load extensions (INSTALL).", None),
    ("LOAD httpfs", "Pulse's SQL cannot install or load extensions (LOAD).", None),
    ("SET memory_limit = '10GB'", "Pulse's SQL cannot change settings (SET).", None),
    ("PRAGMA threads = 64", "Pulse's SQL cannot change settings (PRAGMA).", None),
    ("RESET memory_limit", "Pulse's SQL cannot change settings (RESET).", None),
    ("USE memory", "Pulse's SQL cannot change settings (USE).", None),
    ("CREATE TABLE t AS SELECT 1", "Pulse's SQL is read-only and cannot run CREATE.", None),
    ("CREATE TEMP TABLE t AS SELECT 1", "Pulse's SQL is read-only and cannot run CREATE.", None),
    ("INSERT INTO users (user_id, signup_at) VALUES ('x', now())", "Pulse's SQL is read-only and cannot run INSERT.", None),
    ("UPDATE users SET plan = 'x'", "Pulse's SQL is read-only and cannot run UPDATE.", None),
    ("DELETE FROM events", "Pulse's SQL is read-only and cannot run DELETE.", None),
    ("DROP TABLE events", "Pulse's SQL is read-only and cannot run DROP.", None),
    ("ALTER TABLE users ADD COLUMN x INTEGER", "Pulse's SQL is read-only and cannot run ALTER.", None),
    ("EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1", "Pulse's SQL is read-only and cannot run CREATE.", None),
    ("CHECKPOINT", "Pulse's SQL runs queries only (SELECT, WITH, VALUES, FROM, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN), "
                   "not CHECKPOINT.", None),
    ("BEGIN TRANSACTION", "Pulse's SQL runs queries only (SELECT, WITH, VALUES, FROM, DESCRIBE, SHOW, SUMMARIZE or "
                          "EXPLAIN), not BEGIN.", None),
    ("PIVOT events ON event_type", "Pulse's SQL needs PIVOT's values listed: PIVOT … ON column IN ('a', 'b').", None),
]


@pytest.fixture
def folder(tmp_path):
    """A folder with a users file a statement might try to load."""
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "users.csv").write_text("user_id,signup_at\nintruder,2024-01-01 00:00:00\n")
    return folder


@pytest.mark.parametrize("sql,sentence,target", REFUSED)
def test_a_refused_statement_is_one_sentence_and_changes_nothing(store, folder, sql, sentence, target):
    before, files = sha256(store.path), sorted(folder.iterdir())
    with pytest.raises(SandboxError) as refused:
        run_sql(store, sql.format(tmp=folder))
    assert str(refused.value) == sentence.format(tmp=folder)
    assert sha256(store.path) == before
    assert sorted(folder.iterdir()) == files
    assert target is None or not (folder / target).exists()


# Below the parse-level check, DuckDB itself refuses each of these in the sandbox.
ENFORCED = [
    "SELECT * FROM read_csv('/etc/passwd')",
    "COPY (SELECT 1) TO '{tmp}/x.csv'",
    "COPY users FROM '{tmp}/users.csv'",
    "EXPORT DATABASE '{tmp}/dump'",
    "ATTACH '{tmp}/other.duckdb' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET memory_limit = '10GB'",
    "SET enable_external_access = true",
    "SET lock_configuration = false",
    "RESET memory_limit",
    "PRAGMA threads = 64",
    "CREATE TABLE t AS SELECT 1",
    "INSERT INTO users (user_id, signup_at) VALUES ('x', now())",
    "UPDATE users SET plan = 'x'",
    "DELETE FROM events",
    "DROP TABLE events",
    "ALTER TABLE users ADD COLUMN x INTEGER",
    "DETACH store",
]


@pytest.mark.parametrize("sql", ENFORCED)
def test_duckdb_itself_refuses_what_the_check_would_have(store, folder, sql):
    before, files = sha256(store.path), sorted(folder.iterdir())
    with pytest.raises(SandboxError):
        with sandbox._sandbox(store, None, "") as con:
            con.execute(sql.format(tmp=folder)).fetchall()
    assert sha256(store.path) == before
    assert sorted(folder.iterdir()) == files


@pytest.mark.parametrize("sql,sentence", [
    ("", "There is no SQL to run: give one query, e.g. SELECT count(*) FROM events."),
    ("  -- nothing here\n ; ", "There is no SQL to run: give one query, e.g. SELECT count(*) FROM events."),
    ("SELECT 1; DROP TABLE events", "Pulse's SQL runs one statement at a time, and this holds 2; run them one by one."),
])
def test_not_one_statement_is_refused(store, sql, sentence):
    before = sha256(store.path)
    with pytest.raises(NotOneStatementError, match=f"^{re.escape(sentence)}$"):
        run_sql(store, sql)
    assert sha256(store.path) == before


@pytest.mark.parametrize("sql", [SLOW, "SELECT count(*) FROM range(1000000) a, range(1000000) b WHERE a.range + b.range = -1"])
def test_a_query_past_its_time_is_stopped(store, sql):
    before, started = sha256(store.path), time.monotonic()
    with pytest.raises(SandboxError) as stopped:
        run_sql(store, sql, seconds=1)
    assert time.monotonic() - started < 3
    assert str(stopped.value) == SLOW_SENTENCE
    assert sha256(store.path) == before


def test_a_streamed_query_past_its_time_is_stopped(store):
    started = time.monotonic()
    with pytest.raises(SandboxError, match=r"^The query ran past 1 s and was stopped; narrow it \(a shorter range, "
                                           r"fewer columns\) or split it by range into several files\.$"):
        stream_sql(store, SLOW, io.BytesIO(), seconds=1)
    assert time.monotonic() - started < 3


def test_a_syntax_error_is_duckdbs_sentence(store):
    with pytest.raises(SandboxError, match=r'^The query failed: Parser Error: syntax error at or near "SELEC"\.$'):
        run_sql(store, "SELEC 1")


# -- pulse sql ---------------------------------------------------------------------------------


@pytest.fixture
def env(store, tmp_path):
    return {"PULSE_STORE": str(store.path), "PULSE_CONFIG": str(tmp_path / "none.toml"), "USER": "ana"}


def run(env, *args):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def sql_audit() -> list[str]:
    entries = AdminDB(os.environ["PULSE_ADMIN_DB"]).audit_log(action="sql.")
    return [f"{actor} {action} {detail}" for actor, action, detail in entries.select("actor", "action", "detail").rows()]


def test_pulse_sql_prints_csv_and_records_the_run(env):
    result = run(env, "sql", PER_USER)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == "user_id,events,first_day\nu1,2,2024-01-01\nu2,1,2024-01-01\n"
    assert sql_audit() == [f"ana sql.run {PER_USER} (2 rows to stdout)"]


def test_pulse_sql_says_when_it_cut_the_result(env):
    result = run(env, "sql", "SELECT user_id, email FROM users ORDER BY user_id", "--limit", "1", "--by", "bo")
    assert result.exit_code == 0
    assert result.stdout == "user_id,email\nu1,'=cmd@example.com\n"
    assert result.stderr == "The result has more than 1 row: raise --limit, or write them all with --out FILE.\n"
    assert sql_audit() == ["bo sql.run SELECT user_id, email FROM users ORDER BY user_id (1 rows to stdout, cut)"]


def test_pulse_sql_out_streams_the_whole_result(env, store, tmp_path):
    target = tmp_path / "events.csv"
    sql = "SELECT * FROM events ORDER BY ts"
    result = run(env, "sql", sql, "--out", str(target), "--limit", "1")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", f"Wrote 3 rows to {target}.\n")
    assert target.read_bytes() == to_csv(run_sql(store, sql)[0]).encode("utf-8")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []
    assert sql_audit() == [f"ana sql.run {sql} (3 rows to {target})"]


def test_pulse_sql_records_the_first_200_characters(env):
    sql = "SELECT 1 AS one -- " + "x" * 300
    assert run(env, "sql", sql).exit_code == 0
    assert sql_audit() == [f"ana sql.run {sql[:200]} (1 rows to stdout)"]


@pytest.mark.parametrize("sql,sentence,target", [REFUSED[0], REFUSED[6], REFUSED[9], REFUSED[13], REFUSED[19]])
def test_pulse_sql_refuses_in_one_line_and_exit_1(env, store, folder, sql, sentence, target):
    before = sha256(store.path)
    sql, sentence = sql.format(tmp=folder), sentence.format(tmp=folder)
    result = run(env, "sql", sql)
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", f"pulse: {sentence}\n")
    assert sha256(store.path) == before
    assert target is None or not (folder / target).exists()
    assert sql_audit() == [f"ana sql.run {sql} (refused: {sentence})"]


def test_pulse_sql_refused_with_out_leaves_no_file(env, store, tmp_path):
    target = tmp_path / "out.csv"
    result = run(env, "sql", "SELECT * FROM read_csv('/etc/passwd')", "--out", str(target))
    assert (result.exit_code, result.stderr) == (1, f"pulse: {FILES.format('/etc/passwd')}\n")
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


@pytest.mark.parametrize("sql,sentence", [
    ("", "There is no SQL to run: give one query, e.g. SELECT count(*) FROM events."),
    ("SELECT 1; SELECT 2", "Pulse's SQL runs one statement at a time, and this holds 2; run them one by one."),
])
def test_pulse_sql_without_exactly_one_statement_exits_2(env, sql, sentence):
    result = run(env, "sql", sql)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"pulse: {sentence}\n")
    assert sql_audit() == []


def test_pulse_sql_stops_a_query_past_the_time_setting(env, store):
    before, started = sha256(store.path), time.monotonic()
    result = run(env | {"PULSE_QUERY_SECONDS": "1"}, "sql", SLOW)
    assert time.monotonic() - started < 3
    assert (result.exit_code, result.stderr) == (1, f"pulse: {SLOW_SENTENCE}\n")
    assert sha256(store.path) == before


@pytest.mark.parametrize("sql", ["SELECT * FROM meta", "SELECT id_hash FROM erased_users",
                                 'SELECT * FROM "META"', "SELECT count(*) FROM store.main.erased_users"])
def test_pulses_own_bookkeeping_is_not_open_to_sql(sql, tmp_path):
    from conftest import build_store

    from pulse.sandbox import SandboxError, run_sql

    store = build_store(tmp_path / "pulse.duckdb", users=[{"user_id": "u1", "signup_at": "2026-01-01 09:00"}])
    with pytest.raises(SandboxError, match=r"^The (meta|erased_users) table is Pulse's own bookkeeping and not open to SQL\.$"):
        run_sql(store, sql)
