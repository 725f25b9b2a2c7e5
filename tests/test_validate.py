"""The DATA.md rules, one batch at a time: what is stored, what is quarantined and why."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from conftest import frame
from loaders.validate import BAD_SCHEMA, LoadError, check, require_columns


def text(**columns: list[str]) -> pl.DataFrame:
    """A batch as a CSV reader hands it over: every column text, empty cells as ""."""
    return pl.DataFrame(columns, schema={name: pl.String for name in columns})


def quarantined(source: str, rows: list[tuple[int, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(source, number, rule, raw) for number, rule, raw in rows], schema=BAD_SCHEMA, orient="row"
    )


USER_HEADER = ["user_id", "email", "name", "signup_at", "country", "timezone", "auth_provider", "plan", "marketing_opt_in"]


def users(*rows: list[str]) -> pl.DataFrame:
    return text(**{name: [row[i] for row in rows] for i, name in enumerate(USER_HEADER)})


def test_users_are_typed_with_offsets_converted_to_utc_and_defaults_applied():
    raw = users(
        ["u1", "ann@example.com", "Ann", "2024-03-01T01:30:00+02:00", "ng", "Africa/Lagos", "google", "pro", "Yes"],
        ["u2", "", "", "2024-03-01", "", "", "", "", ""],
        ["u3", "bo@example.org", "Bo", "2024-03-01 10:15:00", "DE", "Europe/Berlin", "email", "free", "0"],
        ["u4", "", "Cy", "2024-03-01T10:15:00Z", "", "UTC", "github", "", "TRUE"],
    )

    checked = check("users", raw, "users.csv", 1, "USD")

    expected = frame("users", [
        {"user_id": "u1", "email": "ann@example.com", "name": "Ann", "signup_at": "2024-02-29 23:30",
         "country": "NG", "timezone": "Africa/Lagos", "auth_provider": "google", "plan": "pro", "marketing_opt_in": True},
        {"user_id": "u2", "signup_at": "2024-03-01 00:00", "marketing_opt_in": False},
        {"user_id": "u3", "email": "bo@example.org", "name": "Bo", "signup_at": "2024-03-01 10:15", "country": "DE",
         "timezone": "Europe/Berlin", "auth_provider": "email", "plan": "free", "marketing_opt_in": False},
        {"user_id": "u4", "name": "Cy", "signup_at": "2024-03-01 10:15", "timezone": "UTC", "auth_provider": "github",
         "marketing_opt_in": True},
    ])
    assert_frame_equal(checked.good, expected)
    assert_frame_equal(checked.bad, pl.DataFrame(schema=BAD_SCHEMA))
    assert checked.warnings == []


def test_each_user_rule_quarantines_its_row_with_the_raw_row():
    raw = users(
        ["", "a@example.com", "", "2024-03-01", "", "", "", "", ""],
        ["u2", "", "", "", "", "", "", "", ""],
        ["u3", "", "", "yesterday", "", "", "", "", ""],
        ["u4", "ann.example.com", "", "2024-03-01", "", "", "", "", ""],
        ["u5", "", "", "2024-03-01", "Nigeria", "", "", "", ""],
        ["u6", "", "", "2024-03-01", "", "Mars/Olympus", "", "", ""],
        ["u7", "", "", "2024-03-01", "", "", "", "", "maybe"],
        ["u8", "", "", "2024-03-01", "", "", "", "", ""],
    )

    # The batch starts at data row 10 of its file, so its rows are 10..17.
    checked = check("users", raw, "users.csv", 10, "USD")

    empty = dict.fromkeys(USER_HEADER, "")

    def raw_row(**values: str) -> str:
        return json.dumps(empty | values, separators=(",", ":"))

    assert_frame_equal(checked.bad, quarantined("users.csv", [
        (10, "missing user_id", raw_row(email="a@example.com", signup_at="2024-03-01")),
        (11, "missing signup_at", raw_row(user_id="u2")),
        (12, "bad timestamp in signup_at", raw_row(user_id="u3", signup_at="yesterday")),
        (13, "email does not look like an address", raw_row(user_id="u4", email="ann.example.com", signup_at="2024-03-01")),
        (14, "bad country code", raw_row(user_id="u5", signup_at="2024-03-01", country="Nigeria")),
        (15, "bad timezone", raw_row(user_id="u6", signup_at="2024-03-01", timezone="Mars/Olympus")),
        (16, "bad boolean in marketing_opt_in", raw_row(user_id="u7", signup_at="2024-03-01", marketing_opt_in="maybe")),
    ]))
    assert checked.good["user_id"].to_list() == ["u8"]


def test_a_row_breaking_several_rules_reports_the_first_in_column_order():
    raw = users(["", "not-an-email", "", "never", "Narnia", "Nowhere", "", "", "perhaps"])

    checked = check("users", raw, "users.csv", 1, "USD")

    assert checked.bad["rule"].to_list() == ["missing user_id"]


def test_column_names_are_lower_cased_and_stripped_and_unknown_user_columns_warned():
    raw = pl.DataFrame({" User_ID ": ["u1"], "SIGNUP_AT": ["2024-03-01T09:00:00"], "foo": ["1"], "Bar": ["2"]})

    checked = check("users", raw, "users.csv", 1, "USD")

    assert_frame_equal(checked.good, frame("users", [{"user_id": "u1", "signup_at": "2024-03-01 09:00"}]))
    assert checked.warnings == ["users.csv: unknown columns ignored: foo, bar"]


def test_mixed_timestamp_styles_in_one_column_all_parse():
    raw = users(
        *[[f"u{i}", "", "", ts, "", "", "", "", ""] for i, ts in enumerate([
            "2024-03-01T10:00:00Z",
            "2024-03-01 10:00",
            "2024-03-01T12:00:00.250+02:00",
            "2024-03-01T10:00:00.5",
            "2024-03-01T05:00:00-0500",
            "2024-03-01",
            " 2024-03-01T10:00:00 ",
        ])]
    )

    checked = check("users", raw, "users.csv", 1, "USD")

    assert checked.good["signup_at"].to_list() == [
        datetime(2024, 3, 1, 10, 0),
        datetime(2024, 3, 1, 10, 0),
        datetime(2024, 3, 1, 10, 0, 0, 250000),
        datetime(2024, 3, 1, 10, 0, 0, 500000),
        datetime(2024, 3, 1, 10, 0),
        datetime(2024, 3, 1, 0, 0),
        datetime(2024, 3, 1, 10, 0),
    ]


def test_a_column_written_with_one_offset_or_fraction_parses_exactly():
    def signups(*values: str) -> list[datetime]:
        raw = users(*[[f"u{i}", "", "", ts, "", "", "", "", ""] for i, ts in enumerate(values)])
        return check("users", raw, "users.csv", 1, "USD").good["signup_at"].to_list()

    assert signups(
        "2024-03-01 10:00:00+05:30", "2024-03-01 23:59:59+05:30", "2024-03-01 10:00:00-03:00", "2024-03-01"
    ) == [
        datetime(2024, 3, 1, 4, 30), datetime(2024, 3, 1, 18, 29, 59), datetime(2024, 3, 1, 13, 0),
        datetime(2024, 3, 1, 0, 0),
    ]
    # PostgreSQL writes hour-only offsets; JavaScript writes milliseconds and Z.
    assert signups("2024-03-01 10:00:00+00", "2024-03-01 10:00:00-03") == [
        datetime(2024, 3, 1, 10, 0), datetime(2024, 3, 1, 13, 0)
    ]
    assert signups("2024-03-01T10:00:00.123Z", "2024-03-01T10:00:00.5Z", "2024-03-01T10:00:00.1234567Z") == [
        datetime(2024, 3, 1, 10, 0, 0, 123000), datetime(2024, 3, 1, 10, 0, 0, 500000),
        datetime(2024, 3, 1, 10, 0, 0, 123456),
    ]


def test_impossible_dates_are_bad_timestamps():
    raw = users(
        ["u1", "", "", "2024-02-30", "", "", "", "", ""],
        ["u2", "", "", "2024-03-01T24:00:00", "", "", "", "", ""],
        ["u3", "", "", "01/03/2024", "", "", "", "", ""],
        ["u4", "", "", "2024-03-01T10:00:00+25:00", "", "", "", "", ""],
        ["u5", "", "", "2024-03-01T10:00:00.12x4Z", "", "", "", "", ""],
    )

    checked = check("users", raw, "users.csv", 1, "USD")

    assert checked.bad["rule"].to_list() == ["bad timestamp in signup_at"] * 5


EVENT_HEADER = ["event_id", "user_id", "ts", "event_type", "event_name", "device_type", "country_code", "properties"]


def events(*rows: list[str], header: list[str] = EVENT_HEADER) -> pl.DataFrame:
    return text(**{name: [row[i] for row in rows] for i, name in enumerate(header)})


def test_each_event_rule_quarantines_its_row():
    raw = events(
        ["e1", "u1", "2024-03-01T10:00:00Z", "Page_View", "", "Mobile", "gb", '{"category": "reports", "duration": 12}'],
        ["e2", "u1", "2024-03-01T10:00:00Z", "click", "", "", "", ""],
        ["e3", "u1", "2024-03-01T10:00:00Z", "feature_use", "", "", "", ""],
        ["e4", "u1", "2024-03-01T10:00:00Z", "login", "", "phone", "", ""],
        ["e5", "u1", "2024-03-01T10:00:00Z", "login", "", "", "GBR", ""],
        ["e6", "u1", "2024-03-01T10:00:00Z", "login", "", "", "", "[1, 2]"],
        ["e7", "u1", "2024-03-01T10:00:00Z", "login", "", "", "", '{"broken": '],
        ["e8", "u1", "2024-03-01T10:00:00Z", "login", "", "", "", '"just text"'],
        ["e9", "", "2024-03-01T10:00:00Z", "login", "", "", "", ""],
        ["e10", "u1", "2024-03-01T10:00:00Z", "", "", "", "", ""],
        ["e11", "u1", "2024-03-01T10:00:00Z", "feature_use", "export_csv", "", "", "{}"],
    )

    checked = check("events", raw, "events.csv", 1, "USD")

    assert checked.bad.select("row_number", "rule").rows() == [
        (2, "unknown event_type 'click'"),
        (3, "feature_use needs event_name"),
        (4, "unknown device_type 'phone'"),
        (5, "bad country code"),
        (6, "properties must be a JSON object"),
        (7, "properties must be a JSON object"),
        (8, "properties must be a JSON object"),
        (9, "missing user_id"),
        (10, "missing event_type"),
    ]
    assert checked.bad["raw"][0] == (
        '{"event_id":"e2","user_id":"u1","ts":"2024-03-01T10:00:00Z","event_type":"click",'
        '"event_name":"","device_type":"","country_code":"","properties":""}'
    )
    assert_frame_equal(checked.good, frame("events", [
        {"event_id": "e1", "user_id": "u1", "ts": "2024-03-01 10:00", "event_type": "page_view",
         "device_type": "mobile", "country_code": "GB", "properties": '{"category": "reports", "duration": 12}'},
        {"event_id": "e11", "user_id": "u1", "ts": "2024-03-01 10:00", "event_type": "feature_use",
         "event_name": "export_csv", "properties": "{}"},
    ]))


def test_feature_use_without_an_event_name_column_is_quarantined():
    raw = text(event_id=["e1", "e2"], user_id=["u1", "u1"], ts=["2024-03-01", "2024-03-01"],
               event_type=["feature_use", "login"])

    checked = check("events", raw, "events.csv", 1, "USD")

    assert checked.bad.select("row_number", "rule").rows() == [(1, "feature_use needs event_name")]
    assert checked.good["event_id"].to_list() == ["e2"]


def test_extra_event_columns_are_folded_into_properties():
    raw = events(
        ["e1", "u1", "2024-03-01", "login", "", "", "", '{"method": "google"}', "gold", "4.2"],
        ["e2", "u1", "2024-03-01", "login", "", "", "", "", "silver", ""],
        ["e3", "u1", "2024-03-01", "login", "", "", "", '{"a": 1}', "", ""],
        ["e4", "u1", "2024-03-01", "login", "", "", "", '{"plan_tier": "from properties"}', "from column", ""],
        ["e5", "u1", "2024-03-01", "login", "", "", "", '{"a": 1,}', "gold", ""],
        header=[*EVENT_HEADER, "plan_tier", "App_Version"],
    )

    checked = check("events", raw, "events.csv", 1, "USD")

    assert checked.good["properties"].to_list() == [
        '{"plan_tier":"gold","app_version":"4.2","method":"google"}',
        '{"plan_tier":"silver"}',
        '{"a": 1}',  # no extra value on this row: properties is left exactly as written
        '{"plan_tier":"from properties"}',  # a key already in properties wins over the column
        '{"plan_tier":"gold","a":1}',  # a trailing comma is accepted, as DuckDB reads it in the store
    ]
    assert checked.warnings == []


def test_events_from_a_typed_source_keep_their_json_and_types():
    raw = pl.DataFrame({
        "event_id": ["e1", "e2"],
        "user_id": ["u1", "u2"],
        "ts": pl.Series([datetime(2024, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=5)))] * 2),
        "event_type": ["custom", "custom"],
        "properties": [{"plan": "pro", "seats": 3}, None],
        "seats_used": [2, None],
    })

    checked = check("events", raw, "warehouse", 1, "USD")

    assert_frame_equal(checked.good, frame("events", [
        {"event_id": "e1", "user_id": "u1", "ts": "2024-03-01 05:00", "event_type": "custom",
         "properties": '{"seats_used":2,"plan":"pro","seats":3}'},
        {"event_id": "e2", "user_id": "u2", "ts": "2024-03-01 05:00", "event_type": "custom"},
    ]))


TX_HEADER = ["transaction_id", "user_id", "ts", "kind", "status", "amount", "currency", "refund_of"]


def transactions(*rows: list[str]) -> pl.DataFrame:
    return text(**{name: [row[i] for row in rows] for i, name in enumerate(TX_HEADER)})


def test_transactions_take_default_status_and_reporting_currency_and_exact_amounts():
    raw = transactions(
        ["t1", "u1", "2024-03-01T10:00:00Z", "purchase", "", "19.99", "", ""],
        ["t2", "u1", "2024-03-01T10:00:00Z", "Subscription", "Failed", "0.1", "eur", ""],
        ["t3", "u1", "2024-03-01T10:00:00Z", "refund", "pending", " 0.2 ", "NGN", "t1"],
        ["t4", "u1", "2024-03-01T10:00:00Z", "purchase", "succeeded", "123456789.1234", "USD", ""],
        ["t5", "u1", "2024-03-01T10:00:00Z", "purchase", "", "1.50000", "", ""],
    )

    checked = check("transactions", raw, "transactions.csv", 1, "gbp")

    assert_frame_equal(checked.good, frame("transactions", [
        {"transaction_id": "t1", "user_id": "u1", "ts": "2024-03-01 10:00", "kind": "purchase",
         "status": "succeeded", "amount": "19.99", "currency": "GBP"},
        {"transaction_id": "t2", "user_id": "u1", "ts": "2024-03-01 10:00", "kind": "subscription",
         "status": "failed", "amount": "0.1", "currency": "EUR"},
        {"transaction_id": "t3", "user_id": "u1", "ts": "2024-03-01 10:00", "kind": "refund",
         "status": "pending", "amount": "0.2", "currency": "NGN", "refund_of": "t1"},
        {"transaction_id": "t4", "user_id": "u1", "ts": "2024-03-01 10:00", "kind": "purchase",
         "status": "succeeded", "amount": "123456789.1234", "currency": "USD"},
        {"transaction_id": "t5", "user_id": "u1", "ts": "2024-03-01 10:00", "kind": "purchase",
         "status": "succeeded", "amount": "1.5", "currency": "GBP"},
    ]))
    # Decimal, not float: 0.1 + 0.2 is exactly 0.3.
    assert checked.good["amount"][1:3].sum() == Decimal("0.3")
    assert checked.good["amount"][0] == Decimal("19.99")


def test_each_transaction_rule_quarantines_its_row():
    raw = transactions(
        ["t1", "u1", "2024-03-01", "gift", "", "1", "", ""],
        ["t2", "u1", "2024-03-01", "purchase", "done", "1", "", ""],
        ["t3", "u1", "2024-03-01", "purchase", "", "12,50", "", ""],
        ["t4", "u1", "2024-03-01", "purchase", "", "-1", "", ""],
        ["t5", "u1", "2024-03-01", "purchase", "", "1.23456", "", ""],
        ["t6", "u1", "2024-03-01", "purchase", "", "1", "US$", ""],
        ["t7", "u1", "2024-03-01", "purchase", "", "", "", ""],
        ["t8", "u1", "2024-03-01", "", "", "1", "", ""],
        ["t9", "u1", "2024-03-01", "purchase", "", "$5", "", ""],
    )

    checked = check("transactions", raw, "transactions.csv", 1, "USD")

    assert checked.bad.select("row_number", "rule").rows() == [
        (1, "unknown kind 'gift'"),
        (2, "unknown status 'done'"),
        (3, "bad amount"),
        (4, "amount must be >= 0"),
        (5, "amount has more than 4 decimal places"),
        (6, "bad currency code"),
        (7, "missing amount"),
        (8, "missing kind"),
        (9, "bad amount"),
    ]
    assert checked.good.height == 0


def test_typed_transactions_from_parquet_or_sql_pass_through():
    raw = pl.DataFrame({
        "transaction_id": ["t1", "t2", "t3"],
        "user_id": ["u1", "u1", "u1"],
        "ts": [datetime(2024, 3, 1, 10, 0), datetime(2024, 3, 2, 0, 0), None],
        "kind": ["purchase", "purchase", "purchase"],
        "amount": pl.Series([Decimal("19.99"), Decimal("-2.00"), Decimal("1.00")], dtype=pl.Decimal(10, 2)),
    })

    checked = check("transactions", raw, "sales.parquet", 1, "USD")

    assert_frame_equal(checked.good, frame("transactions", [
        {"transaction_id": "t1", "user_id": "u1", "ts": "2024-03-01 10:00", "kind": "purchase", "amount": "19.99"},
    ]))
    assert checked.bad.select("row_number", "rule").rows() == [(2, "amount must be >= 0"), (3, "missing ts")]
    assert checked.bad["raw"][0] == (
        '{"transaction_id":"t2","user_id":"u1","ts":"2024-03-02 00:00:00","kind":"purchase","amount":"-2.00"}'
    )


def test_float_amounts_are_rounded_to_four_places_not_quarantined():
    raw = pl.DataFrame({
        "transaction_id": ["t1", "t2"],
        "user_id": ["u1", "u1"],
        "ts": [datetime(2024, 3, 1, 10, 0)] * 2,
        "kind": ["purchase", "purchase"],
        "amount": [0.1 + 0.2, 19.99],  # 0.30000000000000004 and 19.989999999999998436805981327779591083526611328125
    })

    checked = check("transactions", raw, "sales.parquet", 1, "USD")

    assert checked.good["amount"].to_list() == [Decimal("0.3"), Decimal("19.99")]
    assert checked.bad.height == 0


def test_dates_and_integer_booleans_from_typed_sources():
    raw = pl.DataFrame({
        "user_id": ["u1", "u2", "u3"],
        "signup_at": [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)],
        "marketing_opt_in": [1, 0, None],
    })

    checked = check("users", raw, "app.sqlite", 1, "USD")

    assert_frame_equal(checked.good, frame("users", [
        {"user_id": "u1", "signup_at": "2024-03-01 00:00", "marketing_opt_in": True},
        {"user_id": "u2", "signup_at": "2024-03-02 00:00", "marketing_opt_in": False},
        {"user_id": "u3", "signup_at": "2024-03-03 00:00", "marketing_opt_in": False},
    ]))


SUB_HEADER = ["subscription_id", "user_id", "plan", "mrr", "started_at", "ended_at", "cancel_reason"]


def subscriptions(*rows: list[str]) -> pl.DataFrame:
    return text(**{name: [row[i] for row in rows] for i, name in enumerate(SUB_HEADER)})


def test_subscription_periods_and_their_rules():
    raw = subscriptions(
        ["s1", "u1", "pro", "29.00", "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", ""],
        ["s1", "u1", "enterprise", "400", "2024-02-01T00:00:00Z", "", ""],
        ["s2", "u2", "pro", "24.1667", "2024-01-15", "2024-01-15", "too expensive"],
        ["s3", "u3", "pro", "-5", "2024-01-15", "", ""],
        ["s4", "u4", "pro", "10", "2024-01-15", "soon", ""],
        ["s5", "u5", "", "10", "2024-01-15", "", ""],
        ["s6", "u6", "trial", "", "2024-01-15", "", ""],
        ["s7", "u7", "pro", "29", "2024-03-01T00:00:00+01:00", "2024-02-29T23:30:00Z", "moved to a competitor"],
    )

    checked = check("subscriptions", raw, "subscriptions.csv", 1, "USD")

    assert_frame_equal(checked.good, frame("subscriptions", [
        {"subscription_id": "s1", "user_id": "u1", "plan": "pro", "mrr": "29.00",
         "started_at": "2024-01-01 00:00", "ended_at": "2024-02-01 00:00"},
        {"subscription_id": "s1", "user_id": "u1", "plan": "enterprise", "mrr": "400",
         "started_at": "2024-02-01 00:00"},
        # 01:00+01:00 is 00:00 UTC, so this period ended 23:30 UTC later.
        {"subscription_id": "s7", "user_id": "u7", "plan": "pro", "mrr": "29", "started_at": "2024-02-29 23:00",
         "ended_at": "2024-02-29 23:30", "cancel_reason": "moved to a competitor"},
    ]))
    assert checked.bad.select("row_number", "rule").rows() == [
        (3, "ended_at must be after started_at"),
        (4, "mrr must be >= 0"),
        (5, "bad timestamp in ended_at"),
        (6, "missing plan"),
        (7, "missing mrr"),
    ]


def test_a_missing_required_column_fails_the_whole_batch():
    with pytest.raises(LoadError) as error:
        require_columns("transactions", ["transaction_id", "User_ID", "ts"], "sales.csv")
    assert str(error.value) == "Cannot load sales.csv as transactions: the required columns kind, amount are missing."

    with pytest.raises(LoadError) as error:
        check("users", text(user_id=["u1"]), "users.csv", 1, "USD")
    assert str(error.value) == "Cannot load users.csv as users: the required column signup_at is missing."


def test_a_column_named_twice_fails_the_whole_batch():
    raw = pl.DataFrame({"user_id": ["u1"], "User_ID": ["u2"], "signup_at": ["2024-03-01"]})

    with pytest.raises(LoadError) as error:
        check("users", raw, "users.csv", 1, "USD")
    assert str(error.value) == "Cannot load users.csv: the column user_id appears more than once."


def test_an_empty_batch_gives_empty_typed_frames():
    checked = check("events", text(event_id=[], user_id=[], ts=[], event_type=[]), "events.csv", 1, "USD")

    assert_frame_equal(checked.good, frame("events", []))
    assert_frame_equal(checked.bad, pl.DataFrame(schema=BAD_SCHEMA))
