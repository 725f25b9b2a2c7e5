"""The Data page's metrics: rows per table, the load log and the quarantine."""

from __future__ import annotations

import json
from datetime import datetime

import polars as pl
import pytest
from conftest import build_store, frame, q
from polars.testing import assert_frame_equal

from loaders.load import load_files
from loaders.validate import LoadError
from metrics import registry
from pulse.export import to_csv
from pulse.query import QueryError
from pulse.store import Store

TS = pl.Datetime("us")
RANGE = ("2024-01-01", "2024-01-31")
QUARANTINE_SCHEMA = {"table_name": pl.String, "source": pl.String, "row_number": pl.Int64, "rule": pl.String,
                     "quarantined_at": TS, "raw": pl.String, "load_id": pl.String}
LOG_SCHEMA = {"started": TS, "outcome": pl.String, "source": pl.String, "stored": pl.Int64, "updated": pl.Int64,
              "duplicates": pl.Int64, "quarantined": pl.Int64, "warnings": pl.String, "error": pl.String, "finished": TS,
              "load_id": pl.String}

USERS = [{"user_id": "u1", "signup_at": "2024-01-02 09:00"}, {"user_id": "u2", "signup_at": "2024-01-03 09:00"}]
EVENTS = [
    {"event_id": "e1", "user_id": "u1", "ts": "2024-01-03 10:00", "event_type": "login"},
    {"event_id": "e2", "user_id": "u1", "ts": "2024-01-04 10:00", "event_type": "login"},
    {"event_id": "e3", "user_id": "u2", "ts": "2024-01-05 10:00", "event_type": "login"},
]
# (table_name, source, row_number, rule, quarantined_at, raw, load_id): three loads, the oldest (L3) last.
L1_ROW2 = ("events", "events.csv", 2, "missing user_id", "2024-02-01 10:00", '{"event_id":"a","user_id":""}', "L1")
L1_ROW3 = ("events", "events.csv", 3, "bad timestamp in ts", "2024-02-01 10:00", '{"event_id":"b","ts":"yesterday"}', "L1")
L1_ROW5 = ("events", "events.csv", 5, "unknown event_type 'clik'", "2024-02-01 10:00", '{"event_id":"c","event_type":"clik"}',
           "L1")
L2_ROW1 = ("users", "users.csv", 1, "bad country code", "2024-02-02 09:00", '{"user_id":"u9","country":"Germany"}', "L2")
L2_ROW4 = ("users", "users.csv", 4, "missing user_id", "2024-02-02 09:00", '{"user_id":"","country":"DE"}', "L2")
L3_ROW7 = ("events", "more.ndjson", 7, "bad timestamp in ts", "2024-01-31 08:00", '{"event_id":"d","ts":"soon"}', "L3")
QUARANTINE = [L1_ROW3, L2_ROW4, L1_ROW5, L3_ROW7, L2_ROW1, L1_ROW2]


def quarantine_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame([(*r[:4], datetime.fromisoformat(r[4]), *r[5:]) for r in rows], schema=QUARANTINE_SCHEMA, orient="row")


def make(path, quarantine: list[tuple], **tables: list[dict]) -> Store:
    """A published store with these literal rows, the quarantine's with their own load ids and times
    (a real load stamps its own id and the time it ran)."""
    store = Store(path)
    with store.writer("test fixture") as writer:
        for table, rows in tables.items():
            writer.stage(table, frame(table, rows))
        writer.con.executemany(
            f"INSERT INTO quarantine ({', '.join(QUARANTINE_SCHEMA)}) VALUES ({', '.join('?' * len(QUARANTINE_SCHEMA))})",
            [[*r[:4], datetime.fromisoformat(r[4]), *r[5:]] for r in quarantine],
        )
    return store


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One store for the reading tests."""
    return make(tmp_path_factory.mktemp("data") / "pulse.duckdb", QUARANTINE, users=USERS, events=EVENTS)


@pytest.fixture
def empty(tmp_path):
    """A store with two users and three events, and nothing in the quarantine or the load log."""
    return build_store(tmp_path / "pulse.duckdb", users=USERS, events=EVENTS)


def run(store: Store, name: str, **options) -> pl.DataFrame:
    return registry.run(name, store, q(*RANGE, **options))


def test_table_rows_counts_each_input_table_and_the_quarantine(store):
    expected = pl.DataFrame({"users": [2], "events": [3], "transactions": [0], "subscriptions": [0], "quarantine": [6]})
    assert_frame_equal(run(store, "table_rows"), expected)


def test_quarantine_rows_oldest_first_then_by_file_and_row(store):
    # L3 was set aside first; within L1 (one instant, one file) the rows go by row number.
    expected = quarantine_frame([L3_ROW7, L1_ROW2, L1_ROW3, L1_ROW5, L2_ROW1, L2_ROW4])
    assert_frame_equal(run(store, "quarantine_rows"), expected)


@pytest.mark.parametrize("options, rows", [
    ({"table_name": "users"}, [L2_ROW1, L2_ROW4]),
    ({"rule": "bad timestamp in ts"}, [L3_ROW7, L1_ROW3]),
    ({"load_id": "L1"}, [L1_ROW2, L1_ROW3, L1_ROW5]),
    ({"rule": "missing user_id", "table_name": "events"}, [L1_ROW2]),
    ({"rule": "missing user_id", "load_id": "L2"}, [L2_ROW4]),
    ({"rule": "unknown event_type 'clik'", "table_name": "users"}, []),
    ({"rule": "no such rule"}, []),
], ids=["table", "rule", "load", "rule-and-table", "rule-and-load", "nothing-matches", "unknown-rule"])
def test_quarantine_rows_narrowed(store, options, rows):
    assert_frame_equal(run(store, "quarantine_rows", **options), quarantine_frame(rows))


@pytest.mark.parametrize("limit, offset, rows", [
    (2, 0, [L3_ROW7, L1_ROW2]),
    (2, 2, [L1_ROW3, L1_ROW5]),
    (2, 4, [L2_ROW1, L2_ROW4]),
    (2, 6, []),
    (0, 5, [L2_ROW4]),  # no limit: everything after the offset
])
def test_quarantine_rows_paged(store, limit, offset, rows):
    assert_frame_equal(run(store, "quarantine_rows", limit=limit, offset=offset), quarantine_frame(rows))


def test_quarantine_rows_download_is_the_export_csv(store):
    assert to_csv(run(store, "quarantine_rows", rule="bad timestamp in ts")) == (
        "table_name,source,row_number,rule,quarantined_at,raw,load_id\n"
        'events,more.ndjson,7,bad timestamp in ts,2024-01-31 08:00:00,"{""event_id"":""d"",""ts"":""soon""}",L3\n'
        'events,events.csv,3,bad timestamp in ts,2024-02-01 10:00:00,"{""event_id"":""b"",""ts"":""yesterday""}",L1\n'
    )


@pytest.mark.parametrize("options, message", [
    ({"table_name": "sessions"},
     "Option table_name='sessions' for quarantine_rows is not valid: one of users|events|transactions|subscriptions."),
    ({"limit": "-1"}, "Option limit='-1' for quarantine_rows is not valid: a whole number from 0 to 1000000."),
    ({"offset": "first"}, "Option offset='first' for quarantine_rows is not valid: a whole number from 0 to 1000000000."),
])
def test_quarantine_rows_rejects_bad_options_in_one_sentence(store, options, message):
    with pytest.raises(QueryError) as caught:
        run(store, "quarantine_rows", **options)
    assert str(caught.value) == message


def test_quarantine_rows_ignore_the_range_and_the_filters(store):
    # Every row was set aside in February 2024; the range is 2020 and nobody is in France.
    elsewhere = registry.run("quarantine_rows", store, q("2020-01-01", "2020-01-31", "month", country="FR"))
    assert_frame_equal(elsewhere, run(store, "quarantine_rows"))


def test_quarantine_summary_by_table_most_frequent_rule_first(store):
    expected = pl.DataFrame({
        "table_name": ["events", "events", "events", "users", "users"],
        # bad timestamp: L1 row 3 and L3 row 7; the rest once each, so by rule.
        "rule": ["bad timestamp in ts", "missing user_id", "unknown event_type 'clik'", "bad country code", "missing user_id"],
        "rows": [2, 1, 1, 1, 1],
    })
    assert_frame_equal(run(store, "quarantine_summary"), expected)


@pytest.mark.parametrize("facet, values, rows", [
    ("table_name", ["events", "users"], [4, 2]),
    ("rule", ["bad country code", "bad timestamp in ts", "missing user_id", "unknown event_type 'clik'"], [1, 2, 2, 1]),
    # Loads newest first: L2 on Feb 2, L1 on Feb 1, L3 on Jan 31.
    ("load_id", ["L2", "L1", "L3"], [2, 3, 1]),
])
def test_quarantine_facets(store, facet, values, rows):
    assert_frame_equal(run(store, "quarantine_facets", facet=facet), pl.DataFrame({"value": values, "rows": rows}))


def test_an_empty_quarantine(empty):
    assert_frame_equal(run(empty, "quarantine_rows"), quarantine_frame([]))
    assert_frame_equal(run(empty, "quarantine_summary"),
                       pl.DataFrame(schema={"table_name": pl.String, "rule": pl.String, "rows": pl.Int64}))
    assert_frame_equal(run(empty, "quarantine_facets", facet="rule"), pl.DataFrame(schema={"value": pl.String, "rows": pl.Int64}))
    expected = pl.DataFrame({"users": [2], "events": [3], "transactions": [0], "subscriptions": [0], "quarantine": [0]})
    assert_frame_equal(run(empty, "table_rows"), expected)


def log_frame(rows: list[tuple]) -> pl.DataFrame:
    def ts(text):
        return datetime.fromisoformat(text) if text else None

    return pl.DataFrame([(ts(r[0]), *r[1:9], ts(r[9]), r[10]) for r in rows], schema=LOG_SCHEMA, orient="row")


# What Pulse writes: a demo load (two tables), a load with warnings and quarantined rows, a
# failed load, an erasure and a rebuild (which logs no times); then a line a full disk cut
# short, and a blank line.
LOG = [
    {"source": "demo (users=2, days=1, seed=7)", "started": "2024-02-01T09:00:00+00:00", "load_id": "L0",
     "finished": "2024-02-01T09:00:05.250000+00:00", "outcome": "ok", "warnings": [],
     "tables": {"users": {"table": "users", "stored": 2, "updated": 0, "duplicates": 0, "quarantined": 0},
                "events": {"table": "events", "stored": 30, "updated": 0, "duplicates": 1, "quarantined": 0}}},
    {"source": "events from /data/events.csv", "started": "2024-02-01T10:00:00+00:00", "load_id": "L1",
     "finished": "2024-02-01T10:00:01+00:00", "outcome": "ok",
     "warnings": ["events.csv: unknown columns ignored: colour", "events.csv: something else"],
     "tables": {"events": {"table": "events", "stored": 5, "updated": 0, "duplicates": 2, "quarantined": 3}}},
    # Started in Berlin's offset: the log keeps UTC, but the page shows UTC whatever was written.
    {"source": "users from /data/users.csv", "started": "2024-02-02T11:00:00+01:00", "load_id": "L2",
     "finished": "2024-02-02T11:00:00.500000+01:00", "outcome": "failed",
     "error": "Cannot load /data/users.csv: the file does not exist."},
    {"source": "forget u9", "load_id": "L3", "started": "2024-02-03T08:00:00+00:00", "finished": "2024-02-03T08:00:02+00:00",
     "outcome": "erased", "erased_user": "u9", "actor": "alice", "removed": {"users": 1, "events": 4}},
    {"source": "rebuild", "outcome": "ok", "timezone": "Europe/Berlin", "session_timeout": 30},
]


def test_load_log_newest_first_with_unreadable_lines_as_rows(empty):
    lines = [json.dumps(entry) for entry in LOG]
    empty.log_path.write_text("\n".join(lines[:2] + ['{"source": "events from /data/cut.csv", "star'] + lines[2:]) + "\n\n")
    expected = log_frame([
        (None, "rebuild", "rebuild", 0, 0, 0, 0, "", "", None, ""),
        ("2024-02-03 08:00", "erased", "forget u9", 0, 0, 0, 0, "", "", "2024-02-03 08:00:02", "L3"),
        ("2024-02-02 10:00", "failed", "users from /data/users.csv", 0, 0, 0, 0, "",
         "Cannot load /data/users.csv: the file does not exist.", "2024-02-02 10:00:00.5", "L2"),
        (None, "unreadable", "line 3 of the load log", 0, 0, 0, 0, "",
         "The line is not a JSON object; nothing more is known of this entry.", None, ""),
        ("2024-02-01 10:00", "ok", "events from /data/events.csv", 5, 0, 2, 3,
         "events.csv: unknown columns ignored: colour; events.csv: something else", "", "2024-02-01 10:00:01", "L1"),
        # Summed over its tables: 2 users + 30 events stored, 1 duplicate event.
        ("2024-02-01 09:00", "ok", "demo (users=2, days=1, seed=7)", 32, 0, 1, 0, "", "", "2024-02-01 09:00:05.25", "L0"),
    ])
    assert_frame_equal(run(empty, "load_log"), expected)


def test_a_json_line_that_is_not_an_object_is_unreadable_too(empty):
    empty.log_path.write_text('["a", "list"]\n42\n')
    expected = log_frame([
        (None, "unreadable", f"line {n} of the load log", 0, 0, 0, 0, "",
         "The line is not a JSON object; nothing more is known of this entry.", None, "")
        for n in (2, 1)
    ])
    assert_frame_equal(run(empty, "load_log"), expected)


def test_no_load_log_yet(empty):
    assert not empty.log_path.exists()
    assert_frame_equal(run(empty, "load_log"), log_frame([]))


def test_real_loads_reach_the_log_and_the_quarantine(empty, tmp_path):
    """A load of a file with bad rows and a failed load, as `pulse load` runs them."""
    bad = tmp_path / "events.csv"
    bad.write_text("event_id,user_id,ts,event_type\n"
                   "e9,u1,2024-01-06T10:00:00Z,login\n"
                   "x1,u1,yesterday,login\n"
                   "x2,,2024-01-06T10:00:00Z,login\n"
                   "x3,u2,2024-01-06T10:00:00Z,clik\n")
    result = load_files(empty, "events", [bad])
    with pytest.raises(LoadError):
        load_files(empty, "events", [tmp_path / "missing.csv"])

    log = run(empty, "load_log")
    failed_error = f"Cannot load {tmp_path / 'missing.csv'}: the file does not exist."
    assert_frame_equal(log.drop("started", "finished", "load_id"), pl.DataFrame({
        "outcome": ["failed", "ok"],
        "source": [f"events from {tmp_path / 'missing.csv'}", f"events from {bad}"],
        "stored": [0, 1], "updated": [0, 0], "duplicates": [0, 0], "quarantined": [0, 3],
        "warnings": ["", ""], "error": [failed_error, ""],
    }))
    assert log["load_id"][1] == result.load_id

    rows = run(empty, "quarantine_rows")
    assert_frame_equal(rows.drop("quarantined_at"), pl.DataFrame({
        "table_name": ["events"] * 3, "source": [str(bad.resolve())] * 3, "row_number": [2, 3, 4],
        "rule": ["bad timestamp in ts", "missing user_id", "unknown event_type 'clik'"],
        "raw": ['{"event_id":"x1","user_id":"u1","ts":"yesterday","event_type":"login"}',
                '{"event_id":"x2","user_id":"","ts":"2024-01-06T10:00:00Z","event_type":"login"}',
                '{"event_id":"x3","user_id":"u2","ts":"2024-01-06T10:00:00Z","event_type":"clik"}'],
        "load_id": [result.load_id] * 3,
    }))
    # Set aside while the load ran.
    assert log["started"][1] <= rows["quarantined_at"][0] <= log["finished"][1]
