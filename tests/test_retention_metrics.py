"""Retention and churn (METRICS.md "Retention and churn", issue 4): whole matrices from literal events."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest
from conftest import d, q
from polars.testing import assert_frame_equal

from metrics import registry
from pulse.export import to_csv
from pulse.query import QueryError

RETENTION = {"cohort": pl.Date, "period_offset": pl.Int64, "cohort_size": pl.Int64, "retained": pl.Int64, "rate": pl.Float64}
CURVE = {"period_offset": pl.Int64, "cohort_size": pl.Int64, "retained": pl.Int64, "rate": pl.Float64}
BY = {"value": pl.String, **CURVE}
DAY_N = {"cohort": pl.Date, "cohort_size": pl.Int64, **{f"day_{n}": pl.Float64 for n in (1, 7, 14, 30, 60, 90)}}
CHURN = {"period": pl.Date, "active_previous": pl.Int64, "churned": pl.Int64, "churn_rate": pl.Float64}
LIFETIME = {"users": pl.Int64, "avg_lifetime_days": pl.Float64, "median_lifetime_days": pl.Float64}
AT_RISK = {"user_id": pl.String, "email": pl.String, "plan": pl.String, "mrr": pl.Decimal(18, 2), "last_seen": pl.Date,
           "active_days_prev_14": pl.Int64, "active_days_last_14": pl.Int64}


def ev(user: str, ts: str, event_type: str = "login", **columns: str) -> dict:
    """One event; its id is the user, time and device, so a test never repeats an id by accident."""
    return {"event_id": f"{user}@{ts}/{columns.get('device_type', '')}", "user_id": user, "ts": ts,
            "event_type": event_type, **columns}


def days(user: str, *dates: str, **columns: str) -> list[dict]:
    """One event at 10:00 UTC on each date."""
    return [ev(user, f"{day} 10:00", **columns) for day in dates]


def frame(schema: dict, rows: list[tuple]) -> pl.DataFrame:
    """The expected frame, from tuples with dates written as text."""
    dates = [name for name, dtype in schema.items() if dtype == pl.Date]
    typed = [tuple(d(v) if name in dates and isinstance(v, str) else v for name, v in zip(schema, row, strict=True))
             for row in rows]
    return pl.DataFrame(typed, schema=schema, orient="row")


# -- retention ----------------------------------------------------------------------------------

# Jan 1-4 by day. a: Jan 1, 2, 4. b: Jan 2, 3. c: Dec 30 (before the range) and Jan 3. z: only Dec 20.
DAILY = [*days("a", "2024-01-01", "2024-01-02", "2024-01-04"), *days("b", "2024-01-02", "2024-01-03"),
         *days("c", "2023-12-30", "2024-01-03"), *days("z", "2023-12-20")]


def test_first_time_cohorts_leave_out_users_first_seen_before_the_range(make_store):
    store = make_store(events=DAILY)
    out = registry.run("retention", store, q("2024-01-01", "2024-01-04"))
    # c's first activity ever is Dec 30: in no cohort of the range, though active on Jan 3; z is in none either.
    # Offsets stop at the range's last day (Jan 4): absent, not zero, beyond it.
    assert_frame_equal(out, frame(RETENTION, [
        ("2024-01-01", 0, 1, 1, 1.0), ("2024-01-01", 1, 1, 1, 1.0), ("2024-01-01", 2, 1, 0, 0.0), ("2024-01-01", 3, 1, 1, 1.0),
        ("2024-01-02", 0, 1, 1, 1.0), ("2024-01-02", 1, 1, 1, 1.0), ("2024-01-02", 2, 1, 0, 0.0),
        ("2024-01-03", 0, 0, 0, None), ("2024-01-03", 1, 0, 0, None),
        ("2024-01-04", 0, 0, 0, None),
    ]))


def test_recurring_puts_a_user_in_every_cohort_they_were_active_in(make_store):
    store = make_store(events=DAILY)
    out = registry.run("retention", store, q("2024-01-01", "2024-01-04", mode="recurring"))
    assert_frame_equal(out, frame(RETENTION, [
        ("2024-01-01", 0, 1, 1, 1.0), ("2024-01-01", 1, 1, 1, 1.0), ("2024-01-01", 2, 1, 0, 0.0), ("2024-01-01", 3, 1, 1, 1.0),
        # a and b: b back on Jan 3, a on Jan 4.
        ("2024-01-02", 0, 2, 2, 1.0), ("2024-01-02", 1, 2, 1, 0.5), ("2024-01-02", 2, 2, 1, 0.5),
        # b and c (c counts here: recurring ignores activity before the range).
        ("2024-01-03", 0, 2, 2, 1.0), ("2024-01-03", 1, 2, 0, 0.0),
        ("2024-01-04", 0, 1, 1, 1.0),
    ]))


# Weeks of Jan 1, 8, 15, 22 (Mondays). x: weeks 1, 2, 4. y: weeks 1, 3. z: weeks 2, 3.
WEEKLY = [*days("x", "2024-01-02", "2024-01-09", "2024-01-23"), *days("y", "2024-01-03", "2024-01-17"),
          *days("z", "2024-01-10", "2024-01-16")]


def test_cumulative_counts_a_member_active_at_that_offset_or_any_later_one(make_store):
    store = make_store(events=WEEKLY)
    exact = registry.run("retention", store, q("2024-01-01", "2024-01-28", "week", mode="recurring"))
    cumulative = registry.run("retention", store, q("2024-01-01", "2024-01-28", "week", mode="recurring", cumulative="true"))
    assert_frame_equal(exact, frame(RETENTION, [
        ("2024-01-01", 0, 2, 2, 1.0), ("2024-01-01", 1, 2, 1, 0.5), ("2024-01-01", 2, 2, 1, 0.5), ("2024-01-01", 3, 2, 1, 0.5),
        ("2024-01-08", 0, 2, 2, 1.0), ("2024-01-08", 1, 2, 1, 0.5), ("2024-01-08", 2, 2, 1, 0.5),
        ("2024-01-15", 0, 2, 2, 1.0), ("2024-01-15", 1, 2, 0, 0.0),
        ("2024-01-22", 0, 1, 1, 1.0),
    ]))
    # Week 1 {x, y}: at offset 1, x (week 2) and y (week 3, later) → 2; offset 2: x (week 4), y (week 3) → 2;
    # offset 3: x only. Week 2 {x, z}: offset 1: x (week 4) and z (week 3) → 2; offset 2: x.
    assert_frame_equal(cumulative, frame(RETENTION, [
        ("2024-01-01", 0, 2, 2, 1.0), ("2024-01-01", 1, 2, 2, 1.0), ("2024-01-01", 2, 2, 2, 1.0), ("2024-01-01", 3, 2, 1, 0.5),
        ("2024-01-08", 0, 2, 2, 1.0), ("2024-01-08", 1, 2, 2, 1.0), ("2024-01-08", 2, 2, 1, 0.5),
        ("2024-01-15", 0, 2, 2, 1.0), ("2024-01-15", 1, 2, 0, 0.0),
        ("2024-01-22", 0, 1, 1, 1.0),
    ]))


def test_cumulative_first_time_reaches_past_the_last_offset_shown(make_store):
    store = make_store(events=WEEKLY)
    out = registry.run("retention", store, q("2024-01-01", "2024-01-28", "week", cumulative="true", periods=2))
    # First weeks: x and y in week 1, z in week 2. With 2 offsets, y (back only in week 3) still
    # counts at offset 1 for week 1: "that period or any later one up to the end of the range".
    assert_frame_equal(out, frame(RETENTION, [
        ("2024-01-01", 0, 2, 2, 1.0), ("2024-01-01", 1, 2, 2, 1.0),
        ("2024-01-08", 0, 1, 1, 1.0), ("2024-01-08", 1, 1, 1, 1.0),
        ("2024-01-15", 0, 0, 0, None), ("2024-01-15", 1, 0, 0, None),
        ("2024-01-22", 0, 0, 0, None),
    ]))


def test_weekly_cohorts_across_a_year_boundary(make_store):
    # ISO weeks start on Monday: Dec 30 2024 – Jan 5 2025 is one week.
    store = make_store(events=[
        *days("p", "2024-12-24", "2025-01-01"),          # week of Dec 23, back in the week of Dec 30
        *days("r", "2024-12-31", "2025-01-05", "2025-01-06"),  # week of Dec 30 (twice), back in the week of Jan 6
        *days("s", "2025-01-12"),                        # Sunday, the last day of the week of Jan 6
    ])
    # --start on a Wednesday widens back to Monday Dec 23, --end on a Friday on to Sunday Jan 12.
    out = registry.run("retention", store, q("2024-12-25", "2025-01-10", "week"))
    assert_frame_equal(out, frame(RETENTION, [
        ("2024-12-23", 0, 1, 1, 1.0), ("2024-12-23", 1, 1, 1, 1.0), ("2024-12-23", 2, 1, 0, 0.0),
        ("2024-12-30", 0, 1, 1, 1.0), ("2024-12-30", 1, 1, 1, 1.0),
        ("2025-01-06", 0, 1, 1, 1.0),
    ]))


def test_monthly_cohorts_with_a_month_of_no_activity(make_store):
    store = make_store(events=[
        *days("m", "2024-01-05", "2024-03-10"),   # January, skips February, back in March
        *days("n", "2024-01-20", "2024-04-02"),
        *days("o", "2024-03-15"),
    ])
    out = registry.run("retention", store, q("2024-01-01", "2024-04-30", "month"))
    assert_frame_equal(out, frame(RETENTION, [
        ("2024-01-01", 0, 2, 2, 1.0), ("2024-01-01", 1, 2, 0, 0.0), ("2024-01-01", 2, 2, 1, 0.5), ("2024-01-01", 3, 2, 1, 0.5),
        # Nobody started in February: the cohort is there, empty, with no rate.
        ("2024-02-01", 0, 0, 0, None), ("2024-02-01", 1, 0, 0, None), ("2024-02-01", 2, 0, 0, None),
        ("2024-03-01", 0, 1, 1, 1.0), ("2024-03-01", 1, 1, 0, 0.0),
        ("2024-04-01", 0, 0, 0, None),
    ]))


def test_the_reporting_timezone_decides_the_cohort(make_store):
    # 03:00 UTC on Feb 1 is 22:00 on Jan 31 in New York.
    events = [ev("t", "2024-02-01 03:00"), ev("t", "2024-02-20 15:00")]
    new_york = registry.run("retention", make_store(events=events, timezone="America/New_York"),
                            q("2024-01-01", "2024-02-29", "month"))
    utc = registry.run("retention", make_store(events=events), q("2024-01-01", "2024-02-29", "month"))
    assert_frame_equal(new_york, frame(RETENTION, [
        ("2024-01-01", 0, 1, 1, 1.0), ("2024-01-01", 1, 1, 1, 1.0),
        ("2024-02-01", 0, 0, 0, None),
    ]))
    assert_frame_equal(utc, frame(RETENTION, [
        ("2024-01-01", 0, 0, 0, None), ("2024-01-01", 1, 0, 0, None),
        ("2024-02-01", 0, 1, 1, 1.0),
    ]))


def test_an_empty_range_has_every_cohort_empty(make_store):
    store = make_store(events=DAILY)
    out = registry.run("retention", store, q("2024-02-01", "2024-02-03", mode="recurring"))
    assert_frame_equal(out, frame(RETENTION, [
        ("2024-02-01", 0, 0, 0, None), ("2024-02-01", 1, 0, 0, None), ("2024-02-01", 2, 0, 0, None),
        ("2024-02-02", 0, 0, 0, None), ("2024-02-02", 1, 0, 0, None),
        ("2024-02-03", 0, 0, 0, None),
    ]))


def test_a_device_filter_makes_the_first_activity_the_first_on_that_device(make_store):
    store = make_store(
        users=[{"user_id": "a", "signup_at": "2023-12-01 00:00", "country": "DE"},
               {"user_id": "b", "signup_at": "2023-12-01 00:00", "country": "FR"}],
        events=[*days("a", "2023-12-20", device_type="desktop"), *days("a", "2024-01-01", "2024-01-02", device_type="mobile"),
                *days("b", "2024-01-01", device_type="mobile")],
    )
    out = registry.run("retention", store, q("2024-01-01", "2024-01-02", device_type="mobile", country="de"))
    # Only a passes the country filter; on mobile a was first seen on Jan 1 (the desktop day is filtered out).
    assert_frame_equal(out, frame(RETENTION, [
        ("2024-01-01", 0, 1, 1, 1.0), ("2024-01-01", 1, 1, 1, 1.0),
        ("2024-01-02", 0, 0, 0, None),
    ]))


def test_the_event_type_option_narrows_what_counts_as_active(make_store):
    store = make_store(events=[ev("a", "2024-01-01 10:00"), ev("a", "2024-01-02 10:00", event_type="page_view"),
                               ev("a", "2024-01-03 10:00")])
    out = registry.run("retention", store, q("2024-01-01", "2024-01-03", event_type="login"))
    assert_frame_equal(out, frame(RETENTION, [
        ("2024-01-01", 0, 1, 1, 1.0), ("2024-01-01", 1, 1, 0, 0.0), ("2024-01-01", 2, 1, 1, 1.0),
        ("2024-01-02", 0, 0, 0, None), ("2024-01-02", 1, 0, 0, None),
        ("2024-01-03", 0, 0, 0, None),
    ]))


def test_retention_rejects_a_mode_it_does_not_know(make_store):
    store = make_store(events=DAILY)
    with pytest.raises(QueryError, match="mode"):
        registry.run("retention", store, q("2024-01-01", "2024-01-04", mode="weekly"))


# -- retention_curve ----------------------------------------------------------------------------

def test_retention_curve_sums_the_cohorts_that_observe_each_offset(make_store):
    store = make_store(events=WEEKLY)
    out = registry.run("retention_curve", store, q("2024-01-01", "2024-01-28", "week", mode="recurring"))
    # From the exact recurring matrix above: offset 1 over weeks 1-3: (1 + 1 + 0) / (2 + 2 + 2);
    # offset 3 only week 1 reaches. Offsets 4-7 lie past the range for every cohort: absent.
    assert_frame_equal(out, frame(CURVE, [
        (0, 7, 7, 1.0),
        (1, 6, 2, 2 / 6),
        (2, 4, 2, 0.5),
        (3, 2, 1, 0.5),
    ]))


def test_retention_curve_of_an_empty_range(make_store):
    store = make_store(events=DAILY)
    out = registry.run("retention_curve", store, q("2024-02-01", "2024-02-02"))
    assert_frame_equal(out, frame(CURVE, [(0, 0, 0, None), (1, 0, 0, None)]))


# -- retention_by -------------------------------------------------------------------------------

PEOPLE = [
    {"user_id": "a", "signup_at": "2024-01-01 00:00", "plan": "pro", "country": "DE", "auth_provider": "google"},
    {"user_id": "b", "signup_at": "2024-01-01 00:00", "plan": "pro", "country": "US", "auth_provider": "email"},
    {"user_id": "c", "signup_at": "2024-01-01 00:00", "plan": "free", "country": "US"},
    {"user_id": "e", "signup_at": "2024-01-01 00:00"},
]
SPLIT = [
    # a arrives on mobile, later uses desktop; the first-session device is what counts.
    *days("a", "2024-01-01", device_type="mobile"), *days("a", "2024-01-02", "2024-01-03", device_type="desktop"),
    # b's first event names no device; the next one in the same session does (10:05, within 30 minutes).
    ev("b", "2024-01-01 10:00"), ev("b", "2024-01-01 10:05", device_type="desktop"),
    *days("c", "2024-01-02", device_type="desktop"),
    *days("e", "2024-01-01"),
]


def test_retention_by_plan_puts_users_without_one_in_unknown(make_store):
    store = make_store(users=PEOPLE, events=SPLIT)
    out = registry.run("retention_by", store, q("2024-01-01", "2024-01-03", dimension="plan"))
    # pro: a and b start Jan 1; a back on Jan 2 and 3. free: c starts Jan 2, never back.
    assert_frame_equal(out, frame(BY, [
        ("Unknown", 0, 1, 1, 1.0), ("Unknown", 1, 1, 0, 0.0), ("Unknown", 2, 1, 0, 0.0),
        ("free", 0, 1, 1, 1.0), ("free", 1, 1, 0, 0.0), ("free", 2, 0, 0, None),
        ("pro", 0, 2, 2, 1.0), ("pro", 1, 2, 1, 0.5), ("pro", 2, 2, 1, 0.5),
    ]))


def test_retention_by_keeps_the_largest_groups_and_merges_the_rest(make_store):
    store = make_store(users=PEOPLE, events=SPLIT)
    out = registry.run("retention_by", store, q("2024-01-01", "2024-01-03", dimension="plan", top="1"))
    # pro has 2 members and stays; Unknown (e, Jan 1) and free (c, Jan 2) add up to Other:
    # offset 1: e not back on Jan 2, c not back on Jan 3 -> 0 of 2; offset 2: only e's cohort
    # observes it (Jan 3) -> 0 of 1.
    assert_frame_equal(out, frame(BY, [
        ("Other", 0, 2, 2, 1.0), ("Other", 1, 2, 0, 0.0), ("Other", 2, 1, 0, 0.0),
        ("pro", 0, 2, 2, 1.0), ("pro", 1, 2, 1, 0.5), ("pro", 2, 2, 1, 0.5),
    ]))
    every = registry.run("retention_by", store, q("2024-01-01", "2024-01-03", dimension="plan"))
    assert_frame_equal(registry.run("retention_by", store, q("2024-01-01", "2024-01-03", dimension="plan", top="3")), every)


def test_retention_by_device_takes_the_device_of_the_first_session(make_store):
    store = make_store(users=PEOPLE, events=SPLIT)
    out = registry.run("retention_by", store, q("2024-01-01", "2024-01-03", dimension="device_type", periods=2))
    assert_frame_equal(out, frame(BY, [
        ("Unknown", 0, 1, 1, 1.0), ("Unknown", 1, 1, 0, 0.0),
        # b (Jan 1) and c (Jan 2); offset 1 is observable for both cohorts.
        ("desktop", 0, 2, 2, 1.0), ("desktop", 1, 2, 0, 0.0),
        ("mobile", 0, 1, 1, 1.0), ("mobile", 1, 1, 1, 1.0),
    ]))


def test_retention_by_auth_provider_cumulative(make_store):
    store = make_store(users=PEOPLE, events=SPLIT)
    out = registry.run("retention_by", store, q("2024-01-01", "2024-01-03", dimension="auth_provider",
                                                 mode="recurring", cumulative="true", periods=2))
    # Recurring cohorts: Jan 1 {a, b, e}, Jan 2 {a, c}, Jan 3 {a}. a (google) is back after each.
    assert_frame_equal(out, frame(BY, [
        ("Unknown", 0, 2, 2, 1.0), ("Unknown", 1, 2, 0, 0.0),   # e on Jan 1, c on Jan 2
        ("email", 0, 1, 1, 1.0), ("email", 1, 1, 0, 0.0),
        ("google", 0, 3, 3, 1.0), ("google", 1, 2, 2, 1.0),
    ]))


# -- day_n_retention ----------------------------------------------------------------------------

def test_day_n_retention_is_empty_where_day_n_is_after_the_end(make_store):
    store = make_store(events=[
        *days("a", "2024-01-01", "2024-01-02", "2024-01-08", "2024-01-15"),
        *days("b", "2024-01-01", "2024-01-08", "2024-01-16"),   # Jan 16 is after --end
        *days("c", "2024-01-02", "2024-01-03"),
        *days("old", "2023-12-01", "2024-01-02"),              # first seen before the range: no cohort
    ])
    out = registry.run("day_n_retention", store, q("2024-01-01", "2024-01-15", "week"))
    empty = [(f"2024-01-{day:02d}", 0, None, None, None, None, None, None) for day in range(3, 16)]
    assert_frame_equal(out, frame(DAY_N, [
        # a back on day 1, 7, 14; b on day 7 (day 15 is not a column). Day 30 is after Jan 15.
        ("2024-01-01", 2, 0.5, 1.0, 0.5, None, None, None),
        # c back on day 1; day 7 (Jan 9) observable, nobody; day 14 (Jan 16) after the end.
        ("2024-01-02", 1, 1.0, 0.0, None, None, None, None),
        *empty,
    ]))


def test_day_n_retention_in_a_timezone(make_store):
    # In Tokyo 16:00 UTC is already the next day: both events fall on Jan 2 and Jan 3 local.
    store = make_store(events=[ev("a", "2024-01-01 16:00"), ev("a", "2024-01-02 16:00")], timezone="Asia/Tokyo")
    out = registry.run("day_n_retention", store, q("2024-01-02", "2024-01-03"))
    assert_frame_equal(out, frame(DAY_N, [
        ("2024-01-02", 1, 1.0, None, None, None, None, None),
        ("2024-01-03", 0, None, None, None, None, None, None),
    ]))


# -- churn --------------------------------------------------------------------------------------

def test_churn_by_day_reads_the_day_before_the_range(make_store):
    store = make_store(events=[*DAILY, *days("d", "2023-12-31")])
    out = registry.run("churn", store, q("2024-01-01", "2024-01-04"))
    assert_frame_equal(out, frame(CHURN, [
        ("2024-01-01", 1, 1, 1.0),    # d on Dec 31, gone on Jan 1
        ("2024-01-02", 1, 0, 0.0),    # a stays
        ("2024-01-03", 2, 1, 0.5),    # a and b on Jan 2; a missing on Jan 3
        ("2024-01-04", 2, 2, 1.0),    # b and c on Jan 3; neither on Jan 4
    ]))


def test_churn_by_month_with_a_silent_month(make_store):
    store = make_store(events=[
        *days("m", "2023-12-05", "2024-01-05", "2024-03-10"),
        *days("n", "2024-01-20", "2024-04-02"),
    ])
    out = registry.run("churn", store, q("2024-01-15", "2024-04-10", "month"))
    assert_frame_equal(out, frame(CHURN, [
        ("2024-01-01", 1, 0, 0.0),    # m in December and January
        ("2024-02-01", 2, 2, 1.0),    # nobody in February
        ("2024-03-01", 0, 0, None),   # nobody was active in February to churn
        ("2024-04-01", 1, 1, 1.0),    # m in March, not April
    ]))


def test_churn_of_an_empty_range(make_store):
    store = make_store(events=DAILY)
    out = registry.run("churn", store, q("2024-03-04", "2024-03-17", "week"))
    assert_frame_equal(out, frame(CHURN, [("2024-03-04", 0, 0, None), ("2024-03-11", 0, 0, None)]))


# -- lifetime -----------------------------------------------------------------------------------

LIVES = [
    *days("a", "2024-01-01", "2024-01-10"),                 # 9 days
    *days("b", "2024-01-05"),                               # 0 days
    *days("c", "2024-01-02", "2024-02-10"),                 # last seen 20 days before --end: still here
    *days("d", "2024-01-01", "2024-01-03", "2024-04-01"),   # April is after --end: as of Mar 1, 2 days
    *days("e", "2024-01-15", "2024-01-31"),                 # exactly 30 days before --end: not "more than"
]


def test_lifetime_of_users_gone_quiet(make_store):
    store = make_store(events=LIVES)
    out = registry.run("lifetime", store, q("2024-02-20", "2024-03-01"))
    # a, b, d: (9 + 0 + 2) / 3 and the median of 0, 2, 9.
    assert_frame_equal(out, pl.DataFrame([(3, 11 / 3, 2.0)], schema=LIFETIME, orient="row"))


def test_lifetime_with_a_shorter_inactivity(make_store):
    store = make_store(events=LIVES)
    out = registry.run("lifetime", store, q("2024-02-20", "2024-03-01", inactive_days=10))
    # Now c (39 days) and e (16 days) have gone quiet too: 0, 2, 9, 16, 39.
    assert_frame_equal(out, pl.DataFrame([(5, 66 / 5, 9.0)], schema=LIFETIME, orient="row"))


def test_lifetime_when_nobody_has_gone_quiet(make_store):
    store = make_store(events=LIVES)
    out = registry.run("lifetime", store, q("2024-01-01", "2024-01-10"))
    assert_frame_equal(out, pl.DataFrame([(0, None, None)], schema=LIFETIME, orient="row"))


# -- at_risk_users ------------------------------------------------------------------------------

RISK_USERS = [
    {"user_id": "u1", "signup_at": "2023-12-01 00:00", "email": "u1@example.com", "plan": "pro"},
    {"user_id": "u2", "signup_at": "2023-12-01 00:00", "email": "u2@example.com", "plan": "pro"},
    {"user_id": "u3", "signup_at": "2023-12-01 00:00", "email": "u3@example.com"},
    {"user_id": "u4", "signup_at": "2023-12-01 00:00", "email": "u4@example.com", "plan": "enterprise"},
    {"user_id": "u5", "signup_at": "2023-12-01 00:00", "email": "u5@example.com"},
    {"user_id": "u6", "signup_at": "2023-12-01 00:00", "email": "u6@example.com", "plan": "free"},
]
# --end Jan 28: the 14 days before are Jan 1-14, the last 14 days Jan 15-28.
RISK_EVENTS = [
    *days("u1", "2024-01-02", "2024-01-04", "2024-01-06", "2024-01-08", "2024-01-20", "2024-01-30"),
    *days("u2", "2024-01-05", "2024-01-06", "2024-01-27"),             # 1 of 2: exactly half is not fewer
    *days("u3", "2024-01-01", "2024-01-02", "2024-01-14"),
    *days("u4", "2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-06",
          "2024-01-15", "2024-01-28"),
    *days("u5", "2023-12-20", "2023-12-31"),                           # nothing in the 28 days
    *days("u6", "2024-01-09", "2024-01-10"),
]
RISK_SUBSCRIPTIONS = [
    {"subscription_id": "s1", "user_id": "u1", "plan": "pro", "mrr": "29", "started_at": "2023-12-01 00:00"},
    {"subscription_id": "s4", "user_id": "u4", "plan": "enterprise", "mrr": "29", "started_at": "2023-12-01 00:00"},
    # Ended at midnight Jan 28 UTC, before --end is over: no MRR at the end.
    {"subscription_id": "s6", "user_id": "u6", "plan": "pro", "mrr": "99", "started_at": "2023-12-01 00:00",
     "ended_at": "2024-01-28 00:00"},
]


def test_at_risk_users_sorted_by_mrr_then_earlier_activity(make_store):
    store = make_store(users=RISK_USERS, events=RISK_EVENTS, subscriptions=RISK_SUBSCRIPTIONS)
    out = registry.run("at_risk_users", store, q("2024-01-01", "2024-01-28"))
    assert_frame_equal(out, frame(AT_RISK, [
        ("u4", "u4@example.com", "enterprise", Decimal("29.00"), "2024-01-28", 6, 2),
        ("u1", "u1@example.com", "pro", Decimal("29.00"), "2024-01-20", 4, 1),   # Jan 30 is after --end
        ("u3", "u3@example.com", None, Decimal("0.00"), "2024-01-14", 3, 0),
        ("u6", "u6@example.com", "free", Decimal("0.00"), "2024-01-10", 2, 0),
    ]))


def test_at_risk_users_ignore_the_start_date(make_store):
    store = make_store(users=RISK_USERS, events=RISK_EVENTS, subscriptions=RISK_SUBSCRIPTIONS)
    out = registry.run("at_risk_users", store, q("2024-01-27", "2024-01-28", "month"))
    assert out["user_id"].to_list() == ["u4", "u1", "u3", "u6"]


# -- exports ------------------------------------------------------------------------------------

def test_export_retention_recurring_cumulative(make_store):
    store = make_store(events=WEEKLY)
    out = registry.run("retention", store, q("2024-01-01", "2024-01-21", "week", mode="recurring", cumulative="true", periods=2))
    assert to_csv(out) == (
        "cohort,period_offset,cohort_size,retained,rate\n"
        "2024-01-01,0,2,2,1.0\n"
        "2024-01-01,1,2,2,1.0\n"
        "2024-01-08,0,2,2,1.0\n"
        "2024-01-08,1,2,1,0.5\n"
        "2024-01-15,0,2,2,1.0\n"
    )


def test_export_retention_curve(make_store):
    store = make_store(events=WEEKLY)
    out = registry.run("retention_curve", store, q("2024-01-01", "2024-01-28", "week", mode="recurring", periods=3))
    assert to_csv(out) == (
        "period_offset,cohort_size,retained,rate\n"
        "0,7,7,1.0\n"
        "1,6,2,0.333333\n"
        "2,4,2,0.5\n"
    )


def test_export_retention_by_country(make_store):
    store = make_store(users=PEOPLE, events=SPLIT)
    out = registry.run("retention_by", store, q("2024-01-01", "2024-01-02", dimension="country"))
    assert to_csv(out) == (
        "value,period_offset,cohort_size,retained,rate\n"
        "DE,0,1,1,1.0\n"
        "DE,1,1,1,1.0\n"
        "US,0,2,2,1.0\n"
        "US,1,1,0,0.0\n"
        "Unknown,0,1,1,1.0\n"
        "Unknown,1,1,0,0.0\n"
    )


def test_export_day_n_retention(make_store):
    store = make_store(events=[*days("a", "2024-01-01", "2024-01-02"), *days("b", "2024-01-01")])
    out = registry.run("day_n_retention", store, q("2024-01-01", "2024-01-02", event_type="login"))
    assert to_csv(out) == (
        "cohort,cohort_size,day_1,day_7,day_14,day_30,day_60,day_90\n"
        "2024-01-01,2,0.5,,,,,\n"
        "2024-01-02,0,,,,,,\n"
    )


def test_export_churn_by_week(make_store):
    store = make_store(events=WEEKLY)
    out = registry.run("churn", store, q("2024-01-08", "2024-01-28", "week", event_type="login"))
    assert to_csv(out) == (
        "period,active_previous,churned,churn_rate\n"
        "2024-01-08,2,1,0.5\n"
        "2024-01-15,2,1,0.5\n"
        "2024-01-22,2,2,1.0\n"
    )


def test_export_lifetime(make_store):
    store = make_store(events=LIVES)
    out = registry.run("lifetime", store, q("2024-02-20", "2024-03-01", inactive_days=10))
    assert to_csv(out) == "users,avg_lifetime_days,median_lifetime_days\n5,13.2,9.0\n"


def test_export_at_risk_users(make_store):
    store = make_store(users=RISK_USERS, events=RISK_EVENTS, subscriptions=RISK_SUBSCRIPTIONS)
    out = registry.run("at_risk_users", store, q("2024-01-28", "2024-01-28", event_type="login"))
    assert to_csv(out) == (
        "user_id,email,plan,mrr,last_seen,active_days_prev_14,active_days_last_14\n"
        "u4,u4@example.com,enterprise,29.00,2024-01-28,6,2\n"
        "u1,u1@example.com,pro,29.00,2024-01-20,4,1\n"
        "u3,u3@example.com,,0.00,2024-01-14,3,0\n"
        "u6,u6@example.com,free,0.00,2024-01-10,2,0\n"
    )
