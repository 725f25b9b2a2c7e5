"""Generated malformed files, seeded: every one loads, or fails with one sentence and leaves the
store byte for byte as it was; and a load accounts for every row of its file.

Each case writes one file for one table in one format, built from a valid row by hostile
mutations: extreme, fractional, leap and garbage timestamps, amounts no column holds, text
that looks like formulas or markup, nested JSON, bytes that are not UTF-8, headers spelled
oddly, repeated or missing, CR, LF and CRLF line endings, Parquet columns of every Arrow
type, truncated files. The cases are loaded one after another into one store per table and
format, so repeated keys meet stored rows (updates, duplicates) as well as new ones.
"""

from __future__ import annotations

import csv
import decimal
import hashlib
import io
import json
import random
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loaders.load import load_files
from loaders.validate import LoadError
from pulse.schema import SCHEMAS
from pulse.store import Store, StoreError

SEED = 20261129
CASES_PER_TABLE_AND_FORMAT = 24

VALID = {
    "users": {"user_id": "u1", "email": "ann@example.com", "name": "Ann", "signup_at": "2024-03-01T10:00:00Z",
              "country": "DE", "timezone": "Europe/Berlin", "auth_provider": "email", "plan": "pro",
              "marketing_opt_in": "yes"},
    "events": {"event_id": "e1", "user_id": "u1", "ts": "2024-03-01T10:00:00Z", "event_type": "page_view",
               "event_name": "open", "page_path": "/home", "session_id": "s1", "device_type": "mobile",
               "browser": "Firefox", "os": "Linux", "country_code": "DE", "referrer": "", "properties": '{"a": 1}'},
    "transactions": {"transaction_id": "t1", "user_id": "u1", "ts": "2024-03-01T10:00:00Z", "kind": "purchase",
                     "status": "succeeded", "amount": "19.99", "currency": "EUR", "product_id": "p1",
                     "product_name": "Pro", "category": "service", "provider": "Acme", "payment_method": "card",
                     "plan": "pro", "refund_of": ""},
    "subscriptions": {"subscription_id": "s1", "user_id": "u1", "plan": "pro", "mrr": "29", "started_at": "2024-03-01",
                      "ended_at": "2024-04-01", "cancel_reason": ""},
}
KEY_COLUMNS = {"user_id", "event_id", "transaction_id", "subscription_id"}
TIMESTAMPS = {"signup_at", "ts", "started_at", "ended_at"}

HOSTILE_TIMESTAMPS = [
    "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "0001-01-01", "0000-01-01",
    "1969-12-31T23:59:59Z", "1970-01-01T00:00:00+01:00", "2199-12-31T23:59:59Z", "2200-01-01", "2016-12-31T23:59:60Z",
    "2016-12-31 23:59:60.999999+00:00", "2024-02-30", "2024-03-01T24:00:00", "2024-03-01T10:00:00+25:00",
    "2024-03-01T10:00:00.1234567891234Z", "99999-01-01", "+2024-03-01", "2024-03-01T10:00:00+14", "yesterday", "",
    " 2024-03-01 ", "2024-03-01T10:00:00 Z", "1e10", "NaN", "2024-13-01", "2024-03-01T10:61:00",
]
HOSTILE_NUMBERS = ["1e400", "-1e400", "NaN", "inf", "-0", "0.00001", "99999999999999999999", "1,5", " 1.5 ", "0x10",
                   "12.50000", "-19.99", "", "١٢", "1_000", "+3", "99999999999999.9999", "100000000000000"]
HOSTILE_TEXT = ["=HYPERLINK(\"http://x\")", "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3", "<script>alert(1)</script>",
                "![x](http://x/a.png)", "a,b", 'say "hi"', "line\nbreak", "cr\rinside", "tab\there", "  padded  ",
                "ünïcödé ✓ 🚀", "\x01\x7f", "x" * 5000, "", "null", "NULL", "None", "\\N", "DROP TABLE users; --",
                "\u2028\u2029", "\ufeffbom"]
HOSTILE_JSON = ['{"a": {"b": [1, 2, {"c": null}]}}', "[1, 2]", '"text"', "{", '{"a": NaN}', '{"a": 1e400}',
                '{"a": 123456789012345678901234567890}', "{}", '{"": ""}', "[" * 300 + "]" * 300,
                '{"a": "' + "y" * 3000 + '"}', '{"a": 1,}', "null", "  {\"a\": 1}  "]
HEADER_VARIANTS = [str.upper, str.title, lambda c: f"  {c}\t", str]


def cell(rng: random.Random, column: str, valid: str, case: int) -> str:
    """A cell: usually valid (keys vary, so rows are new, repeated or updated), sometimes hostile."""
    if column in KEY_COLUMNS and rng.random() < 0.85:
        return f"{valid}-{rng.randrange(case + 3)}"
    if rng.random() < 0.6:
        return valid
    if column in TIMESTAMPS:
        return rng.choice(HOSTILE_TIMESTAMPS)
    if column in ("amount", "mrr"):
        return rng.choice(HOSTILE_NUMBERS)
    if column == "properties":
        return rng.choice(HOSTILE_JSON)
    return rng.choice(HOSTILE_TEXT + HOSTILE_NUMBERS[:4] + HOSTILE_TIMESTAMPS[:2])


def records(rng: random.Random, table: str, case: int) -> tuple[list[str], list[list[str]]]:
    """A header (sometimes with an unknown column, a column left out, or names respelled) and rows."""
    columns = list(VALID[table])
    rng.shuffle(columns)
    if rng.random() < 0.3:
        columns.append(rng.choice(["extra", "Notes", "properties_2", "ünknown"]))
    if rng.random() < 0.15:
        columns.remove(rng.choice(columns))  # sometimes a required one: the whole file fails
    if rng.random() < 0.05:
        columns.append(rng.choice(columns).upper())  # a column named twice: the whole file fails
    rows = [[cell(rng, c.lower(), VALID[table].get(c.lower(), "x"), case) for c in columns]
            for _ in range(rng.randrange(1, 25))]
    spell = rng.choice(HEADER_VARIANTS)
    return [spell(c) for c in columns], rows


def csv_line(row: list[str]) -> str:
    """One CSV record, quoted wherever it holds a CR or an LF (the csv module quotes only the
    characters of its own line ending)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(row)
    return buffer.getvalue().removesuffix("\r\n")


def write_csv(path: Path, rng: random.Random, header: list[str], rows: list[list[str]]) -> int:
    ending = rng.choice(["\n", "\r\n", "\r"])
    text = "".join(csv_line(row) + ending for row in [header, *rows])
    if rng.random() < 0.1:
        text = "\ufeff" + text
    if rng.random() < 0.1:
        text += "x,y" + ",z" * len(header) + ending  # a row with too many fields: the whole file fails
        rows = rows + [[]]
    path.write_bytes(text.encode("utf-8"))
    return len(rows)


def json_value(rng: random.Random, text: str):
    """A cell as NDJSON may carry it: the text, or a number, a boolean, null, an object, a list."""
    roll = rng.random()
    if roll < 0.7:
        return text
    return rng.choice([0, -1, 10**30, 1.5, 1e300, True, False, None, {"nested": {"deep": [1, "two"]}}, [1, [2]], {}])


def write_ndjson(path: Path, rng: random.Random, header: list[str], rows: list[list[str]]) -> int:
    lines = [json.dumps({c: json_value(rng, v) for c, v in zip(header, row)}) for row in rows]
    if rng.random() < 0.15:
        lines.insert(rng.randrange(len(lines) + 1), "")  # blank lines are skipped and not counted
    if rng.random() < 0.05:
        lines.append(rng.choice(['{"broken": ', "[1, 2]", "42"]))  # the whole file fails
    ending = rng.choice(["\n", "\r\n", "\r"])
    path.write_bytes(ending.join(lines).encode("utf-8") + ending.encode())
    return len(rows)


def arrow_column(rng: random.Random, column: str, values: list[str]) -> pa.Array:
    """The column in a type some Parquet writer might choose."""
    n = len(values)
    choice = rng.random()
    if choice < 0.45:
        return pa.array(values, pa.string())
    kinds = [
        lambda: pa.array([v.encode() for v in values], pa.binary()),
        lambda: pa.array([b"\xff\xfe" if rng.random() < 0.3 else v.encode() for v in values], pa.large_binary()),
        lambda: pa.array(values, pa.large_string()).dictionary_encode(),
        lambda: pa.array([rng.choice([0, -5, 2**63 - 1, None]) for _ in values], pa.int64()),
        lambda: pa.array([rng.choice([0.1, float("nan"), float("inf"), -1e308, None]) for _ in values], pa.float64()),
        lambda: pa.array([rng.choice([True, False, None]) for _ in values], pa.bool_()),
        lambda: pa.array([rng.choice([0, 10**12, -10**11, 1_700_000_000]) for _ in values], pa.timestamp("s")),
        lambda: pa.array([rng.choice([0, 1_700_000_000_000_000]) for _ in values],
                         pa.timestamp("us", tz=rng.choice(["UTC", "Asia/Tokyo", "+05:00", "America/New_York"]))),
        lambda: pa.array([rng.choice([date(2024, 3, 1), date(1, 1, 1), date(9999, 12, 31)]) for _ in values], pa.date32()),
        lambda: pa.array([rng.choice([0, 10**9]) for _ in values], pa.time64("us")),
        lambda: pa.array([rng.choice([5, -5]) for _ in values], pa.duration("s")),
        lambda: pa.array([decimal.Decimal(rng.choice(["19.99", "-1", "12345678901234567890.123"])) for _ in values],
                         pa.decimal128(38, 10)),
        lambda: pa.array([decimal.Decimal("19.99")] * n, pa.decimal256(50, 2)),
        lambda: pa.array([[1, 2], None, []][: 1] * n, pa.list_(pa.int64())),
        lambda: pa.array([[b"\xff"]] * n, pa.list_(pa.binary())),
        lambda: pa.array([[("k", 1)]] * n, pa.map_(pa.string(), pa.int64())),
        lambda: pa.array([[(1, "v")]] * n, pa.map_(pa.int64(), pa.string())),
        lambda: pa.array([{"category": "x", "n": 1}] * n, pa.struct([("category", pa.string()), ("n", pa.int64())])),
        lambda: pa.array([None] * n, pa.null()),
        lambda: pa.array([1.5] * n, pa.float16()),
        lambda: pa.array([datetime(2024, 3, 1, tzinfo=timezone.utc) + timedelta(hours=i) for i in range(n)],
                         pa.timestamp("ns", tz="UTC")),
    ]
    return rng.choice(kinds)()


def write_parquet(path: Path, rng: random.Random, header: list[str], rows: list[list[str]]) -> int | None:
    names = list(header)
    columns = [arrow_column(rng, c, [row[i] for row in rows]) for i, c in enumerate(names)]
    pq.write_table(pa.table(columns, names=names), path)
    if rng.random() < 0.08:
        data = path.read_bytes()
        path.write_bytes(data[: rng.randrange(len(data))])  # truncated: the whole file fails
        return None
    return len(rows)


WRITERS = {"csv": write_csv, "ndjson": write_ndjson, "parquet": write_parquet}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet"])
@pytest.mark.parametrize("table", list(SCHEMAS))
def test_generated_hostile_files_load_or_fail_with_one_sentence(tmp_path, table, fmt):
    rng = random.Random(f"{SEED}-{table}-{fmt}")
    store = Store(tmp_path / "pulse.duckdb", timezone=rng.choice(["UTC", "Asia/Kolkata", "Pacific/Kiritimati",
                                                                   "America/Los_Angeles"]))
    outcomes = {"loaded": 0, "failed": 0}
    for case in range(CASES_PER_TABLE_AND_FORMAT):
        path = tmp_path / f"{table}-{case}.{fmt}"
        header, rows = records(rng, table, case)
        expected = WRITERS[fmt](path, rng, header, rows)
        before = digest(store.path)
        try:
            result = load_files(store, table, [path])
        except (LoadError, StoreError) as exc:
            outcomes["failed"] += 1
            message = str(exc)
            assert message and "\n" not in message and message.endswith("."), (case, message)
            assert digest(store.path) == before, (case, message)
            continue
        outcomes["loaded"] += 1
        assert expected is not None, (case, "a truncated Parquet file loaded")
        report = result.reports[table]
        assert report.stored + report.updated + report.duplicates + report.quarantined == expected, (case, report)
    # The generator is hostile, not hopeless: most files load, and some fail on purpose.
    assert outcomes["loaded"] > CASES_PER_TABLE_AND_FORMAT // 2 and outcomes["failed"], outcomes
    # Nothing stored lies outside the supported days, in UTC or in the reporting timezone,
    # so no page meets a year it cannot show.
    for column in TIMESTAMPS & set(SCHEMAS[table]):
        first, last = store.fetch(f"SELECT min({column}), max({column}) FROM {table}").row(0)
        assert first is None or datetime(1970, 1, 1) <= first <= last < datetime(2200, 1, 1), (column, first, last)
    first_day, last_day = store.fetch("SELECT min(day), max(day) FROM user_days").row(0)
    assert first_day is None or date(1970, 1, 1) <= first_day <= last_day <= date(2199, 12, 31)
