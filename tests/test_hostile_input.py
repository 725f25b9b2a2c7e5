"""Hostile and odd input: every file, database, option, date and path either works or fails
with one sentence; nothing is lost silently, nothing stored can break a page, and every CSV
Pulse writes is safe to open in a spreadsheet."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import build_store
from polars.testing import assert_frame_equal

from cli.main import main
from loaders.load import load_files, load_sql
from metrics.registry import all_metrics
from pulse.export import to_csv
from pulse.store import Store

EVENTS = [{"event_id": "e1", "user_id": "u1", "ts": "2024-01-01 10:00", "event_type": "login"}]


@pytest.fixture
def env(tmp_path):
    return {"PULSE_STORE": str(tmp_path / "pulse.duckdb"), "PULSE_CONFIG": str(tmp_path / "none.toml")}


def run(env, *args):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False, prog_name="pulse")


def rows(store: Store, sql: str) -> list[tuple]:
    return store.fetch(sql).rows()


# -- line endings ----------------------------------------------------------------------------

@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_csv_lines_may_end_in_lf_crlf_or_a_bare_cr(tmp_path, ending):
    path = tmp_path / "users.csv"
    path.write_bytes(ending.join(["user_id,name,signup_at", 'u1,"Ann\nLee",2024-01-01', "u2,Bo,2024-01-02", ""]).encode())
    store = Store(tmp_path / "pulse.duckdb")

    result = load_files(store, "users", [path])

    assert result.reports["users"].stored == 2
    assert rows(store, "SELECT user_id, name, signup_at FROM users ORDER BY 1") == [
        ("u1", "Ann\nLee", datetime(2024, 1, 1)), ("u2", "Bo", datetime(2024, 1, 2))]


def test_a_cr_csv_larger_than_a_chunk_keeps_every_row_and_its_number(tmp_path):
    path = tmp_path / "events.csv"
    lines = [f"e{i},u1,2024-03-01T00:00:00Z,login" for i in range(1, 60_001)]
    lines[45_000] = "e45001,u1,2024-03-01T00:00:00Z,click"
    path.write_bytes("\r".join(["event_id,user_id,ts,event_type", *lines]).encode())
    store = Store(tmp_path / "pulse.duckdb")

    result = load_files(store, "events", [path])

    assert (result.reports["events"].stored, result.reports["events"].quarantined) == (59_999, 1)
    assert rows(store, "SELECT row_number, rule FROM quarantine") == [(45_001, "unknown event_type 'click'")]


@pytest.mark.parametrize("ending", ["\r\n", "\r"], ids=["CRLF", "CR"])
def test_ndjson_lines_may_end_in_crlf_or_a_bare_cr(tmp_path, ending):
    path = tmp_path / "users.ndjson"
    lines = ['{"user_id": "u1", "signup_at": "2024-01-01"}', "", '{"user_id": "u2", "signup_at": "2024-01-02"}', ""]
    path.write_bytes(ending.join(lines).encode())
    store = Store(tmp_path / "pulse.duckdb")

    assert load_files(store, "users", [path]).reports["users"].stored == 2


# -- Parquet and Arrow types ----------------------------------------------------------------

def test_parquet_binary_map_and_list_columns_are_text_and_bad_bytes_a_rule(tmp_path):
    path = tmp_path / "users.parquet"
    pq.write_table(pa.table({
        "user_id": pa.array([b"u1", b"u2", b"\xff\xfeu3"], pa.binary()),
        "name": pa.array([b"Ann", None, b"Cy"], pa.large_binary()),
        "signup_at": pa.array(["2024-01-01", "2024-01-02", "2024-01-03"]),
        "plan": pa.array([[("tier", 1)], None, []], pa.map_(pa.string(), pa.int64())),
        "auth_provider": pa.array([["google", "email"], None, []], pa.list_(pa.string())),
        # Extra columns, in types polars could neither read (decimal256) nor write as JSON.
        "extra_map": pa.array([[(1, b"\xff")], None, []], pa.map_(pa.int64(), pa.binary())),
        "extra_binary": pa.array([b"\xff", b"ok", None], pa.binary()),
        "extra_decimal": pa.array([Decimal("1.5"), None, None], pa.decimal256(60, 2)),
    }), path)
    store = Store(tmp_path / "pulse.duckdb")

    result = load_files(store, "users", [path])

    assert result.warnings == [f"{path.resolve()}: unknown columns ignored: extra_map, extra_binary, extra_decimal"]
    assert rows(store, "SELECT user_id, name, auth_provider, plan FROM users ORDER BY 1") == [
        ("u1", "Ann", '["google","email"]', '{"tier":1}'), ("u2", None, None, None)]
    assert rows(store, "SELECT source, row_number, rule, raw FROM quarantine") == [(
        str(path.resolve()), 3, "user_id is not UTF-8 text",
        r'{"user_id":"\\xff\\xfeu3","name":"Cy","signup_at":"2024-01-03","plan":{},"auth_provider":[],'
        r'"extra_map":"{}","extra_binary":null,"extra_decimal":null}',
    )]


def test_parquet_events_fold_nested_and_binary_extras_into_properties(tmp_path):
    path = tmp_path / "events.parquet"
    pq.write_table(pa.table({
        "event_id": pa.array([b"e1", b"e2", b"e3"], pa.large_binary()),
        "user_id": ["u1", "u1", "u1"],
        # 10:00 UTC, written by a Tokyo-zoned writer: the zone is a label on the same instant.
        "ts": pa.array([1_709_287_200_000_000] * 3, pa.timestamp("us", tz="Asia/Tokyo")),
        "event_type": ["custom"] * 3,
        "properties": pa.array([[("plan", "pro")], None, [("plan", "free")]], pa.map_(pa.string(), pa.string())),
        "tags": pa.array([["a", "b"], None, []], pa.list_(pa.string())),
        "origin": pa.array([{"app": "ios", "build": 7}, None, None], pa.struct([("app", pa.string()), ("build", pa.int64())])),
        "note": pa.array([b"hi", None, b"\xc3("], pa.binary()),
    }), path)
    store = Store(tmp_path / "pulse.duckdb")

    result = load_files(store, "events", [path])

    assert (result.reports["events"].stored, result.reports["events"].quarantined) == (2, 1)
    assert rows(store, "SELECT event_id, ts, properties FROM events ORDER BY 1") == [
        ("e1", datetime(2024, 3, 1, 10, 0), '{"tags":["a","b"],"origin":{"app":"ios","build":7},"note":"hi","plan":"pro"}'),
        ("e2", datetime(2024, 3, 1, 10, 0), None),
    ]
    assert rows(store, "SELECT row_number, rule FROM quarantine") == [(3, "note is not UTF-8 text")]


@pytest.mark.parametrize("column", [
    pa.array([b"\xff"], pa.binary(1)),
    pa.array([b"x"], pa.binary_view()),
    pa.array([1.5], pa.float16()),
    pa.array([3_600_000_000], pa.time64("us")),
    pa.array([5], pa.duration("s")),
    pa.array([Decimal("1.5")], pa.decimal256(60, 2)),
    pa.array([[b"\xff"]], pa.list_(pa.binary())),
    pa.array([[(1, "v")]], pa.map_(pa.int64(), pa.string())),
    pa.array(["x"]).dictionary_encode(),
    pa.array([None], pa.null()),
    pa.array([1], pa.timestamp("us", tz="Mars/Olympus")),
], ids=lambda c: str(c.type))
@pytest.mark.parametrize("table", ["users", "events"])
def test_any_arrow_type_as_an_extra_column_loads(tmp_path, table, column):
    path = tmp_path / "data.parquet"
    required = {"users": {"user_id": ["u1"], "signup_at": ["2024-01-01"]},
                "events": {"event_id": ["e1"], "user_id": ["u1"], "ts": ["2024-01-01"], "event_type": ["login"]}}[table]
    pq.write_table(pa.table({**required, "odd": column}), path)
    store = Store(tmp_path / "pulse.duckdb")

    report = load_files(store, table, [path]).reports[table]

    assert report.stored + report.quarantined == 1


# -- timestamps outside the supported days -----------------------------------------------------

# Loaded with the reporting timezone Asia/Tokyo (UTC+9): a timestamp must be a supported day
# both in UTC and in Tokyo.
EXTREMES = [
    ("9999-12-31T23:59:59Z", None),
    ("0001-01-01T00:00:00+05:00", None),  # year 0 in UTC
    ("2199-12-31T15:00:00Z", None),  # 2200-01-01 00:00 in Tokyo
    ("2199-12-31T14:59:59Z", datetime(2199, 12, 31, 14, 59, 59)),
    ("1969-12-31T15:00:00Z", None),  # 1970-01-01 in Tokyo, but 1969 in UTC
    ("1970-01-01T00:00:00Z", datetime(1970, 1, 1)),
    ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59)),  # a leap second, clamped
    ("2016-12-31T23:59:60.5+01:00", datetime(2016, 12, 31, 22, 59, 59, 500000)),
]
OUTSIDE = "signup_at is outside 1970-01-01 to 2199-12-31"


def expect_extremes(store: Store) -> None:
    stored = [(f"u{i}", ts) for i, (_, ts) in enumerate(EXTREMES) if ts is not None]
    assert rows(store, "SELECT user_id, signup_at FROM users ORDER BY signup_at") == sorted(stored, key=lambda r: r[1])
    assert rows(store, "SELECT row_number, rule FROM quarantine ORDER BY row_number") == [
        (i + 1, OUTSIDE) for i, (_, ts) in enumerate(EXTREMES) if ts is None]
    # Every local day exists: the derived tables (and so every page) can be built and read.
    assert store.scalar("SELECT max(signup_day) FROM people") == date(2199, 12, 31)


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet"])
def test_extreme_timestamps_in_every_file_format(tmp_path, fmt):
    path = tmp_path / f"users.{fmt}"
    ids, values = [f"u{i}" for i in range(len(EXTREMES))], [text for text, _ in EXTREMES]
    if fmt == "csv":
        path.write_text("user_id,signup_at\n" + "".join(f"{u},{v}\n" for u, v in zip(ids, values)))
    elif fmt == "ndjson":
        path.write_text("".join(json.dumps({"user_id": u, "signup_at": v}) + "\n" for u, v in zip(ids, values)))
    else:
        pq.write_table(pa.table({"user_id": ids, "signup_at": values}), path)
    store = Store(tmp_path / "pulse.duckdb", timezone="Asia/Tokyo")

    load_files(store, "users", [path])

    expect_extremes(store)


def test_extreme_timestamps_typed_in_parquet(tmp_path):
    path = tmp_path / "users.parquet"
    pq.write_table(pa.table({
        "user_id": ["u1", "u2", "u3", "u4"],
        "signup_at": pa.array([datetime(9999, 12, 31, 23, 59, 59), datetime(1, 1, 1), datetime(2024, 3, 1),
                               datetime(2199, 12, 31, 15)], pa.timestamp("us")),
        "ended": pa.array([date(1, 1, 1), date(2024, 3, 1), date(9999, 12, 31), None], pa.date32()),
    }), path)
    store = Store(tmp_path / "pulse.duckdb", timezone="Asia/Tokyo")

    load_files(store, "users", [path])

    assert rows(store, "SELECT user_id, signup_at FROM users") == [("u3", datetime(2024, 3, 1))]
    assert rows(store, "SELECT row_number, rule FROM quarantine ORDER BY 1") == [(1, OUTSIDE), (2, OUTSIDE), (4, OUTSIDE)]


def test_extreme_timestamps_from_a_database(tmp_path):
    database = tmp_path / "app.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE accounts (user_id TEXT, signup_at TEXT)")
        connection.executemany("INSERT INTO accounts VALUES (?, ?)", [(f"u{i}", text) for i, (text, _) in enumerate(EXTREMES)])
    store = Store(tmp_path / "pulse.duckdb", timezone="Asia/Tokyo")

    load_sql(store, f"sqlite:///{database}", "users", source_table="accounts")

    expect_extremes(store)


def test_a_database_column_of_bytes_mixed_types_or_huge_numbers_is_read_as_text(tmp_path):
    database = tmp_path / "shop.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE sales (transaction_id, user_id BLOB, ts, kind, amount)")
        connection.executemany("INSERT INTO sales VALUES (?, ?, ?, ?, ?)", [
            ("t1", b"u1", "2024-03-01", "purchase", 19.99),
            ("t2", b"\xff", "2024-03-01", "purchase", "5"),
            (3, b"u3", "2024-03-01", "purchase", "99999999999999999999"),
        ])
    store = Store(tmp_path / "pulse.duckdb")

    load_sql(store, f"sqlite:///{database}", "transactions", source_table="sales")

    assert rows(store, "SELECT transaction_id, user_id, amount FROM transactions") == [("t1", "u1", Decimal("19.9900"))]
    assert rows(store, "SELECT row_number, rule FROM quarantine ORDER BY 1") == [
        (2, "user_id is not UTF-8 text"), (3, "bad amount")]


@pytest.mark.postgres
def test_postgres_types_no_polars_type_holds_are_read_as_text(tmp_path):
    import uuid

    import sqlalchemy as sa
    from conftest import POSTGRES_URL

    engine = sa.create_engine(POSTGRES_URL)
    table = f"hostile_{uuid.uuid4().hex[:12]}"
    with engine.begin() as connection:
        connection.exec_driver_sql(
            f"CREATE TABLE {table} (user_id bytea, signup_at timestamptz, name inet, plan interval, auth_provider time,"
            " timezone text[], score numeric, note point)")
        # A NaN numeric made polars panic; 1e100 is beyond any polars decimal.
        connection.exec_driver_sql(
            f"INSERT INTO {table} VALUES ('u1', '2024-01-01 10:00+05', '10.0.0.1', '1 day', '10:00', NULL, 'NaN',"
            " point(1, 2)), ('\\xff', '2199-12-31 23:00+00', NULL, NULL, NULL, ARRAY['UTC'], 1e100, NULL)")
    store = Store(tmp_path / "pulse.duckdb")
    try:
        load_sql(store, POSTGRES_URL, "users", source_table=table)
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE {table}")
        engine.dispose()

    assert rows(store, "SELECT user_id, name, plan, auth_provider, signup_at FROM users") == [
        ("u1", "10.0.0.1", "1 day, 0:00:00", "10:00:00", datetime(2024, 1, 1, 5))]
    assert rows(store, "SELECT row_number, rule FROM quarantine") == [(2, "user_id is not UTF-8 text")]


# -- options, dates, paths and the command line -------------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    (["quarantine_rows", "--option", "limit=99999999999999999999999"],
     "Option limit='99999999999999999999999' for quarantine_rows is not valid: a whole number from 0 to 1000000."),
    (["transactions_list", "--option", "offset=9999999999999"],
     "Option offset='9999999999999' for transactions_list is not valid: a whole number from 0 to 1000000000."),
    (["funnel", "--option", "steps=login", "--option", "window_days=9999999999999"],
     "Option window_days='9999999999999' for funnel is not valid: a whole number from 1 to 3650."),
    (["lifetime", "--option", "inactive_days=99999999999999"],
     "Option inactive_days='99999999999999' for lifetime is not valid: a whole number from 0 to 3650."),
    (["sessions", "--option", "session_timeout_minutes=999999999999999"],
     "Option session_timeout_minutes='999999999999999' for sessions is not valid: a whole number from 1 to 1440."),
    (["retention", "--option", "periods=NaN"], "Option periods='NaN' for retention is not valid: a whole number from 1 to 1000."),
    (["trial_conversion", "--option", "within_days=1e9"],
     "Option within_days='1e9' for trial_conversion is not valid: a whole number from 0 to 3650."),
    (["retention_by", "--option", "top=18446744073709551616"],
     "Option top='18446744073709551616' for retention_by is not valid: a whole number from 0 to 1000."),
    (["transactions_list", "--option", "min_amount=NaN"], "Option min_amount='NaN' is not an amount; use a number such as 9.99."),
    (["transactions_list", "--option", "max_amount=-Infinity"],
     "Option max_amount='-Infinity' is not an amount; use a number such as 9.99."),
    (["transactions_list", "--option", "min_amount=1e999999"],
     "Option min_amount='1e999999' is beyond any amount Pulse stores (at most 99999999999999.9999)."),
    (["api_usage", "--option", "limits=free=99999999999999999999"],
     "The API limit 'free=99999999999999999999' is not plan=calls with a whole number from 1 to 1000000000000, e.g. free=1000."),
    (["active_users", "--end", "0001-01-01"],
     "The end date 0001-01-01 is outside the days Pulse supports, 1970-01-01 to 2199-12-31."),
    (["active_users", "--start", "9999-11-01", "--end", "2024-01-01", "--interval", "month"],
     "The start date 9999-11-01 is outside the days Pulse supports, 1970-01-01 to 2199-12-31."),
    (["active_users", "--start", "2199-12-01", "--end", "9999-12-31", "--interval", "week"],
     "The end date 9999-12-31 is outside the days Pulse supports, 1970-01-01 to 2199-12-31."),
    # --start defaults to 29 days before --end, which may itself be too early.
    (["active_users", "--end", "1970-01-10"],
     "The start date 1969-12-12 is outside the days Pulse supports, 1970-01-01 to 2199-12-31."),
    (["active_user_list", "--option", "period=0001-01-01"],
     "The option period 0001-01-01 is outside the days Pulse supports, 1970-01-01 to 2199-12-31."),
])
def test_out_of_bounds_options_and_dates_are_one_sentence(env, args, message):
    build_store(Path(env["PULSE_STORE"]), events=EVENTS)
    result = run(env, "export", *args)
    assert (result.exit_code, result.stderr, result.stdout) == (2, f"pulse: {message}\n", "")


def test_every_whole_number_option_declares_its_bounds():
    unbounded = [f"{m.name}.{o.name}" for m in all_metrics() for o in m.options
                 if o.kind == "int" and (o.minimum is None or o.maximum is None)]
    assert unbounded == []


def test_the_widest_supported_range_exports_by_month_and_week(env):
    build_store(Path(env["PULSE_STORE"]), events=EVENTS)
    for interval, periods in (("month", 230 * 12), ("week", 12_002)):
        result = run(env, "export", "active_users", "--start", "1970-01-01", "--end", "2199-12-31", "--interval", interval)
        assert result.exit_code == 0, result.stderr
        assert result.stdout.count("\n") == periods + 1


@pytest.mark.parametrize("args", [
    ["export", "active_users", "--out", "{missing}/out.csv"],
    ["quarantine", "--csv", "{missing}/bad.csv"],
    ["user", "export", "u1", "--out", "{missing}/u1.json"],
])
def test_a_file_into_a_folder_that_does_not_exist_is_refused_before_any_work(env, tmp_path, args):
    missing = tmp_path / "no" / "such"
    result = run(env, *[a.format(missing=missing) for a in args])
    target = Path(args[-1].format(missing=missing))
    # No store exists either: the path is checked first, so its sentence is the one shown.
    assert (result.exit_code, result.stderr) == (1, f"pulse: Cannot write {target}: the folder {missing} does not exist.\n")
    assert not (tmp_path / "no").exists()


def test_a_file_that_is_a_folder_is_refused(env, tmp_path):
    build_store(Path(env["PULSE_STORE"]), events=EVENTS)
    result = run(env, "export", "active_users", "--out", str(tmp_path))
    assert (result.exit_code, result.stderr) == (1, f"pulse: Cannot write {tmp_path}: it is a folder.\n")


def test_an_export_file_is_written_whole_or_not_at_all(env, tmp_path):
    build_store(Path(env["PULSE_STORE"]), events=EVENTS)
    target = tmp_path / "out.csv"
    assert run(env, "export", "active_users", "--start", "2024-01-01", "--end", "2024-01-01", "--out", str(target)).exit_code == 0
    assert target.read_text() == "period,active_users\n2024-01-01,1\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_a_malformed_port_in_a_database_url_is_one_sentence(env):
    result = run(env, "load-sql", "--url", "postgresql+psycopg://me:secret@db.example.com:5x32/shop", "--table", "users",
                 "--query", "SELECT 1")
    assert (result.exit_code, result.stderr) == (1, (
        "pulse: Cannot read from the database: the URL is not a valid SQLAlchemy URL "
        "(for example postgresql+psycopg://user@host:5432/dbname).\n"))


@pytest.mark.parametrize(("args", "message"), [
    (["load", "users"], "Missing argument 'FILES...'. See `pulse load --help`."),
    (["load", "people", "x.csv"],
     "Invalid value for '{users|events|transactions|subscriptions}': 'people' is not one of 'users', 'events', "
     "'transactions', 'subscriptions'. See `pulse load --help`."),
    (["load", "users", "x.csv", "--fomat", "csv"], "No such option '--fomat'. Did you mean '--format'? See `pulse load --help`."),
    (["lode"], "No such command 'lode'. (Did you mean one of: 'load', 'loads'?) See `pulse --help`."),
    (["--colour"], "No such option '--colour'. See `pulse --help`."),
    (["demo", "--days", "99999999"],
     "Invalid value for '--days': 99999999 is not in the range 1<=x<=3650. See `pulse demo --help`."),
    (["quarantine", "--limit", "0"], "Invalid value for '--limit': 0 is not in the range x>=1. See `pulse quarantine --help`."),
    (["user", "forget"], "Missing argument 'USER_ID'. See `pulse user forget --help`."),
])
def test_click_usage_errors_are_one_line(env, args, message):
    result = run(env, *args)
    assert (result.exit_code, result.stderr, result.stdout) == (2, f"pulse: {message}\n", "")


# -- a damaged store, a damaged load log, an error nobody foresaw ---------------------------------

@pytest.mark.parametrize("damage", [
    lambda data: bytes(range(256)) * 400,
    lambda data: data[: len(data) // 3],
], ids=["garbage", "truncated"])
def test_a_damaged_store_is_one_sentence_and_left_as_it_is(env, tmp_path, damage):
    store_path = Path(env["PULSE_STORE"])
    build_store(store_path, events=EVENTS)
    store_path.write_bytes(damage(store_path.read_bytes()))
    before = store_path.read_bytes()
    users = tmp_path / "users.csv"
    users.write_text("user_id,signup_at\nu9,2024-01-01\n")

    for args in (["export", "active_users"], ["load", "users", str(users)], ["quarantine"], ["rebuild"],
                 ["user", "forget", "u1", "--yes"]):
        result = run(env, *args)
        assert result.exit_code == 1, args
        opening = f"pulse: The store at {store_path} cannot be opened: it is damaged or not a Pulse store ("
        assert result.stderr.startswith(opening), args
        assert result.stderr.count("\n") == 1 and ".next-" not in result.stderr, args
    assert store_path.read_bytes() == before
    assert list(tmp_path.glob("*.next-*")) == []


def test_a_duckdb_file_that_is_not_a_pulse_store(env):
    import duckdb

    duckdb.connect(env["PULSE_STORE"]).close()
    result = run(env, "export", "active_users")
    assert (result.exit_code, result.stderr) == (1, (
        f"pulse: The store at {env['PULSE_STORE']} cannot be opened: it is damaged or not a Pulse store "
        "(Catalog Error: Table with name meta does not exist!).\n"))


def test_loads_skips_and_counts_unreadable_lines_of_the_log(env, tmp_path):
    users = tmp_path / "users.csv"
    users.write_text("user_id,signup_at\nu1,2024-01-01\n")
    assert run(env, "load", "users", str(users)).exit_code == 0
    log = Path(env["PULSE_STORE"] + ".loads.jsonl")
    log.write_text(log.read_text() + '{"source": "cut short by a full di\n[1, 2]\n')
    assert run(env, "load", "users", str(users)).exit_code == 0

    result = run(env, "loads")

    assert result.exit_code == 0
    assert result.stdout.count(f"users from {users}") == 2
    assert result.stderr == f"2 lines of the load log could not be read and were skipped ({log}).\n"


def test_an_unexpected_error_is_one_line_naming_the_command_and_its_traceback_file(env, monkeypatch):
    import pulse.export

    def broken(frame):
        raise RuntimeError("the exporter fell over\nsecond line")

    build_store(Path(env["PULSE_STORE"]), events=EVENTS)
    monkeypatch.setattr(pulse.export, "to_csv", broken)

    result = run(env, "export", "active_users")

    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    prefix = "pulse: `pulse export` failed unexpectedly (RuntimeError: the exporter fell over); the full traceback is in "
    assert result.stderr.startswith(prefix) and result.stderr.endswith(".log.\n")
    log = Path(result.stderr[len(prefix):-2])
    assert log.read_text().startswith("pulse export\n\nTraceback (most recent call last):")
    assert "RuntimeError: the exporter fell over\nsecond line" in log.read_text()
    log.unlink()


# -- the smaller items -------------------------------------------------------------------------

def test_loading_a_file_again_quarantines_nothing_twice_and_publishes_nothing(env, tmp_path):
    events = tmp_path / "events.csv"
    events.write_text("event_id,user_id,ts,event_type\ne1,u1,2024-01-01,login\ne2,u1,yesterday,login\n")
    store = Store(env["PULSE_STORE"])
    load_files(store, "events", [events])
    before = store.path.read_bytes()

    again = load_files(store, "events", [events]).reports["events"]

    assert (again.stored, again.duplicates, again.quarantined) == (0, 1, 1)
    assert store.path.read_bytes() == before
    assert rows(store, "SELECT source, row_number, rule FROM quarantine") == [(str(events.resolve()), 2, "bad timestamp in ts")]


def test_the_quarantine_keeps_each_files_full_path(tmp_path):
    first, second = tmp_path / "a" / "events.csv", tmp_path / "b" / "events.csv"
    for path in (first, second):
        path.parent.mkdir()
        path.write_text("event_id,user_id,ts,event_type\ne1,u1,yesterday,login\n")
    store = Store(tmp_path / "pulse.duckdb")

    load_files(store, "events", [first, second])

    assert rows(store, "SELECT source FROM quarantine ORDER BY 1") == [(str(first),), (str(second),)]


@pytest.mark.parametrize("args", [
    ["load", "users", "{missing}"],
    ["load-sql", "--url", "sqlite:///{missing}", "--table", "users", "--source-table", "nothing"],
    ["rebuild"],
    ["user", "forget", "nobody", "--yes"],
    ["demo", "--users", "3", "--days", "2", "--if-empty"],
])
def test_every_command_that_writes_sweeps_what_killed_loads_left(env, tmp_path, args):
    store_path = Path(env["PULSE_STORE"])
    build_store(store_path, events=EVENTS)
    leftovers = [store_path.with_name(store_path.name + ".next-999-deadbeef"),
                 store_path.with_name(store_path.name + ".next-999-deadbeef.wal")]
    for leftover in leftovers:
        leftover.write_bytes(b"half a load")
    spill = store_path.with_name(store_path.name + ".tmp")
    spill.mkdir()
    (spill / "duckdb_temp_block").write_bytes(b"spilled")

    run(env, *[a.format(missing=tmp_path / "missing.csv") for a in args])

    assert [p.exists() for p in leftovers] == [False, False] and not spill.exists()


# -- CSV that is safe to open in a spreadsheet --------------------------------------------------

def test_every_csv_neutralises_formula_cells_in_text_columns_only():
    frame = pl.DataFrame({
        "name": ["=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)", "\tTab", "\rCR", "Ann", None, "a=b"],
        "amount": pl.Series([Decimal("-5.00")] * 9, dtype=pl.Decimal(18, 2)),
        "share": [-0.5] * 9,
        "count": [-3] * 9,
        "day": [date(2024, 1, 1)] * 9,
    })

    assert to_csv(frame) == (
        "name,amount,share,count,day\n"
        "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",-5.00,-0.5,-3,2024-01-01\n"
        "'+cmd|' /C calc'!A0,-5.00,-0.5,-3,2024-01-01\n"
        "'-2+3,-5.00,-0.5,-3,2024-01-01\n"
        "'@SUM(1),-5.00,-0.5,-3,2024-01-01\n"
        "'\tTab,-5.00,-0.5,-3,2024-01-01\n"
        "\"'\rCR\",-5.00,-0.5,-3,2024-01-01\n"
        "Ann,-5.00,-0.5,-3,2024-01-01\n"
        ",-5.00,-0.5,-3,2024-01-01\n"
        "a=b,-5.00,-0.5,-3,2024-01-01\n"
    )


def test_exports_neutralise_formulas_a_user_stored(env):
    build_store(Path(env["PULSE_STORE"]), users=[
        {"user_id": "u1", "signup_at": "2024-01-01 10:00", "name": "=HYPERLINK(\"http://evil\")", "email": "@x.example"},
    ])
    result = run(env, "export", "user_search", "--option", "text=u1")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[1].startswith("u1,'@x.example,\"'=HYPERLINK(\"\"http://evil\"\")\",")
