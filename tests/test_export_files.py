"""Writing a metric's table to a file (metrics.files): the CSV is byte for byte `pulse export`'s,
gzipped and Parquet files hold the same table, streamed lists equal whole ones however they are
batched, and events_list (the events explorer) on literal rows."""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import build_store, q
from polars.testing import assert_frame_equal

from cli.main import main
from metrics import files, registry
from metrics.files import write_export
from pulse.export import to_csv

TS = pl.Datetime("us")

USERS = [
    {"user_id": "u1", "signup_at": "2024-02-01 09:00", "country": "DE", "plan": "pro"},
    {"user_id": "u2", "signup_at": "2024-02-01 09:00", "country": "US"},
    {"user_id": "u3", "signup_at": "2024-02-01 09:00"},
]
EVENTS = [
    # The day before the range (in UTC; in New York it is earlier still).
    {"event_id": "e0", "user_id": "u1", "ts": "2024-02-29 23:59", "event_type": "login", "device_type": "desktop"},
    {"event_id": "e1", "user_id": "u1", "ts": "2024-03-01 09:00", "event_type": "page_view", "page_path": "/pricing",
     "device_type": "desktop", "browser": "Chrome", "os": "macOS", "country_code": "DE", "referrer": "https://google.com"},
    # The same instant as e1: the higher event_id comes first.
    {"event_id": "e2", "user_id": "u1", "ts": "2024-03-01 09:00", "event_type": "feature_use",
     "event_name": '=HYPERLINK("http://evil")', "device_type": "mobile"},
    {"event_id": "e3", "user_id": "u3", "ts": "2024-03-02 12:00", "event_type": "custom", "event_name": "@SUM(A1)",
     "page_path": "-2+3", "browser": "Firefox, beta", "referrer": "\tTAB"},
    {"event_id": "e4", "user_id": "u2", "ts": "2024-03-02 23:59:59", "event_type": "login", "device_type": "desktop",
     "country_code": "US", "referrer": "+cmd|calc"},
    # The day after the range in UTC; in New York still 2024-03-02 (19:00).
    {"event_id": "e5", "user_id": "u2", "ts": "2024-03-03 00:00", "event_type": "page_view", "page_path": "/",
     "device_type": "tablet"},
]
TRANSACTIONS = [
    {"transaction_id": "t1", "user_id": "u1", "ts": "2024-03-01 10:00", "kind": "purchase", "amount": "10.005",
     "category": "compute", "product_name": "=1+1"},
    {"transaction_id": "t2", "user_id": "u2", "ts": "2024-03-02 11:00", "kind": "refund", "amount": "5",
     "currency": "EUR", "category": "@evil"},
    {"transaction_id": "t3", "user_id": "u1", "ts": "2024-03-05 10:00", "kind": "purchase", "amount": "7"},
]
TABLES = {"users": USERS, "events": EVENTS, "transactions": TRANSACTIONS}
RANGE = ("2024-03-01", "2024-03-02")
SCHEMA = {"event_id": pl.String, "user_id": pl.String, "ts": TS, "event_type": pl.String, "event_name": pl.String,
          "page_path": pl.String, "device_type": pl.String, "browser": pl.String, "os": pl.String,
          "country_code": pl.String, "referrer": pl.String}
ROWS = {
    "e1": ("e1", "u1", "2024-03-01 09:00", "page_view", None, "/pricing", "desktop", "Chrome", "macOS", "DE",
           "https://google.com"),
    "e2": ("e2", "u1", "2024-03-01 09:00", "feature_use", '=HYPERLINK("http://evil")', None, "mobile", None, None, None,
           None),
    "e3": ("e3", "u3", "2024-03-02 12:00", "custom", "@SUM(A1)", "-2+3", None, "Firefox, beta", None, None, "\tTAB"),
    "e4": ("e4", "u2", "2024-03-02 23:59:59", "login", None, None, "desktop", None, None, "US", "+cmd|calc"),
    "e5": ("e5", "u2", "2024-03-03 00:00", "page_view", None, "/", "tablet", None, None, None, None),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build_store(tmp_path_factory.mktemp("files") / "pulse.duckdb", **TABLES)


def events(*ids: str) -> pl.DataFrame:
    rows = [(*ROWS[i][:2], datetime.fromisoformat(ROWS[i][2]), *ROWS[i][3:]) for i in ids]
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def exported(store, name, query, tmp_path, fmt="csv", **kwargs) -> bytes:
    path = tmp_path / f"{name}.{fmt}"
    rows, size = write_export(store, registry.get(name), query, path, fmt, **kwargs)
    assert size == path.stat().st_size
    return path.read_bytes()


def test_events_list_is_the_ranges_events_newest_first(store):
    assert_frame_equal(registry.run("events_list", store, q(*RANGE)), events("e4", "e3", "e2", "e1"))


@pytest.mark.parametrize(("options", "ids"), [
    ({"event_type": "page_view"}, ["e1"]),
    # The event's own device: u1's mobile event drops out, u3's event without a device too.
    ({"device_type": "desktop"}, ["e4", "e1"]),
    ({"country": "DE"}, ["e2", "e1"]),
    ({"plan": "pro"}, ["e2", "e1"]),
    ({"country": "US", "event_type": "login"}, ["e4"]),
    ({"limit": "2", "offset": "1"}, ["e3", "e2"]),
    ({"offset": "4"}, []),
], ids=lambda v: str(v))
def test_events_list_filters_and_pages(store, options, ids):
    assert_frame_equal(registry.run("events_list", store, q(*RANGE, **options)), events(*ids))


def test_events_list_keeps_to_the_staff_members_data_scope(store):
    assert_frame_equal(registry.run("events_list", store, q(*RANGE).scoped(countries=("US",))), events("e4"))


def test_events_list_takes_local_days(tmp_path):
    # New York is UTC-5 in early March: e0 is 18:59 on Feb 29, e5 19:00 on Mar 2; ts stays UTC.
    ny = build_store(tmp_path / "pulse.duckdb", timezone="America/New_York", **TABLES)
    assert_frame_equal(registry.run("events_list", ny, q(*RANGE)), events("e5", "e4", "e3", "e2", "e1"))


def test_events_list_rejects_an_unknown_event_type(store):
    from pulse.query import QueryError

    with pytest.raises(QueryError, match="^Unknown event_type 'click'; use one of: page_view, "):
        registry.run("events_list", store, q(*RANGE, event_type="click"))


@pytest.mark.parametrize(("name", "options"), [
    ("kpis", {}),
    ("active_users", {"device_type": "desktop"}),
    ("transactions_list", {}),
    ("transactions_list", {"sort": "amount", "descending": "false", "country": "DE"}),
    ("events_list", {}),
    ("events_list", {"event_type": "login", "limit": "1"}),
])
def test_every_format_holds_exactly_the_metrics_table(store, tmp_path, name, options):
    query = q(*RANGE, **options)
    frame = registry.run(name, store, query)
    expected = to_csv(frame).encode("utf-8")

    assert exported(store, name, query, tmp_path, "csv") == expected
    assert gzip.decompress(exported(store, name, query, tmp_path, "csv.gz")) == expected
    exported(store, name, query, tmp_path, "parquet")
    assert_frame_equal(pl.read_parquet(tmp_path / f"{name}.parquet"), frame)


def test_a_streamed_csv_neutralises_formulas_like_every_export(store, tmp_path):
    assert exported(store, "events_list", q(*RANGE), tmp_path).decode() == (
        "event_id,user_id,ts,event_type,event_name,page_path,device_type,browser,os,country_code,referrer\n"
        "e4,u2,2024-03-02 23:59:59,login,,,desktop,,,US,'+cmd|calc\n"
        "e3,u3,2024-03-02 12:00:00,custom,'@SUM(A1),'-2+3,,\"Firefox, beta\",,,'\tTAB\n"
        "e2,u1,2024-03-01 09:00:00,feature_use,\"'=HYPERLINK(\"\"http://evil\"\")\",,mobile,,,,\n"
        "e1,u1,2024-03-01 09:00:00,page_view,,/pricing,desktop,Chrome,macOS,DE,https://google.com\n"
    )
    # 10.005 is rounded once, half away from zero, to cents.
    assert exported(store, "transactions_list", q(*RANGE), tmp_path).decode() == (
        "transaction_id,ts,user_id,kind,status,amount,currency,category,provider,product_name,payment_method,plan\n"
        "t2,2024-03-02 11:00:00,u2,refund,succeeded,5.00,EUR,'@evil,,,,\n"
        "t1,2024-03-01 10:00:00,u1,purchase,succeeded,10.01,USD,compute,,'=1+1,,\n"
    )


def test_an_empty_list_is_its_header_in_every_format(store, tmp_path):
    query = q("2023-01-01", "2023-01-31")
    header = b"event_id,user_id,ts,event_type,event_name,page_path,device_type,browser,os,country_code,referrer\n"

    assert exported(store, "events_list", query, tmp_path) == header
    assert gzip.decompress(exported(store, "events_list", query, tmp_path, "csv.gz")) == header
    exported(store, "events_list", query, tmp_path, "parquet")
    assert_frame_equal(pl.read_parquet(tmp_path / "events_list.parquet"), events())


def test_a_gzipped_export_is_the_same_bytes_every_time(store, tmp_path):
    metric, query = registry.get("events_list"), q(*RANGE)
    write_export(store, metric, query, tmp_path / "monday.csv.gz", "csv.gz")
    write_export(store, metric, query, tmp_path / "tuesday.csv.gz", "csv.gz")
    first, second = (tmp_path / "monday.csv.gz").read_bytes(), (tmp_path / "tuesday.csv.gz").read_bytes()

    assert first == second
    assert first[3:8] == b"\0\0\0\0\0"  # no file name flag, and time 0


@pytest.fixture(scope="module")
def busy(tmp_path_factory):
    """A store with 2,500 events over two days, more than one batch of DuckDB's own (2,048 rows)."""
    rows = [{"event_id": f"e{i:05d}", "user_id": f"u{i % 7}", "ts": f"2024-03-0{1 + i % 2} {i % 24:02d}:{i % 60:02d}",
             "event_type": ("page_view", "login", "error")[i % 3], "page_path": ("/", "=x", "-y")[i % 3],
             "device_type": ("desktop", "mobile")[i % 2]} for i in range(2500)]
    return build_store(tmp_path_factory.mktemp("busy") / "pulse.duckdb", events=rows)


def test_a_list_streamed_in_many_batches_is_the_whole_frames_csv(busy, tmp_path):
    query = q(*RANGE)
    metric = registry.get("events_list")
    whole = to_csv(metric.func(busy, query)).encode("utf-8")

    assert len(list(files._frames(busy, metric, query, 7))) == 358  # ceil(2500 / 7)
    assert exported(busy, "events_list", query, tmp_path, batch_rows=7) == whole
    assert exported(busy, "events_list", query, tmp_path, batch_rows=1_000_000) == whole
    assert gzip.decompress(exported(busy, "events_list", query, tmp_path, "csv.gz", batch_rows=7)) == whole
    exported(busy, "events_list", query, tmp_path, "parquet", batch_rows=7)
    assert_frame_equal(pl.read_parquet(tmp_path / "events_list.parquet"), metric.func(busy, query))


def test_pulse_export_writes_a_streamed_list_to_a_file_and_to_stdout(busy, tmp_path, monkeypatch):
    monkeypatch.setenv("PULSE_STORE", str(busy.path))
    monkeypatch.setenv("PULSE_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.chdir(tmp_path)  # a short name, so the message fits the console's width
    whole = to_csv(registry.run("events_list", busy, q(*RANGE)))
    target = tmp_path / "events.csv"
    args = ["export", "events_list", "--start", RANGE[0], "--end", RANGE[1]]

    to_file = CliRunner().invoke(main, [*args, "--out", "events.csv"], catch_exceptions=False)
    to_stdout = CliRunner().invoke(main, args, catch_exceptions=False)

    assert (to_file.exit_code, to_file.stdout, to_file.stderr) == (0, "", "Wrote 2,500 rows to events.csv.\n")
    assert target.read_text(encoding="utf-8") == whole
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []
    assert (to_stdout.exit_code, to_stdout.stdout) == (0, whole)


def test_an_unknown_format_is_refused(store, tmp_path):
    with pytest.raises(ValueError, match="unknown export format 'xlsx'"):
        write_export(store, registry.get("kpis"), q(*RANGE), tmp_path / "out.xlsx", "xlsx")
