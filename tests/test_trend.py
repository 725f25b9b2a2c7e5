"""trend: whole frames on a literal store small enough to count by hand."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import build_store, d, q
from polars.testing import assert_frame_equal

from cli.main import main
from loaders.load import load_demo
from metrics import registry
from pulse.query import QueryError
from pulse.store import Store

USERS = [
    {"user_id": "u1", "signup_at": "2023-12-01 00:00", "country": "DE", "plan": "pro"},
    {"user_id": "u2", "signup_at": "2023-12-01 00:00", "country": "FR", "plan": "free"},
    {"user_id": "u3", "signup_at": "2023-12-01 00:00", "country": "DE", "plan": "free"},
]
EVENTS = [
    {"event_id": "e1", "user_id": "u1", "ts": "2024-01-01 10:00", "event_type": "page_view", "page_path": "/pricing",
     "device_type": "desktop", "properties": '{"duration": 10, "category": "a"}'},
    {"event_id": "e2", "user_id": "u1", "ts": "2024-01-01 10:10", "event_type": "page_view", "page_path": "/home",
     "device_type": "desktop", "properties": '{"duration": 20}'},
    {"event_id": "e3", "user_id": "u2", "ts": "2024-01-01 11:00", "event_type": "feature_use", "event_name": "export",
     "device_type": "mobile", "properties": '{"duration": 30, "category": "b"}'},
    # 110 minutes after u1's last event: u1's second session of the day.
    {"event_id": "e4", "user_id": "u1", "ts": "2024-01-01 12:00", "event_type": "login", "device_type": "mobile"},
    {"event_id": "e5", "user_id": "u3", "ts": "2024-01-02 09:00", "event_type": "page_view", "page_path": "/pricing",
     "device_type": "tablet", "properties": '{"duration": "n/a"}'},
    {"event_id": "e6", "user_id": "u2", "ts": "2024-01-02 09:05", "event_type": "page_view", "page_path": "/pricing",
     "device_type": "mobile", "properties": '{"duration": 40}'},
]
TRANSACTIONS = [
    {"transaction_id": "t1", "user_id": "u1", "ts": "2024-01-01 10:00", "kind": "purchase", "amount": "10.00"},
    {"transaction_id": "t2", "user_id": "u2", "ts": "2024-01-01 11:00", "kind": "subscription", "amount": "20.005"},
    {"transaction_id": "t3", "user_id": "u1", "ts": "2024-01-02 10:00", "kind": "refund", "amount": "5.00"},
    {"transaction_id": "t4", "user_id": "u2", "ts": "2024-01-02 11:00", "kind": "purchase", "amount": "7.00",
     "status": "failed"},
    {"transaction_id": "t5", "user_id": "u3", "ts": "2024-01-02 12:00", "kind": "purchase", "amount": "3.00",
     "currency": "EUR"},
]
D1, D2 = d("2024-01-01"), d("2024-01-02")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return build_store(tmp_path_factory.mktemp("trend") / "pulse.duckdb", users=USERS, events=EVENTS,
                       transactions=TRANSACTIONS)


def expected(rows: list[tuple], compare: bool = False) -> pl.DataFrame:
    """(period, series, breakdown_value, value[, previous_value]) rows as trend's frame."""
    return pl.DataFrame(
        [(*r, None) if not compare else r for r in rows],
        schema={"period": pl.Date, "series": pl.String, "breakdown_value": pl.String, "value": pl.Float64,
                "previous_value": pl.Float64},
        orient="row",
    )


def trend(store, start="2024-01-01", end="2024-01-02", interval="day", **options) -> pl.DataFrame:
    return registry.run("trend", store, q(start, end, interval, **options))


@pytest.mark.parametrize("options,day1,day2", [
    ({}, 4, 2),
    ({"math": "unique_users"}, 2, 2),  # u1, u2 | u3, u2
    ({"math": "per_user"}, 2.0, 1.0),  # 4 / 2 | 2 / 2
    # u1: 10:00-10:10 and 12:00 (two sessions), u2: 11:00 | u3 09:00, u2 09:05 (different users)
    ({"math": "sessions"}, 3, 2),
    # duration 10, 20, 30 (e4 has none) | 40 ("n/a" is not a number and is left out)
    ({"math": "sum", "property": "duration"}, 60, 40),
    ({"math": "avg", "property": "duration"}, 20, 40),
    ({"math": "median", "property": "duration"}, 20, 40),
    ({"math": "p90", "property": "duration"}, 28, 40),  # interpolated: 20 + 0.8 × (30 − 20)
    ({"math": "min", "property": "properties.duration"}, 10, 40),
    ({"math": "max", "property": "duration"}, 30, 40),
    ({"event": "page_view", "path": "/pricing", "math": "unique_users"}, 1, 2),
    ({"event": "feature_use", "name": "export"}, 1, 0),
])
def test_every_math_over_events(store, options, day1, day2):
    assert_frame_equal(trend(store, **options), expected([(D1, "A", None, day1), (D2, "A", None, day2)]))


def test_a_math_of_nothing_is_zero_for_counts_and_empty_for_averages(store):
    out = trend(store, series='[{"event":"logout"},{"event":"logout","math":"avg","property":"duration"},'
                              '{"event":"logout","math":"per_user"}]')
    assert_frame_equal(out, expected([(D1, "A", None, 0), (D1, "B", None, None), (D1, "C", None, None),
                                      (D2, "A", None, 0), (D2, "B", None, None), (D2, "C", None, None)]))


@pytest.mark.parametrize("where,day1,day2", [
    ("page_path=/pricing", 1, 2),
    ("page_path!=/pricing", 3, 0),  # e2, e3, e4: events without a page_path are kept by !=
    ("page_path≠/pricing", 3, 0),
    ("page_path~PRIC", 1, 2),  # contains, any case
    ("device_type in mobile,tablet", 2, 2),
    ("properties.duration>15", 2, 1),  # 20, 30 | 40 ("n/a" is no number)
    ("properties.duration<15", 1, 0),
    ("properties.category?", 2, 0),
    ("properties.category is set", 2, 0),
    ("properties.category is not set", 2, 2),  # e2, e4 | e5, e6
    ("country=de", 3, 1),  # u1's three events | u3's; the user's country in any case
    ("plan=free;device_type=mobile", 1, 1),  # e3 | e6
    ("marketing_opt_in=false", 4, 2),
    ("signup_month=2023-12", 4, 2),
])
def test_each_where_operator(store, where, day1, day2):
    assert_frame_equal(trend(store, where=where), expected([(D1, "A", None, day1), (D2, "A", None, day2)]))


def test_a_breakdown_keeps_the_top_values_and_sums_the_rest_as_other(store):
    # Events by device over the range: mobile 3 (e3, e4, e6), desktop 2, tablet 1: top=1 keeps mobile.
    out = trend(store, breakdown="device_type", top=1)
    assert_frame_equal(out, expected([(D1, "A", "mobile", 2), (D1, "A", "Other", 2),
                                      (D2, "A", "mobile", 1), (D2, "A", "Other", 1)]))


def test_unique_users_of_other_are_the_distinct_users_outside_the_top_values(store):
    # Users by device over the range: mobile {u1, u2}, desktop {u1}, tablet {u3}; tie broken by value,
    # so top=1 keeps mobile. Other on day 1: desktop's u1 (1); on day 2: tablet's u3 (1).
    out = trend(store, breakdown="device_type", top=1, math="unique_users")
    assert_frame_equal(out, expected([(D1, "A", "mobile", 2), (D1, "A", "Other", 1),
                                      (D2, "A", "mobile", 1), (D2, "A", "Other", 1)]))


def test_a_median_of_other_is_over_the_other_rows(store):
    # properties.category: a (e1: 10), b (e3: 30), (none) (e2: 20, e4: -, e5: n/a, e6: 40).
    # Ranked by median over the range: b 30, (none) 30 (median of 20, 40), a 10; ties by value.
    out = trend(store, breakdown="properties.category", top=2, math="median", property="duration")
    assert_frame_equal(out, expected([(D1, "A", "(none)", 20), (D1, "A", "b", 30), (D1, "A", "Other", 10),
                                      (D2, "A", "(none)", 40), (D2, "A", "b", None), (D2, "A", "Other", None)]))


def test_a_formula_across_two_series_with_division_by_zero(store):
    out = trend(store, series='[{"event":"login"},{"event":"page_view","label":"views"}]', formula="B / A")
    # login 1 | 0, page_view 2 | 2: B / A = 2 | empty (division by zero)
    assert_frame_equal(out, expected([(D1, "A", None, 1), (D1, "views", None, 2), (D1, "B / A", None, 2.0),
                                      (D2, "A", None, 0), (D2, "views", None, 2), (D2, "B / A", None, None)]))


def test_a_formula_per_breakdown_value(store):
    out = trend(store, series='[{},{"math":"unique_users"}]', formula="100 * B / A", breakdown="plan", top=1)
    # By plan over the range: free 4 events (e3, e5, e6 ... u2, u3), pro 3 (u1) → top=1 keeps free.
    # Day 1: free e3 (1 event, 1 user); pro (Other) e1, e2, e4 (3 events, 1 user).
    # Day 2: free e5, e6 (2 events, 2 users); no pro events.
    assert_frame_equal(out, expected([
        (D1, "A", "free", 1), (D1, "A", "Other", 3), (D1, "B", "free", 1), (D1, "B", "Other", 1),
        (D1, "100 * B / A", "free", 100.0), (D1, "100 * B / A", "Other", 100 / 3),
        (D2, "A", "free", 2), (D2, "A", "Other", 0), (D2, "B", "free", 2), (D2, "B", "Other", 0),
        (D2, "100 * B / A", "free", 100.0), (D2, "100 * B / A", "Other", None),
    ]))


def test_compare_adds_the_previous_range_period_by_period(store):
    out = trend(store, start="2024-01-02", end="2024-01-02", compare="true", math="unique_users", where="event_type=page_view")
    # 2024-01-02: u3, u2; the day before: u1
    assert_frame_equal(out, expected([(D2, "A", None, 2, 1)], compare=True))


def test_compare_keeps_the_current_top_values(store):
    out = trend(store, start="2024-01-02", end="2024-01-02", compare="true", breakdown="device_type", top=1)
    # 2024-01-02: mobile 1, tablet 1 → top mobile (tie by value); the day before: mobile 2, desktop 2 (Other)
    assert_frame_equal(out, expected([(D2, "A", "mobile", 1, 2), (D2, "A", "Other", 1, 2)], compare=True))


def test_transactions_sum_and_count_in_the_reporting_currency(store):
    out = trend(store, series='[{"source":"transactions","math":"sum","property":"amount","where":"kind!=refund"},'
                              '{"source":"transactions","kind":"refund","math":"sum","property":"amount"},'
                              '{"source":"transactions","status":"any"}]', formula="A - B")
    # A: 10.00 + 20.005 = 30.005 → 30.01 (rounded once); day 2 only a refund and a failed purchase.
    # B: the refund 5.00. C: every status, USD only (t5 is EUR): 2 | 2.
    assert_frame_equal(out, expected([
        (D1, "A", None, 30.01), (D1, "B", None, 0), (D1, "C", None, 2), (D1, "A - B", None, 30.01),
        (D2, "A", None, 0), (D2, "B", None, 5.0), (D2, "C", None, 2), (D2, "A - B", None, -5.0),
    ]))


NET = ('[{"source":"transactions","math":"sum","property":"amount","where":"kind!=refund"},'
       '{"source":"transactions","kind":"refund","math":"sum","property":"amount"}]')


def revenue_matches(store, start, end, interval="day", **filters):
    revenue = registry.run("revenue", store, q(start, end, interval, **filters))
    net = trend(store, start, end, interval, series=NET, formula="A - B", **filters).filter(pl.col("series") == "A - B")
    orders = trend(store, start, end, interval, source="transactions", where="kind!=refund", **filters)
    assert net["value"].round(2).to_list() == [float(v) for v in revenue["net_revenue"]]
    assert orders["value"].to_list() == [float(v) for v in revenue["orders"]]


def active_matches(store, start, end, interval="day", **filters):
    active = registry.run("active_users", store, q(start, end, interval, **filters))
    users = trend(store, start, end, interval, math="unique_users", **filters)
    assert users["value"].to_list() == [float(v) for v in active["active_users"]]
    # The same count from the raw events (a where forces the scan) agrees too.
    scanned = trend(store, start, end, interval, math="unique_users", where="event_type is set", **filters)
    assert scanned["value"].to_list() == users["value"].to_list()


@pytest.mark.parametrize("filters", [{}, {"country": "DE"}, {"device_type": "mobile"}, {"plan": "free"}])
def test_unique_users_and_net_revenue_equal_active_users_and_revenue(store, filters):
    active_matches(store, "2024-01-01", "2024-01-02", **filters)
    revenue_matches(store, "2024-01-01", "2024-01-02", **filters)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Store:
    store = Store(tmp_path_factory.mktemp("trend-demo") / "pulse.duckdb")
    load_demo(store, users=300, days=60, seed=5, end=date(2024, 3, 31))
    return store


@pytest.mark.parametrize("interval,filters", [("day", {}), ("week", {"country": "DE"}), ("month", {"device_type": "mobile"})])
def test_consistency_on_the_demo_store(demo, interval, filters):
    active_matches(demo, "2024-02-01", "2024-03-31", interval, **filters)
    revenue_matches(demo, "2024-02-01", "2024-03-31", interval, **filters)


def test_the_filter_bar_and_the_data_scope_apply(store):
    # country=DE: u1 and u3. A staff scope of plan free leaves u3 (and u2, filtered out by country).
    query = q("2024-01-01", "2024-01-02", country="DE").scoped(plans=("free",))
    out = registry.run("trend", store, query)
    assert_frame_equal(out, expected([(D1, "A", None, 0), (D2, "A", None, 1)]))
    out = trend(store, device_type="mobile", math="sessions")
    # mobile events only: e3 (u2), e4 (u1) | e6 (u2): sessions cut from them
    assert_frame_equal(out, expected([(D1, "A", None, 2), (D2, "A", None, 1)]))


@pytest.mark.parametrize("options,message", [
    ({"math": "sum"}, "Series A's math=sum needs a numeric property, e.g. property=duration."),
    ({"math": "sum", "property": "category"},
     "Series A: property category holds no numbers in the range, so math=sum cannot read it; choose a numeric property such as duration."),
    ({"property": "duration"}, "Series A's property is read only by math sum, avg, median, p90, min or max, not total."),
    ({"where": "colour=red"}, "Series A's where 'colour=red': unknown field 'colour' for events; use one of: event_type, "
     "event_name, page_path, device_type, browser, os, country_code, referrer, country, plan, auth_provider, signup_month, "
     "marketing_opt_in, properties.<key>."),
    ({"where": "country>3"}, "Series A's where 'country>3': country is text, which does not take >."),
    ({"where": "properties.duration>soon"}, "Series A's where 'properties.duration>soon': > compares numbers, and 'soon' is not one."),
    ({"breakdown": "colour"}, "breakdown (series A): unknown field 'colour' for events; use one of: event_type, event_name, "
     "page_path, device_type, browser, os, country_code, referrer, country, plan, auth_provider, signup_month, "
     "marketing_opt_in, properties.<key>."),
    ({"source": "transactions", "math": "sessions"},
     "Series A counts transactions, which have no sessions; math=sessions counts events."),
    ({"source": "transactions", "math": "avg", "property": "duration"},
     "Series A: the one number of a transaction is amount, not 'duration'."),
    ({"kind": "refund"}, "Series A counts events, and kind applies to transactions only."),
    ({"formula": "A / C"}, "The formula names series C, but the series are A."),
    ({"formula": "__import__('os')"}, "The formula \"__import__('os')\" is not arithmetic over the series, e.g. B / A or 100 * B / A."),
    ({"series": "[" + ",".join(["{}"] * 11) + "]"}, "A trend has at most 10 series; series lists 11."),
    ({"series": "{}"}, 'Option series is not a JSON list of objects, e.g. [{"event":"page_view"},{"event":"login"}].'),
    ({"series": '[{"evnt":"login"}]'},
     "Series A has an unknown key 'evnt'; use: source, event, name, path, kind, status, math, property, where, label."),
])
def test_an_impossible_trend_is_one_sentence(store, options, message):
    with pytest.raises(QueryError) as caught:
        trend(store, **options)
    assert str(caught.value) == message


def test_pulse_export_trend_prints_the_csv(tmp_path):
    path = tmp_path / "pulse.duckdb"
    build_store(path, users=USERS, events=EVENTS)
    env = {"PULSE_STORE": str(path), "PULSE_CONFIG": str(tmp_path / "none.toml")}
    result = CliRunner().invoke(main, [
        "export", "trend", "--start", "2024-01-01", "--end", "2024-01-02",
        "--option", "source=events", "--option", "event=page_view", "--option", "path=/pricing",
        "--option", "math=unique_users", "--option", "breakdown=device_type", "--option", "top=1",
        "--option", "where=country=DE;plan in free,pro", "--option", "compare=true",
    ], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    # DE users' /pricing views: u1 desktop (Jan 1), u3 tablet (Jan 2); the range before (Dec 30-31) is empty.
    assert result.stdout == (
        "period,series,breakdown_value,value,previous_value\n"
        "2024-01-01,A,desktop,1.0,0.0\n2024-01-01,A,Other,0.0,0.0\n"
        "2024-01-02,A,desktop,0.0,0.0\n2024-01-02,A,Other,1.0,0.0\n"
    )


def test_trend_users_lists_the_people_behind_a_point(make_store):
    store = make_store(
        users=[{"user_id": u, "signup_at": "2026-01-01 09:00", "email": f"{u}@example.com", "country": c, "plan": "pro"}
               for u, c in (("u1", "DE"), ("u2", "AT"), ("u3", "US"))],
        events=[
            {"event_id": "e1", "user_id": "u1", "ts": "2026-01-02 10:00", "event_type": "page_view", "device_type": "desktop"},
            {"event_id": "e2", "user_id": "u2", "ts": "2026-01-02 11:00", "event_type": "page_view", "device_type": "mobile"},
            {"event_id": "e3", "user_id": "u3", "ts": "2026-01-02 12:00", "event_type": "page_view", "device_type": "tablet"},
            {"event_id": "e4", "user_id": "u1", "ts": "2026-01-03 10:00", "event_type": "login", "device_type": "desktop"},
        ])
    people = lambda **o: registry.run("trend_users", store, q("2026-01-02", "2026-01-03", event="page_view",  # noqa: E731
                                                             **o))["user_id"].to_list()
    assert people(period="2026-01-02") == ["u1", "u2", "u3"]
    assert people(period="2026-01-03") == []  # u1's event on the 3rd is a login
    # Split by device with the top one value: desktop alone, and the rest as Other.
    assert people(period="2026-01-02", breakdown="device_type", top="1", value="desktop") == ["u1"]
    assert people(period="2026-01-02", breakdown="device_type", top="1", value="Other") == ["u2", "u3"]
    with pytest.raises(QueryError, match="There is no series 'B' to list users of; the trend has A."):
        people(period="2026-01-02", pick="B")
