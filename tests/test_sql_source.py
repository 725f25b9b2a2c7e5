"""Reading from a SQL database: driver types to exact typed rows, tables and queries, batches, errors."""

from __future__ import annotations

import sqlite3
import uuid
from decimal import Decimal

import polars as pl
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal

from conftest import POSTGRES_URL, frame
from loaders.sql import read_sql_batches
from loaders.validate import LoadError, check


def load(url: str, table: str, batch_rows: int = 50_000, **source: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read and check everything: (good rows, quarantined rows)."""
    good, bad = [], []
    for batch, first in read_sql_batches(url, table, batch_rows=batch_rows, **source):
        checked = check(table, batch, "db", first, "USD")
        good.append(checked.good)
        bad.append(checked.bad)
    return pl.concat(good), pl.concat(bad)


@pytest.fixture
def pg():
    """A schema of its own in the test database, dropped afterwards: (engine, schema name)."""
    engine = sa.create_engine(POSTGRES_URL)
    schema = f"pulse_sql_test_{uuid.uuid4().hex[:12]}"
    with engine.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    yield engine, schema
    with engine.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    engine.dispose()


@pytest.mark.postgres
def test_postgres_events_with_uuid_timestamptz_jsonb_and_boolean(pg):
    engine, schema = pg
    with engine.begin() as connection:
        connection.exec_driver_sql(f"""
            CREATE TABLE "{schema}"."AppEvents" (
                "Event_ID" uuid, user_id text, ts timestamptz, event_type text,
                properties jsonb, is_internal boolean)""")
        connection.exec_driver_sql(f"""
            INSERT INTO "{schema}"."AppEvents" VALUES
            ('6f1c2b0e-8a1d-4c8e-9a57-1f2b3c4d5e6f', 'u1', '2024-03-01 10:00:00+05:00', 'custom',
             '{{"plan": "pro", "seats": 3}}', true),
            ('0b6a3f3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b', 'u2', '2024-03-01 00:30:00+00', 'login', NULL, NULL)""")

    [(raw, first)] = read_sql_batches(POSTGRES_URL, "events", source_table=f"{schema}.AppEvents")

    assert first == 1
    assert raw.schema == pl.Schema({
        "Event_ID": pl.String, "user_id": pl.String, "ts": pl.Datetime("us", "UTC"), "event_type": pl.String,
        "properties": pl.String, "is_internal": pl.Boolean,
    })
    checked = check("events", raw, "db", first, "USD")
    assert_frame_equal(checked.good, frame("events", [
        # 10:00 at +05:00 is 05:00 UTC; the extra boolean column is folded into properties as a boolean.
        {"event_id": "6f1c2b0e-8a1d-4c8e-9a57-1f2b3c4d5e6f", "user_id": "u1", "ts": "2024-03-01 05:00",
         "event_type": "custom", "properties": '{"is_internal":true,"plan":"pro","seats":3}'},
        {"event_id": "0b6a3f3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "user_id": "u2", "ts": "2024-03-01 00:30",
         "event_type": "login"},
    ]))


@pytest.mark.postgres
def test_postgres_numeric_amounts_stay_exact(pg):
    engine, schema = pg
    with engine.begin() as connection:
        connection.exec_driver_sql(f"""
            CREATE TABLE "{schema}".sales (
                id uuid, user_id text, paid_at timestamptz, kind text, amount numeric(14, 4), currency text)""")
        connection.exec_driver_sql(f"""
            INSERT INTO "{schema}".sales VALUES
            ('6f1c2b0e-8a1d-4c8e-9a57-1f2b3c4d5e6f', 'u1', '2024-03-01 10:00:00-04:00', 'purchase', 19.99, 'eur'),
            ('0b6a3f3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b', 'u1', '2024-03-02 10:00:00+00', 'purchase', 1234567890.1234, NULL),
            ('1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f', 'u1', '2024-03-03 10:00:00+00', 'refund', 0.0001, 'USD')""")

    good, bad = load(POSTGRES_URL, "transactions", query=f"""
        SELECT id AS transaction_id, user_id, paid_at AS ts, kind, amount, currency
        FROM "{schema}".sales ORDER BY paid_at""")

    assert_frame_equal(good, frame("transactions", [
        {"transaction_id": "6f1c2b0e-8a1d-4c8e-9a57-1f2b3c4d5e6f", "user_id": "u1", "ts": "2024-03-01 14:00",
         "kind": "purchase", "amount": "19.99", "currency": "EUR"},
        {"transaction_id": "0b6a3f3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "user_id": "u1", "ts": "2024-03-02 10:00",
         "kind": "purchase", "amount": "1234567890.1234"},
        {"transaction_id": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "user_id": "u1", "ts": "2024-03-03 10:00",
         "kind": "refund", "amount": "0.0001"},
    ]))
    assert bad.height == 0
    assert good["amount"].sum() == Decimal("1234567910.1135")  # 19.99 + 1234567890.1234 + 0.0001


@pytest.mark.postgres
def test_postgres_booleans_pass_through(pg):
    engine, schema = pg
    with engine.begin() as connection:
        connection.exec_driver_sql(f"""
            CREATE TABLE "{schema}".users (user_id text, signup_at timestamp, marketing_opt_in boolean)""")
        connection.exec_driver_sql(f"""
            INSERT INTO "{schema}".users VALUES
            ('u1', '2024-03-01 10:00', true), ('u2', '2024-03-02 10:00', false), ('u3', '2024-03-03 10:00', NULL)""")

    good, _ = load(POSTGRES_URL, "users", source_table=f"{schema}.users")

    assert_frame_equal(good, frame("users", [
        {"user_id": "u1", "signup_at": "2024-03-01 10:00", "marketing_opt_in": True},
        {"user_id": "u2", "signup_at": "2024-03-02 10:00", "marketing_opt_in": False},
        {"user_id": "u3", "signup_at": "2024-03-03 10:00", "marketing_opt_in": False},
    ]))


@pytest.mark.postgres
def test_postgres_rows_stream_in_batches(pg):
    engine, schema = pg
    with engine.begin() as connection:
        connection.exec_driver_sql(f'CREATE TABLE "{schema}".users (user_id text, signup_at timestamptz)')
        connection.exec_driver_sql(f"""
            INSERT INTO "{schema}".users
            SELECT 'u' || i, timestamptz '2024-03-01 00:00+00' + i * interval '1 hour' FROM generate_series(1, 5) AS i""")

    batches = list(read_sql_batches(
        POSTGRES_URL, "users", query=f'SELECT * FROM "{schema}".users ORDER BY signup_at', batch_rows=2
    ))

    assert [(first, batch["user_id"].to_list()) for batch, first in batches] == [
        (1, ["u1", "u2"]), (3, ["u3", "u4"]), (5, ["u5"])
    ]


def error_for(url: str, table: str = "users", **source: str) -> str:
    with pytest.raises(LoadError) as error:
        list(read_sql_batches(url, table, **source))
    return str(error.value)


@pytest.mark.postgres
def test_postgres_errors_are_one_clear_sentence(pg):
    _, schema = pg
    where = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

    assert error_for(POSTGRES_URL, source_table=f"{schema}.missing") == (
        f"Cannot load users from {where} (table {schema}.missing): the table does not exist."
    )
    assert error_for(POSTGRES_URL, query="SELEC user_id FROM nowhere") == (
        f'Cannot load users from {where} (query): the database said: syntax error at or near "SELEC".'
    )
    assert error_for(POSTGRES_URL, query="SELECT 'u1' AS user_id") == (
        f"Cannot load {where} (query) as users: the required column signup_at is missing."
    )


def test_an_unreachable_server_is_named_without_its_password():
    message = error_for("postgresql+psycopg://postgres:s3cret@127.0.0.1:1/test", query="SELECT 1")

    assert message.startswith("Cannot connect to the database at postgresql+psycopg://postgres:***@127.0.0.1:1/test: ")
    assert "s3cret" not in message


def test_a_malformed_url_and_a_missing_driver():
    assert error_for("not a url", query="SELECT 1") == (
        "Cannot read from the database: the URL is not a valid SQLAlchemy URL "
        "(for example postgresql+psycopg://user@host:5432/dbname)."
    )
    assert error_for("mysql+nosuchdriver://u:pw@db.example.com/shop", query="SELECT 1") == (
        "Cannot read mysql+nosuchdriver://u:***@db.example.com/shop: "
        "no database driver is installed for mysql+nosuchdriver."
    )


def test_exactly_one_of_table_or_query():
    expected = "Give exactly one of a source table or a query to read from the database."
    assert error_for("sqlite://") == expected
    assert error_for("sqlite://", source_table="users", query="SELECT 1") == expected


def test_sqlite_round_trip(tmp_path):
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as connection:
        connection.executescript("""
            CREATE TABLE "Orders" (transaction_id TEXT, user_id TEXT, ts TEXT, kind TEXT, status TEXT,
                                   amount TEXT, currency TEXT, note TEXT);
            INSERT INTO "Orders" VALUES
                ('t1', 'u1', '2024-03-01T01:30:00+02:00', 'purchase', NULL, '19.99', 'usd', 'first order'),
                ('t2', 'u2', '2024-03-02 10:00:00', 'refund', 'succeeded', 5, NULL, NULL),
                ('t3', 'u3', 'yesterday', 'purchase', NULL, '1.00', NULL, NULL);
        """)
    url = f"sqlite:///{path}"

    batches = list(read_sql_batches(url, "transactions", source_table="Orders", batch_rows=2))
    good, bad = load(url, "transactions", source_table="Orders")

    assert [(first, batch.height) for batch, first in batches] == [(1, 2), (3, 1)]
    assert_frame_equal(good, frame("transactions", [
        {"transaction_id": "t1", "user_id": "u1", "ts": "2024-02-29 23:30", "kind": "purchase", "amount": "19.99",
         "currency": "USD"},
        {"transaction_id": "t2", "user_id": "u2", "ts": "2024-03-02 10:00", "kind": "refund", "amount": "5"},
    ]))
    assert bad.rows() == [(
        "db", 3, "bad timestamp in ts",
        '{"transaction_id":"t3","user_id":"u3","ts":"yesterday","kind":"purchase","status":null,'
        '"amount":"1.00","currency":null,"note":null}',
    )]


def test_sqlite_missing_table(tmp_path):
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()

    assert error_for(f"sqlite:///{path}", source_table="users") == (
        f"Cannot load users from sqlite:///{path} (table users): the table does not exist."
    )


@pytest.mark.postgres
def test_postgres_timestamps_python_cannot_hold_are_quarantined_not_fatal(pg):
    """'infinity' and year 10000 are valid PostgreSQL timestamps that no Python datetime holds:
    those rows are quarantined as bad timestamps and the others load."""
    engine, schema = pg
    with engine.begin() as connection:
        connection.exec_driver_sql(f'CREATE TABLE "{schema}".ev (event_id text, user_id text, ts timestamptz, event_type text)')
        connection.exec_driver_sql(f"""INSERT INTO "{schema}".ev VALUES
            ('e1', 'u1', '2024-03-01 10:00:00+00', 'login'),
            ('e2', 'u1', 'infinity', 'login'),
            ('e3', 'u1', '10000-01-01 00:00:00+00', 'login'),
            ('e4', 'u1', '-infinity', 'login')""")
    good, bad = load(POSTGRES_URL, "events", source_table=f"{schema}.ev")
    assert good["event_id"].to_list() == ["e1"]
    assert bad.select("row_number", "rule").rows() == [
        (2, "bad timestamp in ts"), (3, "bad timestamp in ts"), (4, "bad timestamp in ts")]
