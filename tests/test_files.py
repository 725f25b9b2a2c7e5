"""Reading files: the samples in every format, streaming in batches, and files that cannot be read."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from conftest import frame
from loaders.files import detect_format, file_rows, read_batches
from loaders.validate import LoadError, check

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"


def load(path: Path, table: str, fmt: str | None = None, batch_rows: int = 200_000):
    """Read and check a whole file: (good rows, quarantined rows, warnings)."""
    good, bad, warnings = [], [], []
    for batch, first in read_batches(path, table, fmt, batch_rows):
        checked = check(table, batch, path.name, first, "USD")
        good.append(checked.good)
        bad.append(checked.bad)
        warnings += checked.warnings
    return pl.concat(good), pl.concat(bad), warnings


@pytest.mark.parametrize(
    ("table", "name", "rows"),
    [("users", "users.csv", 12), ("events", "events.csv", 30), ("events", "events.ndjson", 30),
     ("transactions", "transactions.csv", 18), ("subscriptions", "subscriptions.csv", 11)],
)
def test_every_sample_loads_without_quarantine_or_warnings(table, name, rows):
    good, bad, warnings = load(SAMPLES / name, table)

    assert (good.height, bad.height, warnings) == (rows, 0, [])
    assert file_rows(SAMPLES / name, detect_format(SAMPLES / name, None)) == rows


def test_sample_users_csv_is_typed_exactly():
    good, _, _ = load(SAMPLES / "users.csv", "users")

    assert_frame_equal(good.filter(pl.col("user_id").is_in(["u_002", "u_009", "u_012"])), frame("users", [
        # 14:30 at +01:00 is 13:30 UTC.
        {"user_id": "u_002", "email": "lena.fischer@example.de", "name": "Lena Fischer", "signup_at": "2024-01-09 13:30",
         "country": "DE", "timezone": "Europe/Berlin", "auth_provider": "email", "plan": "enterprise",
         "marketing_opt_in": False},
        # An empty marketing_opt_in is false; 13:10 at -03:00 is 16:10 UTC.
        {"user_id": "u_009", "email": "ana.souza@example.com.br", "name": "Ana Souza", "signup_at": "2024-02-27 16:10",
         "country": "BR", "timezone": "America/Sao_Paulo", "auth_provider": "github", "plan": "free",
         "marketing_opt_in": False},
        {"user_id": "u_012", "name": "Sam Carter", "signup_at": "2024-03-12 19:50", "country": "US",
         "timezone": "America/Los_Angeles", "auth_provider": "google", "plan": "free", "marketing_opt_in": False},
    ]))


def test_sample_transactions_and_subscriptions_keep_exact_decimals():
    transactions, _, _ = load(SAMPLES / "transactions.csv", "transactions")
    subscriptions, _, _ = load(SAMPLES / "subscriptions.csv", "subscriptions")

    tx = transactions.filter(pl.col("transaction_id").is_in(["tx_0004", "tx_0012"]))
    assert tx.select("transaction_id", "ts", "kind", "amount", "currency", "refund_of").rows() == [
        # No currency given: the reporting currency. 10:02 at +01:00 is 09:02 UTC.
        ("tx_0004", datetime(2024, 1, 25, 9, 2), "purchase", Decimal("19.99"), "USD", None),
        ("tx_0012", datetime(2024, 2, 26, 16, 30), "refund", Decimal("19.99"), "USD", "tx_0004"),
    ]
    # 290.00 a year is 24.1667 a month at four decimal places.
    assert subscriptions.filter(pl.col("subscription_id") == "sub_003")["mrr"].to_list() == [Decimal("24.1667")]
    # Five periods at 29.00, two at 400.00, one at 24.1667 and three trials at 0.
    assert subscriptions["mrr"].sum() == Decimal("969.1667")


def test_ndjson_sample_gives_the_same_events_as_the_csv_sample():
    from_csv, _, _ = load(SAMPLES / "events.csv", "events")
    from_ndjson, _, _ = load(SAMPLES / "events.ndjson", "events")

    assert_frame_equal(from_csv.drop("properties"), from_ndjson.drop("properties"))
    # The extra app_version column is folded into properties in both formats.
    as_objects = [json.loads(p) for p in from_csv["properties"]]
    assert as_objects == [json.loads(p) for p in from_ndjson["properties"]]
    assert as_objects[2] == {"app_version": "4.2.0", "category": "dashboards", "duration": 95}


@pytest.mark.parametrize("suffix", [".parquet", ".pq"])
@pytest.mark.parametrize("table", ["users", "events", "transactions", "subscriptions"])
def test_parquet_written_from_a_sample_reads_back_identically(tmp_path, table, suffix):
    expected, _, _ = load(SAMPLES / f"{table}.csv", table)
    path = tmp_path / f"{table}{suffix}"
    expected.write_parquet(path)

    good, bad, warnings = load(path, table)

    assert_frame_equal(good, expected)
    assert (bad.height, warnings) == (0, [])
    assert file_rows(path, "parquet") == expected.height


def test_a_large_csv_streams_in_batches_with_their_row_numbers(tmp_path):
    path = tmp_path / "events.csv"
    lines = [f"e{i},u{i % 7},2024-03-01T00:00:00Z,login" for i in range(1, 50_001)]
    lines[23_455] = "e23456,u1,2024-03-01T00:00:00Z,click"  # data row 23,456 breaks a rule
    path.write_text("event_id,user_id,ts,event_type\n" + "\n".join(lines) + "\n")

    batches = list(read_batches(path, "events", batch_rows=10_000))

    assert [(first, batch.height) for batch, first in batches] == [
        (1, 10_000), (10_001, 10_000), (20_001, 10_000), (30_001, 10_000), (40_001, 10_000)
    ]
    assert batches[2][0].row(3455) == ("e23456", "u1", "2024-03-01T00:00:00Z", "click")
    assert file_rows(path, "csv") == 50_000
    _, bad, _ = load(path, "events", batch_rows=10_000)
    assert bad.select("row_number", "rule").rows() == [(23_456, "unknown event_type 'click'")]


def test_ndjson_streams_in_batches_counting_data_rows_not_blank_lines(tmp_path):
    path = tmp_path / "events.jsonl"
    rows = [json.dumps({"event_id": f"e{i}", "user_id": "u1", "ts": "2024-03-01", "event_type": "login"})
            for i in range(1, 26)]
    rows.insert(5, "")  # a blank line is skipped and not counted
    path.write_text("\n".join(rows) + "\n")

    batches = list(read_batches(path, "events", batch_rows=10))

    assert [(first, batch.height) for batch, first in batches] == [(1, 10), (11, 10), (21, 5)]
    assert [batch["event_id"][0] for batch, _ in batches] == ["e1", "e11", "e21"]


def test_parquet_streams_in_batches(tmp_path):
    path = tmp_path / "users.parquet"
    pl.DataFrame({"user_id": [f"u{i}" for i in range(25_000)], "signup_at": [datetime(2024, 3, 1)] * 25_000}).write_parquet(
        path, row_group_size=5_000
    )

    batches = list(read_batches(path, "users", batch_rows=10_000))

    assert [(first, batch.height) for batch, first in batches] == [(1, 10_000), (10_001, 10_000), (20_001, 5_000)]
    assert batches[1][0]["user_id"][0] == "u10000"


def test_a_header_only_csv_has_no_batches(tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("user_id,signup_at\n")

    assert list(read_batches(path, "users")) == []


def test_csv_keeps_every_value_as_text(tmp_path):
    path = tmp_path / "transactions.csv"
    path.write_text("transaction_id,user_id,ts,kind,amount\n007,u1,2024-03-01,purchase,19.990\n")

    [(batch, first)] = read_batches(path, "transactions")

    assert (first, batch.rows()) == (1, [("007", "u1", "2024-03-01", "purchase", "19.990")])
    assert batch.dtypes == [pl.String] * 5


def test_ndjson_reads_table_columns_as_text_and_nested_values_as_json(tmp_path):
    path = tmp_path / "events.ndjson"
    path.write_text(
        '{"event_id": 17, "user_id": "u1", "ts": "2024-03-01", "event_type": "custom", '
        '"properties": {"plan": "pro", "seats": [1, 2]}, "seats_used": 2}\n'
    )

    good, _, _ = load(path, "events")

    assert good.select("event_id", "properties").rows() == [("17", '{"seats_used":2,"plan":"pro","seats":[1,2]}')]


def error_for(path: Path, table: str = "users", fmt: str | None = None) -> str:
    with pytest.raises(LoadError) as error:
        list(read_batches(path, table, fmt))
    return str(error.value)


def test_a_missing_file(tmp_path):
    path = tmp_path / "users.csv"
    assert error_for(path) == f"Cannot load {path}: the file does not exist."


@pytest.mark.parametrize("content", [b"", b"  \n\n"])
def test_an_empty_file(tmp_path, content):
    path = tmp_path / "users.csv"
    path.write_bytes(content)
    assert error_for(path) == f"Cannot load {path}: the file is empty."


def test_a_binary_file_named_csv(tmp_path):
    path = tmp_path / "users.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10")
    assert error_for(path) == f"Cannot load {path}: it is not a UTF-8 text file, so it cannot be CSV."


def test_a_csv_passed_as_parquet(tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("user_id,signup_at\nu1,2024-03-01\n")
    assert error_for(path, fmt="parquet") == f"Cannot load {path}: it is not a Parquet file."


def test_an_unknown_extension(tmp_path):
    path = tmp_path / "users.xlsx"
    path.write_text("user_id,signup_at\n")
    assert error_for(path) == (
        f"Cannot load {path}: its name does not tell the format (use .csv, .parquet, .pq, .ndjson, .jsonl, or name the format)."
    )


def test_an_unknown_format_name(tmp_path):
    path = tmp_path / "users.csv"
    assert error_for(path, fmt="xls") == f"Cannot load {path}: unknown format 'xls' (use csv, parquet or ndjson)."


def test_a_csv_without_a_required_column(tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("user_id,email\nu1,a@example.com\n")
    assert error_for(path) == f"Cannot load {path} as users: the required column signup_at is missing."


def test_a_parquet_file_without_a_required_column(tmp_path):
    path = tmp_path / "users.parquet"
    pl.DataFrame({"id": ["u1"], "signup_at": [datetime(2024, 3, 1)]}).write_parquet(path)
    assert error_for(path) == f"Cannot load {path} as users: the required column user_id is missing."


def test_a_csv_row_with_too_many_fields(tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("user_id,signup_at\nu1,2024-03-01\nu2,2024-03-01,surprise\n")
    assert error_for(path) == f"Cannot load {path}: data row 2 has 3 fields but the header has 2."


def test_a_bad_ndjson_line_is_named(tmp_path):
    path = tmp_path / "users.ndjson"
    path.write_text('{"user_id": "u1", "signup_at": "2024-03-01"}\n\n{"user_id": "u2", "signup_at": \n')
    assert error_for(path) == f"Cannot load {path}: line 3 is not valid JSON."


def test_an_ndjson_line_that_is_not_an_object_is_named(tmp_path):
    path = tmp_path / "users.ndjson"
    path.write_text('{"user_id": "u1", "signup_at": "2024-03-01"}\n[1, 2]\n')
    assert error_for(path) == f"Cannot load {path}: line 2 is not a JSON object."


def test_an_ndjson_file_without_a_required_key(tmp_path):
    path = tmp_path / "users.ndjson"
    path.write_text('{"user_id": "u1"}\n{"user_id": "u2"}\n')
    assert error_for(path) == f"Cannot load {path} as users: the required column signup_at is missing."


@pytest.mark.parametrize(
    ("name", "override", "expected"),
    [("a.csv", None, "csv"), ("a.CSV", None, "csv"), ("a.parquet", None, "parquet"), ("a.pq", None, "parquet"),
     ("a.ndjson", None, "ndjson"), ("a.jsonl", None, "ndjson"), ("export.txt", "CSV", "csv"), ("a.csv", "ndjson", "ndjson")],
)
def test_detect_format(name, override, expected):
    assert detect_format(Path(name), override) == expected
