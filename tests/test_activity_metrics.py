"""Activity (METRICS.md "Activity" and "Sessions", issue 3): whole frames from literal events.

Stores that several tests read are built once per module (building one is the slow part).
"""

from __future__ import annotations

import polars as pl
import pytest
from conftest import build_store, d, q
from polars.testing import assert_frame_equal

from metrics import registry
from pulse.export import to_csv
from pulse.query import QueryError

ACTIVE = {"period": pl.Date, "active_users": pl.Int64}
ROLLING = {"date": pl.Date, "dau": pl.Int64, "wau": pl.Int64, "mau": pl.Int64, "stickiness": pl.Float64}
NEW = {"period": pl.Date, "new_users": pl.Int64, "cumulative_users": pl.Int64}
LIFECYCLE = {"period": pl.Date, "new": pl.Int64, "returning": pl.Int64, "resurrecting": pl.Int64, "dormant": pl.Int64}
PEOPLE = {"user_id": pl.String, "email": pl.String, "plan": pl.String, "country": pl.String, "last_seen": pl.Date}
ENGAGEMENT = {"date": pl.Date, "engagement_score": pl.Float64}
KPIS = {"kpi": pl.String, "value": pl.Float64, "previous": pl.Float64, "change": pl.Float64}
SESSIONS = {"period": pl.Date, "sessions": pl.Int64, "users": pl.Int64, "sessions_per_user": pl.Float64,
            "avg_duration_s": pl.Float64, "median_duration_s": pl.Float64, "bounce_rate": pl.Float64}
LENGTHS = {"bucket": pl.String, "sessions": pl.Int64}
BREAKDOWN = {"dimension": pl.String, "value": pl.String, "users": pl.Int64, "sessions": pl.Int64, "events": pl.Int64}
FEATURES = {"feature": pl.String, "category": pl.String, "usage_count": pl.Int64, "unique_users": pl.Int64,
            "adoption_rate": pl.Float64, "trend": pl.String}
ADOPTION = {"category": pl.String, "feature": pl.String, "period": pl.Date, "unique_users": pl.Int64,
            "adoption_rate": pl.Float64}
UNUSED = {"feature": pl.String, "last_used": pl.Date}
PATHS = {"path": pl.String, "sessions": pl.Int64}
ENTRY_EXIT = {"page": pl.String, "entries": pl.Int64, "exits": pl.Int64, "bounce_rate": pl.Float64}
FUNNEL = {"step": pl.Int64, "name": pl.String, "users": pl.Int64, "conversion_from_start": pl.Float64,
          "conversion_from_previous": pl.Float64, "median_seconds_from_previous": pl.Float64}
CANDIDATES = {"name": pl.String, "events": pl.Int64}
API = {"user_id": pl.String, "email": pl.String, "plan": pl.String, "api_calls": pl.Int64, "limit": pl.Int64,
       "share": pl.Float64}


def ev(user: str, ts: str, event_type: str = "login", **extra: str) -> dict:
    """One event; its id is the user, the time and what it was, so a test never repeats an id by accident."""
    what = extra.get("page_path") or extra.get("event_name") or extra.get("device_type") or ""
    return {"event_id": f"{user}@{ts}/{event_type}/{what}", "user_id": user, "ts": ts, "event_type": event_type, **extra}


def days(user: str, *dates: str, hour: str = "10:00", **extra: str) -> list[dict]:
    return [ev(user, f"{day} {hour}", **extra) for day in dates]


def page(user: str, ts: str, path: str) -> dict:
    return ev(user, ts, "page_view", page_path=path)


def user(user_id: str, signup: str = "2023-12-01 08:00", **extra: str) -> dict:
    return {"user_id": user_id, "signup_at": signup, **extra}


def frame(schema: dict, rows: list[tuple]) -> pl.DataFrame:
    dates = [name for name, dtype in schema.items() if dtype == pl.Date]
    typed = [tuple(d(v) if name in dates and isinstance(v, str) else v for name, v in zip(schema, row)) for row in rows]
    return pl.DataFrame(typed, schema=schema, orient="row")


@pytest.fixture(scope="module")
def module_store(tmp_path_factory):
    """module_store(key, **tables): a store built once per module for each key."""
    built = {}

    def make(key: str, **tables):
        if key not in built:
            built[key] = build_store(tmp_path_factory.mktemp(key) / "pulse.duckdb", **tables)
        return built[key]

    return make


# -- active_users ---------------------------------------------------------------------------------

ACTIVE_EVENTS = [
    ev("u1", "2024-01-01 09:00", device_type="mobile"), ev("u1", "2024-01-01 18:00", "page_view", page_path="/"),
    ev("u2", "2024-01-01 10:00", device_type="desktop"), ev("u1", "2024-01-03 10:00", "page_view", page_path="/"),
    # Active only before the range.
    ev("u3", "2023-12-31 10:00"),
    # Sunday of the range's second week, and the Monday after it.
    ev("u2", "2024-01-14 10:00"), ev("u1", "2024-01-15 10:00"),
]


def test_active_users_by_day_counts_each_user_once_and_zero_days(module_store):
    store = module_store("active", events=ACTIVE_EVENTS)
    out = registry.run("active_users", store, q("2024-01-01", "2024-01-04"))
    # Jan 1: u1 (twice) and u2; Jan 3: u1; u3 (Dec 31) is not in the range.
    assert_frame_equal(out, frame(ACTIVE, [("2024-01-01", 2), ("2024-01-02", 0), ("2024-01-03", 1), ("2024-01-04", 0)]))


def test_active_users_by_week_widens_the_range_to_whole_weeks(module_store):
    store = module_store("active", events=ACTIVE_EVENTS)
    out = registry.run("active_users", store, q("2024-01-03", "2024-01-10", "week"))
    # Weeks of Jan 1 (u1, u2: Jan 1 is before --start but in its week) and Jan 8 (u2 on Sunday Jan 14).
    assert_frame_equal(out, frame(ACTIVE, [("2024-01-01", 2), ("2024-01-08", 1)]))


def test_active_users_with_event_type_and_device_filter(module_store):
    store = module_store("active", events=ACTIVE_EVENTS)
    page_views = registry.run("active_users", store, q("2024-01-01", "2024-01-03", event_type="page_view"))
    assert_frame_equal(page_views, frame(ACTIVE, [("2024-01-01", 1), ("2024-01-02", 0), ("2024-01-03", 1)]))
    desktop = registry.run("active_users", store, q("2024-01-01", "2024-01-03", device_type="desktop"))
    assert_frame_equal(desktop, frame(ACTIVE, [("2024-01-01", 1), ("2024-01-02", 0), ("2024-01-03", 0)]))


def test_active_users_on_an_empty_range_are_zero(module_store):
    store = module_store("active", events=ACTIVE_EVENTS)
    out = registry.run("active_users", store, q("2023-06-01", "2023-06-02"))
    assert_frame_equal(out, frame(ACTIVE, [("2023-06-01", 0), ("2023-06-02", 0)]))


def test_active_users_count_local_days_in_the_reporting_timezone(make_store):
    # Berlin is UTC+1 in January: 22:59 UTC is 23:59 on Jan 1, 23:30 UTC is 00:30 on Jan 2.
    store = make_store(events=[ev("u1", "2024-01-01 22:59"), ev("u2", "2024-01-01 23:30")], timezone="Europe/Berlin")
    out = registry.run("active_users", store, q("2024-01-01", "2024-01-02"))
    assert_frame_equal(out, frame(ACTIVE, [("2024-01-01", 1), ("2024-01-02", 1)]))


# -- dau_wau_mau ----------------------------------------------------------------------------------

ROLLING_EVENTS = [
    *days("u1", "2024-01-01"),  # 29 days before Jan 30: inside Jan 30's 30-day window only
    *days("u2", "2024-01-25"),
    *days("u3", "2024-01-31", "2024-02-01"),
    *days("u4", "2024-01-20", "2024-01-22", "2024-01-29"),  # several days inside one window: counted once
]


def test_dau_wau_mau_windows_reach_before_the_start(make_store):
    store = make_store(events=ROLLING_EVENTS)
    out = registry.run("dau_wau_mau", store, q("2024-01-30", "2024-02-01"))
    assert_frame_equal(out, frame(ROLLING, [
        # Jan 30: WAU Jan 24-30 = u2, u4; MAU Jan 1-30 = u1, u2, u4.
        ("2024-01-30", 0, 2, 3, 0.0),
        # Jan 31: WAU Jan 25-31 = u2, u3, u4; MAU Jan 2-31 = u2, u3, u4 (u1 dropped out).
        ("2024-01-31", 1, 3, 3, 1 / 3),
        # Feb 1: WAU Jan 26-Feb 1 = u3, u4; MAU Jan 3-Feb 1 = u2, u3, u4.
        ("2024-02-01", 1, 2, 3, 1 / 3),
    ]))


def test_dau_wau_mau_stickiness_is_empty_without_monthly_users(make_store):
    store = make_store(events=ROLLING_EVENTS)
    out = registry.run("dau_wau_mau", store, q("2023-06-01", "2023-06-02"))
    assert_frame_equal(out, frame(ROLLING, [("2023-06-01", 0, 0, 0, None), ("2023-06-02", 0, 0, 0, None)]))


def test_dau_wau_mau_in_new_york(make_store):
    # New York is UTC-5 in winter: 03:00 UTC on Feb 1 is 22:00 on Jan 31; 05:30 UTC is 00:30 on Feb 1.
    store = make_store(events=[ev("u1", "2024-02-01 03:00"), ev("u2", "2024-02-01 05:30")], timezone="America/New_York")
    out = registry.run("dau_wau_mau", store, q("2024-01-31", "2024-02-01"))
    assert_frame_equal(out, frame(ROLLING, [("2024-01-31", 1, 1, 1, 1.0), ("2024-02-01", 1, 2, 2, 0.5)]))


# -- new_users ------------------------------------------------------------------------------------

NEW_USERS = [
    user("u1", "2024-01-01 10:00", country="DE"),
    user("u2", "2024-01-03 10:00", country="US"),
    user("u3", "2024-01-03 23:30", country="DE"),  # Jan 4 00:30 in Berlin
    user("u4", "2024-01-10 10:00", country="DE"),  # after the range
]
# u5 is in no users file: its signup is its first event.
NEW_EVENTS = [ev("u5", "2024-01-04 12:00"), ev("u5", "2024-01-05 12:00")]


def test_new_users_and_cumulative_users(make_store):
    store = make_store(users=NEW_USERS, events=NEW_EVENTS)
    out = registry.run("new_users", store, q("2024-01-02", "2024-01-05"))
    # Cumulative starts from u1, who signed up before the range.
    assert_frame_equal(out, frame(NEW, [("2024-01-02", 0, 1), ("2024-01-03", 2, 3), ("2024-01-04", 1, 4), ("2024-01-05", 0, 4)]))


def test_new_users_in_berlin_with_a_country_filter(make_store):
    store = make_store(users=NEW_USERS, events=NEW_EVENTS, timezone="Europe/Berlin")
    out = registry.run("new_users", store, q("2024-01-02", "2024-01-05", country="de"))
    # German users: u1 before the range, u3 on Jan 4 in Berlin (Jan 3 in UTC).
    assert_frame_equal(out, frame(NEW, [("2024-01-02", 0, 1), ("2024-01-03", 0, 1), ("2024-01-04", 1, 2), ("2024-01-05", 0, 2)]))


# -- lifecycle ------------------------------------------------------------------------------------

LIFECYCLE_USERS = [
    user("a", "2024-01-02 08:00", email="a@example.com", plan="pro", country="DE"),
    user("b", email="b@example.com", plan="free", country="US"),
    user("c", email="c@example.com", plan="free", country="US"),
    user("d", email="d@example.com", plan="pro", country="FR"),
    user("e", "2024-01-03 08:00", email="e@example.com"),  # signed up, never active
    user("h", email="h@example.com"),
]
LIFECYCLE_EVENTS = [
    *days("a", "2024-01-02", "2024-01-03", "2024-01-05"),
    *days("b", "2024-01-01"),  # active only before the range
    *days("c", "2024-01-01", "2024-01-02"),
    *days("d", "2023-12-30", "2024-01-04"),
    *days("f", "2024-01-05"),  # not in users: signed up with its first event
    *days("h", "2023-12-30"),  # active before the range, not in the period before it
]


def test_lifecycle_by_day(module_store):
    store = module_store("lifecycle", users=LIFECYCLE_USERS, events=LIFECYCLE_EVENTS)
    out = registry.run("lifecycle", store, q("2024-01-02", "2024-01-05"))
    assert_frame_equal(out, frame(LIFECYCLE, [
        ("2024-01-02", 1, 1, 0, 1),  # new a; returning c; dormant b (active only before the range)
        ("2024-01-03", 0, 1, 0, 1),  # returning a; dormant c
        ("2024-01-04", 0, 0, 1, 1),  # resurrecting d (last seen Dec 30); dormant a
        ("2024-01-05", 1, 0, 1, 1),  # new f; resurrecting a; dormant d
    ]))


def test_lifecycle_on_an_empty_range_is_zero(module_store):
    store = module_store("lifecycle", users=LIFECYCLE_USERS, events=LIFECYCLE_EVENTS)
    out = registry.run("lifecycle", store, q("2023-06-01", "2023-06-02"))
    assert_frame_equal(out, frame(LIFECYCLE, [("2023-06-01", 0, 0, 0, 0), ("2023-06-02", 0, 0, 0, 0)]))


def test_lifecycle_by_week(make_store):
    store = make_store(
        users=[user("a", "2024-01-09 08:00")],
        events=[*days("a", "2024-01-09", "2024-01-16"), *days("b", "2024-01-02"), *days("c", "2024-01-03", "2024-01-20")],
    )
    # Jan 10-20 widens to the weeks of Jan 8 and Jan 15; the week before is Jan 1.
    out = registry.run("lifecycle", store, q("2024-01-10", "2024-01-20", "week"))
    assert_frame_equal(out, frame(LIFECYCLE, [
        ("2024-01-08", 1, 0, 0, 2),  # new a; dormant b and c (both active in the week of Jan 1)
        ("2024-01-15", 0, 1, 1, 0),  # returning a; resurrecting c
    ]))


def test_lifecycle_by_month(make_store):
    store = make_store(
        users=[user("a", "2024-01-15 08:00"), user("b", "2024-02-20 08:00"), user("c")],
        events=[*days("a", "2024-01-31", "2024-02-29"), *days("b", "2024-02-20", "2024-03-01"),
                *days("c", "2023-12-31", "2024-03-31")],
    )
    out = registry.run("lifecycle", store, q("2024-02-10", "2024-03-05", "month"))
    assert_frame_equal(out, frame(LIFECYCLE, [
        ("2024-02-01", 1, 1, 0, 0),  # new b; returning a (January); c's December is two months back
        ("2024-03-01", 0, 1, 1, 1),  # returning b; resurrecting c; dormant a
    ]))


def test_lifecycle_in_berlin(make_store):
    # Berlin is UTC+1: the signup and the first event are on Jan 3 local time (Jan 2 in UTC); the
    # last event is on Jan 4 local time (Jan 3 in UTC). In UTC this would read new, returning, dormant.
    store = make_store(
        users=[user("x", "2024-01-02 23:30")],
        events=[ev("x", "2024-01-02 23:45"), ev("x", "2024-01-03 22:30"), ev("x", "2024-01-03 23:10")],
        timezone="Europe/Berlin",
    )
    out = registry.run("lifecycle", store, q("2024-01-02", "2024-01-04"))
    assert_frame_equal(out, frame(LIFECYCLE, [
        ("2024-01-02", 0, 0, 0, 0), ("2024-01-03", 1, 0, 0, 0), ("2024-01-04", 0, 1, 0, 0),
    ]))


# -- active_user_list -----------------------------------------------------------------------------

@pytest.mark.parametrize("period,kind,rows", [
    # The default period is the range's last (Jan 5); f has no profile beyond its events.
    (None, "active", [("a", "a@example.com", "pro", "DE", "2024-01-05"), ("f", None, None, None, "2024-01-05")]),
    ("2024-01-05", "new", [("f", None, None, None, "2024-01-05")]),
    ("2024-01-05", "resurrecting", [("a", "a@example.com", "pro", "DE", "2024-01-05")]),
    ("2024-01-05", "dormant", [("d", "d@example.com", "pro", "FR", "2024-01-04")]),
    ("2024-01-05", "returning", []),
    ("2024-01-02", "returning", [("c", "c@example.com", "free", "US", "2024-01-02")]),
    ("2024-01-02", "dormant", [("b", "b@example.com", "free", "US", "2024-01-01")]),
])
def test_active_user_list_names_the_users_behind_each_lifecycle_count(module_store, period, kind, rows):
    store = module_store("lifecycle", users=LIFECYCLE_USERS, events=LIFECYCLE_EVENTS)
    options = {"kind": kind} | ({"period": period} if period else {})
    out = registry.run("active_user_list", store, q("2024-01-02", "2024-01-05", **options))
    assert_frame_equal(out, frame(PEOPLE, rows))


def test_active_user_list_by_week_takes_the_week_of_the_date_given(module_store):
    store = module_store("lifecycle", users=LIFECYCLE_USERS, events=LIFECYCLE_EVENTS)
    # Jan 3 is in the week of Monday Jan 1: every user active that week.
    out = registry.run("active_user_list", store, q("2024-01-01", "2024-01-07", "week", period="2024-01-03"))
    assert_frame_equal(out, frame(PEOPLE, [
        ("a", "a@example.com", "pro", "DE", "2024-01-05"), ("b", "b@example.com", "free", "US", "2024-01-01"),
        ("c", "c@example.com", "free", "US", "2024-01-02"), ("d", "d@example.com", "pro", "FR", "2024-01-04"),
        ("f", None, None, None, "2024-01-05"),
    ]))


def test_active_user_list_last_seen_is_a_local_day(make_store):
    # 23:30 UTC on Jan 5 is 00:30 on Jan 6 in Berlin.
    store = make_store(users=[user("a", email="a@example.com")],
                       events=[ev("a", "2024-01-05 10:00"), ev("a", "2024-01-05 23:30")], timezone="Europe/Berlin")
    out = registry.run("active_user_list", store, q("2024-01-05", "2024-01-05"))
    assert_frame_equal(out, frame(PEOPLE, [("a", "a@example.com", None, None, "2024-01-06")]))


def test_active_user_list_exports_as_exact_csv(module_store):
    store = module_store("lifecycle", users=LIFECYCLE_USERS, events=LIFECYCLE_EVENTS)
    out = registry.run("active_user_list", store, q("2024-01-02", "2024-01-05", period="2024-01-04", kind="dormant"))
    assert to_csv(out) == "user_id,email,plan,country,last_seen\na,a@example.com,pro,DE,2024-01-05\n"


# -- engagement -----------------------------------------------------------------------------------

def test_engagement_averages_stickiness_over_seven_days(make_store):
    # u2 (Jan 1) keeps MAU at 2 through the range; u3 joins on Jan 11 (MAU 3).
    events = [*days("u1", "2024-01-04", "2024-01-06", "2024-01-08", "2024-01-10"), *days("u2", "2024-01-01"),
              *days("u3", "2024-01-11")]
    store = make_store(events=events)
    out = registry.run("engagement", store, q("2024-01-10", "2024-01-11"))
    # Stickiness Jan 4..10: 1/2, 0, 1/2, 0, 1/2, 0, 1/2; Jan 11: 1/3.
    assert_frame_equal(out, frame(ENGAGEMENT, [
        ("2024-01-10", 100 * (0.5 * 4) / 7),
        ("2024-01-11", 100 * (0.5 * 3 + 1 / 3) / 7),  # Jan 5..11
    ]))


def test_engagement_skips_days_without_monthly_users(make_store):
    store = make_store(events=days("u1", "2024-01-10"))
    out = registry.run("engagement", store, q("2024-01-08", "2024-01-11"))
    # Jan 8-9 have no MAU in their seven days; Jan 10 averages 1/1; Jan 11 averages 1/1 and 0/1.
    assert_frame_equal(out, frame(ENGAGEMENT, [("2024-01-08", None), ("2024-01-09", None), ("2024-01-10", 100.0),
                                               ("2024-01-11", 50.0)]))


def test_engagement_exports_as_exact_csv(make_store):
    store = make_store(events=[*days("u1", "2024-01-10", "2024-01-11"), *days("u1", "2024-01-11", event_type="page_view")])
    out = registry.run("engagement", store, q("2024-01-10", "2024-01-11", event_type="page_view"))
    # Page views only: Jan 10 has no MAU; Jan 11 is 1/1.
    assert to_csv(out) == "date,engagement_score\n2024-01-10,\n2024-01-11,100.0\n"


# -- activity_heatmap -----------------------------------------------------------------------------

def heatmap(cells: dict[tuple[int, int], int]) -> pl.DataFrame:
    """All 168 cells, zero but for `cells`."""
    rows = [(w, h, cells.get((w, h), 0)) for w in range(7) for h in range(24)]
    return pl.DataFrame(rows, schema={"weekday": pl.Int64, "hour": pl.Int64, "events": pl.Int64}, orient="row")


def test_activity_heatmap_counts_every_weekday_and_hour(make_store):
    store = make_store(events=[
        ev("u1", "2024-01-01 09:15"), ev("u2", "2024-01-01 09:45", "page_view", page_path="/"),  # Monday 9h
        ev("u1", "2024-01-07 23:59"),  # Sunday 23h
        ev("u1", "2024-01-08 09:00"),  # after the range
    ])
    out = registry.run("activity_heatmap", store, q("2024-01-01", "2024-01-07"))
    assert_frame_equal(out, heatmap({(0, 9): 2, (6, 23): 1}))


def test_activity_heatmap_in_berlin(make_store):
    # Sunday 23:30 UTC is Monday 00:30 in Berlin; Monday 08:15 UTC is 09:15 there.
    store = make_store(events=[ev("u1", "2024-01-07 23:30"), ev("u1", "2024-01-01 08:15")], timezone="Europe/Berlin")
    out = registry.run("activity_heatmap", store, q("2024-01-01", "2024-01-08"))
    assert_frame_equal(out, heatmap({(0, 0): 1, (0, 9): 1}))


def test_activity_heatmap_on_an_empty_range_has_every_cell(make_store):
    store = make_store(events=[ev("u1", "2024-01-01 09:15")])
    out = registry.run("activity_heatmap", store, q("2023-06-01", "2023-06-07"))
    assert_frame_equal(out, heatmap({}))


def test_activity_heatmap_exports_as_exact_csv(make_store):
    store = make_store(events=[ev("u1", "2024-01-02 14:00"), ev("u1", "2024-01-02 14:10", "page_view", page_path="/")])
    out = registry.run("activity_heatmap", store, q("2024-01-01", "2024-01-07", event_type="page_view"))
    expected = "".join(f"{w},{h},{1 if (w, h) == (1, 14) else 0}\n" for w in range(7) for h in range(24))
    assert to_csv(out) == "weekday,hour,events\n" + expected


# -- sessions -------------------------------------------------------------------------------------

SESSION_EVENTS = [
    # u1 on Jan 1: a gap of exactly 30 minutes stays in the session; one of 31 minutes starts a new one.
    page("u1", "2024-01-01 10:00", "/"), page("u1", "2024-01-01 10:30", "/pricing"), page("u1", "2024-01-01 11:01", "/docs"),
    # u2: a session crossing midnight belongs to the day of its first event (Jan 1), then one on Jan 2.
    page("u2", "2024-01-01 23:50", "/"), ev("u2", "2024-01-02 00:10", "feature_use", event_name="report"),
    ev("u2", "2024-01-02 09:00"), page("u2", "2024-01-02 09:05", "/docs"),
    # u3: a bounce.
    page("u3", "2024-01-03 12:00", "/"),
    # u4: a session that began before the range and runs into it is not in the range.
    ev("u4", "2023-12-31 23:50"), page("u4", "2024-01-01 00:10", "/"),
]
SESSION_USERS = [user("u1", country="DE"), user("u2", country="US"), user("u3", country="DE"), user("u4", country="DE")]

DEFAULT_SESSIONS = [
    # A 10:00-10:30 (1800 s), B 11:01 (0 s, bounce), C 23:50-00:10 (1200 s): mean 1000, median 1200.
    ("2024-01-01", 3, 2, 1.5, 1000.0, 1200.0, 1 / 3),
    ("2024-01-02", 1, 1, 1.0, 300.0, 300.0, 0.0),
    ("2024-01-03", 1, 1, 1.0, 0.0, 0.0, 1.0),
    ("2024-01-04", 0, 0, None, None, None, None),
]


def test_sessions_per_day(module_store):
    store = module_store("sessions", users=SESSION_USERS, events=SESSION_EVENTS)
    out = registry.run("sessions", store, q("2024-01-01", "2024-01-04"))
    assert_frame_equal(out, frame(SESSIONS, DEFAULT_SESSIONS))


def test_sessions_cut_from_raw_events_when_the_store_used_another_timeout(module_store):
    # The store's sessions table was cut at 45 minutes (A and B would be one session); asked
    # for 30 minutes, sessions are cut from the raw events and must agree with a 30-minute store.
    store = module_store("sessions45", users=SESSION_USERS, events=SESSION_EVENTS, session_timeout=45)
    out = registry.run("sessions", store, q("2024-01-01", "2024-01-04", session_timeout_minutes=30))
    assert_frame_equal(out, frame(SESSIONS, DEFAULT_SESSIONS))


def test_the_default_timeout_is_the_stores_setting(module_store):
    # Built at 45 minutes, the default is 45: A and B are one session, 10:00-11:01 (3660 s);
    # with C (1200 s) the mean and median are 2430; no other gap lies between 30 and 45 minutes.
    store = module_store("sessions45", users=SESSION_USERS, events=SESSION_EVENTS, session_timeout=45)
    out = registry.run("sessions", store, q("2024-01-01", "2024-01-04"))
    assert_frame_equal(out, frame(SESSIONS, [("2024-01-01", 2, 2, 1.0, 2430.0, 2430.0, 0.0), *DEFAULT_SESSIONS[1:]]))


@pytest.mark.parametrize("timeout,first_day", [
    # 31 minutes: A and B are one session, 10:00-11:01 (3660 s); with C (1200 s) the mean and median are 2430.
    (31, ("2024-01-01", 2, 2, 1.0, 2430.0, 2430.0, 0.0)),
    # 29 minutes: 10:00, 10:30 and 11:01 are three bounces; C stays (20-minute gap): 1200 / 4 = 300, median 0.
    (29, ("2024-01-01", 4, 2, 2.0, 300.0, 0.0, 0.75)),
])
def test_sessions_with_another_timeout(module_store, timeout, first_day):
    store = module_store("sessions", users=SESSION_USERS, events=SESSION_EVENTS)
    out = registry.run("sessions", store, q("2024-01-01", "2024-01-04", session_timeout_minutes=timeout))
    assert_frame_equal(out, frame(SESSIONS, [first_day, *DEFAULT_SESSIONS[1:]]))


def test_sessions_by_week_with_a_country_filter(module_store):
    store = module_store("sessions", users=SESSION_USERS, events=SESSION_EVENTS)
    out = registry.run("sessions", store, q("2024-01-01", "2024-01-04", "week", country="DE"))
    # German users u1 (A, B) and u3 (one bounce); u4's session began in the week before.
    assert_frame_equal(out, frame(SESSIONS, [("2024-01-01", 3, 2, 1.5, 600.0, 0.0, 2 / 3)]))


def test_sessions_with_a_device_filter_are_cut_from_that_device_s_events(make_store):
    store = make_store(events=[
        ev("u1", "2024-01-01 10:00", device_type="desktop"), ev("u1", "2024-01-01 10:10", device_type="mobile"),
        ev("u1", "2024-01-01 10:20", device_type="desktop"),
    ])
    out = registry.run("sessions", store, q("2024-01-01", "2024-01-01", device_type="desktop"))
    # The desktop events alone: one session, 10:00-10:20, two events.
    assert_frame_equal(out, frame(SESSIONS, [("2024-01-01", 1, 1, 1.0, 1200.0, 1200.0, 0.0)]))


def test_sessions_in_berlin_belong_to_the_local_day_of_their_first_event(make_store):
    # 22:50 and 23:10 UTC are 23:50 on Jan 1 and 00:10 on Jan 2 in Berlin: one session, Jan 1.
    # 23:10 UTC on Jan 2 is 00:10 on Jan 3 there.
    store = make_store(events=[ev("u1", "2024-01-01 22:50"), ev("u1", "2024-01-01 23:10"), ev("u2", "2024-01-02 23:10")],
                       timezone="Europe/Berlin")
    out = registry.run("sessions", store, q("2024-01-01", "2024-01-03"))
    assert_frame_equal(out, frame(SESSIONS, [
        ("2024-01-01", 1, 1, 1.0, 1200.0, 1200.0, 0.0),
        ("2024-01-02", 0, 0, None, None, None, None),
        ("2024-01-03", 1, 1, 1.0, 0.0, 0.0, 1.0),
    ]))


def test_sessions_export_as_exact_csv(module_store):
    store = module_store("sessions", users=SESSION_USERS, events=SESSION_EVENTS)
    out = registry.run("sessions", store, q("2024-01-01", "2024-01-02", session_timeout_minutes="29"))
    assert to_csv(out) == (
        "period,sessions,users,sessions_per_user,avg_duration_s,median_duration_s,bounce_rate\n"
        "2024-01-01,4,2,2.0,300.0,0.0,0.75\n"
        "2024-01-02,1,1,1.0,300.0,300.0,0.0\n"
    )


def test_sessions_reject_a_timeout_below_one_minute(module_store):
    store = module_store("sessions", users=SESSION_USERS, events=SESSION_EVENTS)
    with pytest.raises(QueryError, match="session_timeout_minutes"):
        registry.run("sessions", store, q("2024-01-01", "2024-01-02", session_timeout_minutes="0"))


# -- session_length_distribution ------------------------------------------------------------------

def lasting(user_id: str, seconds: int) -> list[dict]:
    """A session of two events `seconds` apart (one event when 0), on Jan 1."""
    start = ev(user_id, "2024-01-01 10:00:00")
    if seconds == 0:
        return [start]
    minutes, secs = divmod(seconds, 60)
    return [start, ev(user_id, f"2024-01-01 {10 + minutes // 60:02d}:{minutes % 60:02d}:{secs:02d}")]


LENGTH_EVENTS = [event for i, s in enumerate((0, 30, 119, 120, 899, 900, 1800)) for event in lasting(f"u{i}", s)]


def test_session_length_distribution_bucket_edges(module_store):
    store = module_store("lengths", events=LENGTH_EVENTS)
    out = registry.run("session_length_distribution", store, q("2024-01-01", "2024-01-01"))
    # [0,30): 0 s; [30,120): 30, 119 s; [120,300): 120 s; [300,900): 899 s; [900,1800): 900 s;
    # 1800 s (a gap of exactly 30 minutes, one session) is 30m+.
    assert_frame_equal(out, frame(LENGTHS, [("0-30s", 1), ("30s-2m", 2), ("2m-5m", 1), ("5m-15m", 1), ("15m-30m", 1),
                                            ("30m+", 1)]))


def test_session_length_distribution_on_an_empty_range_has_every_bucket(module_store):
    store = module_store("lengths", events=LENGTH_EVENTS)
    out = registry.run("session_length_distribution", store, q("2023-06-01", "2023-06-01"))
    assert_frame_equal(out, frame(LENGTHS, [("0-30s", 0), ("30s-2m", 0), ("2m-5m", 0), ("5m-15m", 0), ("15m-30m", 0),
                                            ("30m+", 0)]))


def test_session_length_distribution_exports_as_exact_csv(module_store):
    store = module_store("lengths", events=LENGTH_EVENTS)
    out = registry.run("session_length_distribution", store, q("2024-01-01", "2024-01-01", session_timeout_minutes="29"))
    # At 29 minutes the 30-minute gap splits the longest session into two bounces.
    assert to_csv(out) == "bucket,sessions\n0-30s,3\n30s-2m,2\n2m-5m,1\n5m-15m,1\n15m-30m,1\n30m+,0\n"


# -- breakdown ------------------------------------------------------------------------------------

BREAKDOWN_USERS = [user("u1", country="FR"), user("u2", country="US"), user("u3"), user("u4", country="DE")]
DESKTOP = {"device_type": "desktop", "browser": "Chrome", "os": "macOS"}
PHONE = {"device_type": "mobile", "browser": "Safari", "os": "iOS"}
BREAKDOWN_EVENTS = [
    # u1: a desktop session in Germany, then a phone session with no event country (u1's own: FR).
    ev("u1", "2024-01-01 10:00", **DESKTOP, country_code="DE"), ev("u1", "2024-01-01 10:05", **DESKTOP, country_code="DE"),
    ev("u1", "2024-01-01 12:00", **PHONE),
    ev("u2", "2024-01-01 10:00", device_type="desktop", browser="Firefox", os="Windows"),
    ev("u3", "2024-01-01 10:00"),  # nothing known about it
    # u4: one session that starts on the phone and moves to the desktop counts under the phone.
    ev("u4", "2024-01-01 15:00", **PHONE, country_code="DE"), ev("u4", "2024-01-01 15:05", **DESKTOP, country_code="DE"),
    ev("u2", "2023-12-31 10:00", device_type="tablet", browser="Edge", os="Android"),  # before the range
]


@pytest.mark.parametrize("dimension,rows", [
    ("device_type", [("desktop", 3, 2, 4), ("mobile", 2, 2, 2), ("(none)", 1, 1, 1)]),
    ("browser", [("Chrome", 2, 1, 3), ("Safari", 2, 2, 2), ("(none)", 1, 1, 1), ("Firefox", 1, 1, 1)]),
    ("os", [("iOS", 2, 2, 2), ("macOS", 2, 1, 3), ("(none)", 1, 1, 1), ("Windows", 1, 1, 1)]),
    # The event's country, else the user's: u1's phone event is FR, u2's event US.
    ("country", [("DE", 2, 2, 4), ("(none)", 1, 1, 1), ("FR", 1, 1, 1), ("US", 1, 1, 1)]),
])
def test_breakdown_by_each_dimension(module_store, dimension, rows):
    store = module_store("breakdown", users=BREAKDOWN_USERS, events=BREAKDOWN_EVENTS)
    out = registry.run("breakdown", store, q("2024-01-01", "2024-01-02", dimension=dimension))
    assert_frame_equal(out, frame(BREAKDOWN, [(dimension, *row) for row in rows]))


def test_breakdown_counts_a_user_once_whether_the_country_came_from_the_event_or_the_profile(make_store):
    store = make_store(users=[user("u1", country="FR")],
                       events=[ev("u1", "2024-01-01 10:00", country_code="FR"), ev("u1", "2024-01-01 10:01")])
    out = registry.run("breakdown", store, q("2024-01-01", "2024-01-01", dimension="country"))
    assert_frame_equal(out, frame(BREAKDOWN, [("country", "FR", 1, 1, 2)]))


def test_breakdown_with_a_device_filter_cuts_sessions_from_that_device(module_store):
    store = module_store("breakdown", users=BREAKDOWN_USERS, events=BREAKDOWN_EVENTS)
    out = registry.run("breakdown", store, q("2024-01-01", "2024-01-02", dimension="browser", device_type="mobile"))
    assert_frame_equal(out, frame(BREAKDOWN, [("browser", "Safari", 2, 2, 2)]))


def test_breakdown_with_a_country_filter(module_store):
    store = module_store("breakdown", users=BREAKDOWN_USERS, events=BREAKDOWN_EVENTS)
    out = registry.run("breakdown", store, q("2024-01-01", "2024-01-02", dimension="browser", country="DE"))
    # Only u4: its session counts under Safari, its desktop event under Chrome.
    assert_frame_equal(out, frame(BREAKDOWN, [("browser", "Chrome", 1, 0, 1), ("browser", "Safari", 1, 1, 1)]))


def test_breakdown_on_an_empty_range_is_empty(module_store):
    store = module_store("breakdown", users=BREAKDOWN_USERS, events=BREAKDOWN_EVENTS)
    out = registry.run("breakdown", store, q("2023-06-01", "2023-06-02"))
    assert_frame_equal(out, frame(BREAKDOWN, []))


def test_breakdown_exports_as_exact_csv(module_store):
    store = module_store("breakdown", users=BREAKDOWN_USERS, events=BREAKDOWN_EVENTS)
    out = registry.run("breakdown", store, q("2024-01-01", "2024-01-02", dimension="os", session_timeout_minutes="1"))
    # At one minute u1's and u4's five-minute gaps start new sessions: macOS gains u1's 10:05 and u4's 15:05.
    assert to_csv(out) == (
        "dimension,value,users,sessions,events\n"
        "os,iOS,2,2,2\nos,macOS,2,3,3\nos,(none),1,1,1\nos,Windows,1,1,1\n"
    )


# -- feature_usage, feature_adoption, unused_features ---------------------------------------------

def uses(feature: str, user_id: str, day: str, count: int, category: str | None = None) -> list[dict]:
    """`count` uses of a feature, a minute apart from 10:00."""
    properties = f'{{"category": "{category}"}}' if category else None
    return [ev(user_id, f"{day} 10:{i:02d}", "feature_use", event_name=feature, properties=properties) for i in range(count)]


# The range is Jan 8-14, the previous range of equal length Jan 1-7.
FEATURE_EVENTS = [
    *uses("report", "u1", "2024-01-02", 3, "reporting"), *uses("report", "u1", "2024-01-09", 3, "reporting"),
    *uses("report", "u2", "2024-01-10", 1, "reporting"),
    *uses("export", "u3", "2024-01-03", 10, "data"), *uses("export", "u3", "2024-01-09", 9, "data"),
    *uses("alerts", "u3", "2024-01-03", 10, "automation"), *uses("alerts", "u3", "2024-01-10", 11, "automation"),
    *uses("digest", "u2", "2024-01-03", 10, "automation"), *uses("digest", "u2", "2024-01-11", 8, "automation"),
    # The category of a feature's latest use in the range wins.
    *uses("share", "u4", "2024-01-11", 1, "collab"), *uses("share", "u4", "2024-01-12", 1, "collaboration"),
    *uses("notes", "u1", "2024-01-05", 1), *uses("notes", "u1", "2024-01-12", 1),
    *uses("legacy", "u2", "2024-01-02", 1, "reporting"),  # used only before the range
    ev("u5", "2024-01-08 10:00"),  # active in the range, used no feature
]


@pytest.mark.parametrize("query", [q("2024-01-08", "2024-01-14"), q("2024-01-10", "2024-01-12", "week")],
                         ids=["days", "widened-to-a-week"])
def test_feature_usage_adoption_and_trend(module_store, query):
    store = module_store("features", events=FEATURE_EVENTS)
    out = registry.run("feature_usage", store, query)
    # Five users active in the range. Trends compare uses: more than +10 % increasing, below -10 % decreasing.
    assert_frame_equal(out, frame(FEATURES, [
        ("alerts", "automation", 11, 1, 0.2, "stable"),        # 10 -> 11: exactly +10 %
        ("digest", "automation", 8, 1, 0.2, "decreasing"),     # 10 -> 8: -20 %
        ("export", "data", 9, 1, 0.2, "stable"),               # 10 -> 9: exactly -10 %
        ("notes", "Uncategorized", 1, 1, 0.2, "stable"),       # 1 -> 1
        ("report", "reporting", 4, 2, 0.4, "increasing"),      # 3 -> 4: +33 %
        ("share", "collaboration", 2, 1, 0.2, "increasing"),   # 0 -> 2: new
    ]))


def test_feature_usage_on_an_empty_range_is_empty(module_store):
    store = module_store("features", events=FEATURE_EVENTS)
    out = registry.run("feature_usage", store, q("2023-06-01", "2023-06-07"))
    assert_frame_equal(out, frame(FEATURES, []))


def test_feature_usage_exports_as_exact_csv(module_store):
    store = module_store("features", events=FEATURE_EVENTS)
    out = registry.run("feature_usage", store, q("2024-01-12", "2024-01-12"))
    # Jan 12: u4 (share), u1 (notes) active; Jan 11 before it: share once, digest 8 times.
    assert to_csv(out) == (
        "feature,category,usage_count,unique_users,adoption_rate,trend\n"
        "notes,Uncategorized,1,1,0.5,increasing\n"
        "share,collaboration,1,1,0.5,stable\n"
    )


def test_feature_adoption_per_period_grouped_by_category(make_store):
    store = make_store(events=[
        *uses("report", "u1", "2024-01-01", 1, "reporting"), *uses("report", "u2", "2024-01-01", 1, "reporting"),
        *uses("report", "u1", "2024-01-02", 1, "reporting"), *uses("share", "u2", "2024-01-01", 1),
    ])
    out = registry.run("feature_adoption", store, q("2024-01-01", "2024-01-03"))
    # Active: Jan 1 u1, u2; Jan 2 u1; Jan 3 nobody (adoption empty).
    assert_frame_equal(out, frame(ADOPTION, [
        ("Uncategorized", "share", "2024-01-01", 1, 0.5), ("Uncategorized", "share", "2024-01-02", 0, 0.0),
        ("Uncategorized", "share", "2024-01-03", 0, None),
        ("reporting", "report", "2024-01-01", 2, 1.0), ("reporting", "report", "2024-01-02", 1, 1.0),
        ("reporting", "report", "2024-01-03", 0, None),
    ]))


def test_feature_adoption_on_an_empty_range_is_empty(module_store):
    store = module_store("features", events=FEATURE_EVENTS)
    out = registry.run("feature_adoption", store, q("2023-06-01", "2023-06-07"))
    assert_frame_equal(out, frame(ADOPTION, []))


def test_unused_features_were_used_before_and_never_inside_the_range(make_store):
    store = make_store(events=[
        *uses("old", "u1", "2024-01-02", 1), *uses("old", "u1", "2024-01-05", 1),
        *uses("both", "u1", "2024-01-03", 1), *uses("both", "u1", "2024-01-09", 1),
        *uses("later", "u1", "2024-01-20", 1),  # never used before the range
        *uses("back", "u1", "2024-01-02", 1), *uses("back", "u1", "2024-01-20", 1),  # back after the range
    ])
    out = registry.run("unused_features", store, q("2024-01-08", "2024-01-14"))
    assert_frame_equal(out, frame(UNUSED, [("back", "2024-01-02"), ("old", "2024-01-05")]))
    assert to_csv(out) == "feature,last_used\nback,2024-01-02\nold,2024-01-05\n"


def test_unused_features_before_any_use_is_empty(module_store):
    store = module_store("features", events=FEATURE_EVENTS)
    out = registry.run("unused_features", store, q("2023-06-01", "2023-06-07"))
    assert_frame_equal(out, frame(UNUSED, []))


# -- paths, entry_exit ----------------------------------------------------------------------------

JOURNEY_EVENTS = [
    # u1: repeats in a row count once, also across a non-page event; only the first five steps.
    page("u1", "2024-01-01 10:00", "/"), page("u1", "2024-01-01 10:01", "/pricing"),
    ev("u1", "2024-01-01 10:02", "feature_use", event_name="report"), page("u1", "2024-01-01 10:03", "/pricing"),
    page("u1", "2024-01-01 10:04", "/signup"), page("u1", "2024-01-01 10:05", "/dashboard"),
    page("u1", "2024-01-01 10:06", "/docs"), page("u1", "2024-01-01 10:07", "/blog"),
    page("u2", "2024-01-01 10:00", "/"), page("u2", "2024-01-01 10:01", "/pricing"),
    page("u3", "2024-01-01 10:00", "/"), page("u3", "2024-01-01 10:01", "/pricing"),
    page("u2", "2024-01-01 15:00", "/docs"), page("u2", "2024-01-01 15:01", "/docs"), page("u2", "2024-01-01 15:02", "/docs"),
    ev("u4", "2024-01-01 10:00"),  # no page views: no path
    page("u5", "2024-01-01 10:00", "/"),  # a bounce
    ev("u6", "2024-01-01 10:00"), page("u6", "2024-01-01 10:01", "/docs"),  # enters at its first page view
    page("u7", "2024-01-01 10:00", "/pricing"), ev("u7", "2024-01-01 10:01", "feature_use", event_name="report"),
    page("u1", "2024-01-05 10:00", "/"),  # after the range
]


def test_paths_collapse_repeats_and_keep_five_steps(module_store):
    store = module_store("journeys", events=JOURNEY_EVENTS)
    out = registry.run("paths", store, q("2024-01-01", "2024-01-02"))
    # Most sessions first, then by path: u2 and u3; u2's afternoon and u6; u5; u1; u7.
    assert_frame_equal(out, frame(PATHS, [
        ("/ > /pricing", 2), ("/docs", 2), ("/", 1), ("/ > /pricing > /signup > /dashboard > /docs", 1), ("/pricing", 1),
    ]))


def test_paths_keep_the_top_twenty(make_store):
    # /p00 has two sessions; /p01.../p21 one each: the top 20 are /p00 and /p01-/p19.
    events = [page("a", "2024-01-01 10:00", "/p00"), *[page(f"u{i:02d}", "2024-01-01 10:00", f"/p{i:02d}") for i in range(22)]]
    store = make_store(events=events)
    out = registry.run("paths", store, q("2024-01-01", "2024-01-01"))
    assert_frame_equal(out, frame(PATHS, [("/p00", 2), *[(f"/p{i:02d}", 1) for i in range(1, 20)]]))


def test_paths_on_an_empty_range_are_empty(module_store):
    store = module_store("journeys", events=JOURNEY_EVENTS)
    out = registry.run("paths", store, q("2023-06-01", "2023-06-02"))
    assert_frame_equal(out, frame(PATHS, []))


def test_paths_export_as_exact_csv(module_store):
    store = module_store("journeys", events=JOURNEY_EVENTS)
    out = registry.run("paths", store, q("2024-01-01", "2024-01-02", session_timeout_minutes="1"))
    # At one minute u1's session still holds (one-minute gaps); u2's /docs visits too.
    assert to_csv(out) == (
        "path,sessions\n"
        "/ > /pricing,2\n/docs,2\n/,1\n/ > /pricing > /signup > /dashboard > /docs,1\n/pricing,1\n"
    )


def test_entry_exit_pages_and_bounce_rate(module_store):
    store = module_store("journeys", events=JOURNEY_EVENTS)
    out = registry.run("entry_exit", store, q("2024-01-01", "2024-01-02"))
    assert_frame_equal(out, frame(ENTRY_EXIT, [
        ("/", 4, 1, 0.25),       # entries u1, u2, u3, u5 (a bounce); exit u5
        ("/blog", 0, 1, None),   # exit only: no entries to bounce
        ("/docs", 2, 2, 0.0),    # u2's afternoon, u6 (after a login: two events, not a bounce)
        ("/pricing", 1, 3, 0.0),  # u7 (a page and a feature: two events); exits u2, u3, u7
    ]))


def test_entry_exit_on_an_empty_range_is_empty(module_store):
    store = module_store("journeys", events=JOURNEY_EVENTS)
    out = registry.run("entry_exit", store, q("2023-06-01", "2023-06-02"))
    assert_frame_equal(out, frame(ENTRY_EXIT, []))


def test_entry_exit_exports_as_exact_csv(module_store):
    store = module_store("journeys", events=JOURNEY_EVENTS)
    out = registry.run("entry_exit", store, q("2024-01-01", "2024-01-02", country="DE", session_timeout_minutes="30"))
    # No user has a country: the filter leaves nothing.
    assert to_csv(out) == "page,entries,exits,bounce_rate\n"


# -- funnel, funnel_candidates --------------------------------------------------------------------

FUNNEL_EVENTS = [
    # u1: all three steps, five minutes apart; a second entry on Jan 2 changes nothing.
    page("u1", "2024-01-01 10:00", "/"), page("u1", "2024-01-01 10:05", "/pricing"),
    ev("u1", "2024-01-01 10:10", "custom", event_name="signup_done"), page("u1", "2024-01-02 10:00", "/"),
    # u2: /pricing before entering at / does not count.
    page("u2", "2024-01-02 09:00", "/pricing"), page("u2", "2024-01-02 10:00", "/"),
    # u3: signup_done before /pricing is out of order; /pricing at 10:10 is step 2.
    page("u3", "2024-01-03 10:00", "/"), ev("u3", "2024-01-03 10:01", "custom", event_name="signup_done"),
    page("u3", "2024-01-03 10:10", "/pricing"),
    # u4: / before the range, entry on Jan 5 12:00; /pricing exactly 14 days later is inside the
    # window, signup_done a second later is not.
    page("u4", "2023-12-31 12:00", "/"), page("u4", "2024-01-05 12:00", "/"),
    page("u4", "2024-01-19 12:00", "/pricing"), ev("u4", "2024-01-19 12:00:01", "custom", event_name="signup_done"),
    page("u5", "2024-01-10 10:00", "/"), page("u5", "2024-01-10 10:01", "/pricing"),  # enters after the range
]
STEPS = "/,/pricing,signup_done"


def test_funnel_in_order_within_the_window(module_store):
    store = module_store("funnel", events=FUNNEL_EVENTS)
    out = registry.run("funnel", store, q("2024-01-01", "2024-01-07", steps=STEPS))
    assert_frame_equal(out, frame(FUNNEL, [
        (1, "/", 4, 1.0, 1.0, None),  # u1, u2, u3, u4
        # u1 (300 s), u3 (600 s), u4 (14 days = 1,209,600 s): median 600.
        (2, "/pricing", 3, 0.75, 0.75, 600.0),
        (3, "signup_done", 1, 0.25, 1 / 3, 300.0),  # u1
    ]))


def test_funnel_with_a_one_day_window(module_store):
    store = module_store("funnel", events=FUNNEL_EVENTS)
    out = registry.run("funnel", store, q("2024-01-01", "2024-01-07", steps=STEPS, window_days="1"))
    # u4's /pricing is 14 days after entry: outside. Median of 300 and 600 s.
    assert_frame_equal(out, frame(FUNNEL, [
        (1, "/", 4, 1.0, 1.0, None), (2, "/pricing", 2, 0.5, 0.5, 450.0), (3, "signup_done", 1, 0.25, 0.5, 300.0),
    ]))


def test_funnel_step_repeated_needs_another_event(make_store):
    # Steps / then / again: u1's single visit is not two steps; u2's second visit (same second) is.
    store = make_store(events=[page("u1", "2024-01-01 10:00", "/"), page("u2", "2024-01-01 10:00", "/"),
                               {**page("u2", "2024-01-01 10:00", "/"), "event_id": "u2-again"}])
    out = registry.run("funnel", store, q("2024-01-01", "2024-01-01", steps="/,/"))
    assert_frame_equal(out, frame(FUNNEL, [(1, "/", 2, 1.0, 1.0, None), (2, "/", 1, 0.5, 0.5, 0.0)]))


def test_funnel_an_event_that_is_two_steps_counts_for_one(make_store):
    # Steps page_view then /pricing: a page view of /pricing can be either. u1's only event is
    # step 1 and not also step 2. u2 has a page view of / at the same instant: of the two, the
    # one of the smaller mask enters (/ is step 1 only: 1; /pricing is steps 1 and 2: 1 + 2 = 3),
    # and /pricing is step 2, 0 s later, in whichever order the rows were loaded.
    pricing = ev("u2", "2024-01-01 10:00", "page_view", page_path="/pricing", event_name="page_view")
    home = ev("u2", "2024-01-01 10:00", "page_view", page_path="/", event_name="page_view")
    for events in ([pricing, home], [home, pricing]):
        store = make_store(events=[ev("u1", "2024-01-01 10:00", "page_view", page_path="/pricing", event_name="page_view"),
                                   *events])
        out = registry.run("funnel", store, q("2024-01-01", "2024-01-01", steps="page_view,/pricing"))
        assert_frame_equal(out, frame(FUNNEL, [(1, "page_view", 2, 1.0, 1.0, None), (2, "/pricing", 1, 0.5, 0.5, 0.0)]))


def test_funnel_on_an_empty_range_has_empty_rates(module_store):
    store = module_store("funnel", events=FUNNEL_EVENTS)
    out = registry.run("funnel", store, q("2023-06-01", "2023-06-07", steps="/,/pricing"))
    assert_frame_equal(out, frame(FUNNEL, [(1, "/", 0, None, None, None), (2, "/pricing", 0, None, None, None)]))


def test_funnel_needs_its_steps(module_store):
    store = module_store("funnel", events=FUNNEL_EVENTS)
    with pytest.raises(QueryError, match="steps"):
        registry.run("funnel", store, q("2024-01-01", "2024-01-07"))


def test_funnel_exports_as_exact_csv(module_store):
    store = module_store("funnel", events=FUNNEL_EVENTS)
    out = registry.run("funnel", store, q("2024-01-01", "2024-01-07", steps="/pricing,signup_done", window_days="30"))
    # Entries on /pricing: u1 (Jan 1), u2 (Jan 2), u3 (Jan 3); signup_done after it: u1 only, 300 s later.
    assert to_csv(out) == (
        "step,name,users,conversion_from_start,conversion_from_previous,median_seconds_from_previous\n"
        "1,/pricing,3,1.0,1.0,\n"
        "2,signup_done,1,0.333333,0.333333,300.0\n"
    )


def test_funnel_candidates_are_the_names_and_pages_seen(module_store):
    store = module_store("funnel", events=FUNNEL_EVENTS)
    out = registry.run("funnel_candidates", store, q("2024-01-01", "2024-01-07"))
    # Jan 1-7: / five times (u4's Dec 31 and u5's Jan 10 are outside), /pricing three, signup_done two.
    assert_frame_equal(out, frame(CANDIDATES, [("/", 5), ("/pricing", 3), ("signup_done", 2)]))


def test_funnel_candidates_count_an_event_named_like_its_page_once(make_store):
    store = make_store(events=[ev("u1", "2024-01-01 10:00", "page_view", page_path="/", event_name="/"),
                               ev("u1", "2024-01-01 10:01", "page_view", page_path="/", event_name="home")])
    out = registry.run("funnel_candidates", store, q("2024-01-01", "2024-01-01"))
    assert_frame_equal(out, frame(CANDIDATES, [("/", 2), ("home", 1)]))


# -- api_usage ------------------------------------------------------------------------------------

def calls(user_id: str, day: str, count: int) -> list[dict]:
    return [ev(user_id, f"{day} {i // 60:02d}:{i % 60:02d}", "api_call", event_name="GET /v1/items") for i in range(count)]


API_USERS = [
    user("a", email="a@example.com", plan="free"), user("b", email="b@example.com", plan="pro"),
    user("c", email="c@example.com", plan="free"), user("d"), user("e", email="e@example.com", plan="enterprise"),
]
API_EVENTS = [
    *calls("a", "2024-03-02", 8), *calls("a", "2024-02-28", 5), *calls("a", "2024-03-20", 3),  # Feb and after --end don't count
    *calls("b", "2024-03-15", 20), *calls("c", "2024-03-01", 7), ev("c", "2024-03-01 23:00"),
    *calls("d", "2024-03-05", 50),  # no plan: no limit
    *calls("e", "2024-03-05", 100),  # enterprise: no limit given below
]


def test_api_usage_lists_accounts_at_or_above_80_percent_of_their_limit(module_store):
    store = module_store("api", users=API_USERS, events=API_EVENTS)
    out = registry.run("api_usage", store, q("2024-03-01", "2024-03-15", limits="free=10,pro=20"))
    # March 1-15: a 8 of 10 (exactly 80 %), b 20 of 20; c's 7 of 10 is below.
    assert_frame_equal(out, frame(API, [("b", "b@example.com", "pro", 20, 20, 1.0), ("a", "a@example.com", "free", 8, 10, 0.8)]))


def test_api_usage_with_the_default_limits_lists_nobody_here(module_store):
    store = module_store("api", users=API_USERS, events=API_EVENTS)
    out = registry.run("api_usage", store, q("2024-03-01", "2024-03-15"))
    assert_frame_equal(out, frame(API, []))


def test_api_usage_rejects_a_bad_limit(module_store):
    store = module_store("api", users=API_USERS, events=API_EVENTS)
    with pytest.raises(QueryError, match="free=lots"):
        registry.run("api_usage", store, q("2024-03-01", "2024-03-15", limits="free=lots"))


def test_api_usage_exports_as_exact_csv(module_store):
    store = module_store("api", users=API_USERS, events=API_EVENTS)
    # The month of --end (Feb 28): a's 5 calls of 5.
    out = registry.run("api_usage", store, q("2024-02-01", "2024-02-28", limits="free=5,enterprise=100"))
    assert to_csv(out) == "user_id,email,plan,api_calls,limit,share\na,a@example.com,free,5,5,1.0\n"


# -- activity_kpis --------------------------------------------------------------------------------

def test_activity_kpis_against_the_previous_range(make_store):
    # Range Jan 8-9, previous range Jan 6-7. u1: Jan 6, Jan 8 (a 600 s session), Jan 9; u2: Jan 9.
    store = make_store(events=[*days("u1", "2024-01-06", "2024-01-08", "2024-01-09"), ev("u1", "2024-01-08 10:10"),
                               *days("u2", "2024-01-09")])
    out = registry.run("activity_kpis", store, q("2024-01-08", "2024-01-09"))
    # DAU Jan 6-9: 1, 0, 1, 2; WAU and MAU: 1, 1, 1, 2. Stickiness 1, 0, 1, 1 (none before Jan 6), so
    # engagement: Jan 6 100, Jan 7 50, Jan 8 200/3, Jan 9 75.
    now_engagement, before_engagement = (200 / 3 + 75) / 2, (100 + 50) / 2
    assert_frame_equal(out, frame(KPIS, [
        ("dau", 1.5, 0.5, 2.0),
        ("wau", 1.5, 1.0, 0.5),
        ("mau", 1.5, 1.0, 0.5),
        ("engagement_score", now_engagement, before_engagement, (now_engagement - before_engagement) / before_engagement),
        ("sessions", 3.0, 1.0, 2.0),
        ("avg_duration_s", 200.0, 0.0, None),  # 600 / 3 against 0: no change can be computed
        ("bounce_rate", 2 / 3, 1.0, -1 / 3),
    ]))


def test_activity_kpis_on_an_empty_range(make_store):
    store = make_store(events=days("u1", "2024-01-06"))
    out = registry.run("activity_kpis", store, q("2023-06-01", "2023-06-02"))
    assert_frame_equal(out, frame(KPIS, [
        ("dau", 0.0, 0.0, None), ("wau", 0.0, 0.0, None), ("mau", 0.0, 0.0, None),
        ("engagement_score", None, None, None), ("sessions", 0.0, 0.0, None),
        ("avg_duration_s", None, None, None), ("bounce_rate", None, None, None),
    ]))


def test_activity_kpis_export_as_exact_csv(make_store):
    store = make_store(events=[*days("u1", "2024-01-08"), ev("u1", "2024-01-08 10:20")])
    out = registry.run("activity_kpis", store, q("2024-01-08", "2024-01-08", session_timeout_minutes="15"))
    # At 15 minutes the two events 20 minutes apart are two bounces.
    assert to_csv(out) == (
        "kpi,value,previous,change\n"
        "dau,1.0,0.0,\nwau,1.0,0.0,\nmau,1.0,0.0,\nengagement_score,100.0,,\n"
        "sessions,2.0,0.0,\navg_duration_s,0.0,,\nbounce_rate,1.0,,\n"
    )


# -- exports of the lead's metrics with options -----------------------------------------------------

def test_active_users_dau_wau_mau_and_lifecycle_export_as_exact_csv(make_store):
    store = make_store(events=[*days("u1", "2024-01-01", "2024-01-02"), *days("u2", "2024-01-02", event_type="page_view")])
    page_views = q("2024-01-01", "2024-01-02", event_type="page_view")
    assert to_csv(registry.run("active_users", store, page_views)) == "period,active_users\n2024-01-01,0\n2024-01-02,1\n"
    assert to_csv(registry.run("dau_wau_mau", store, page_views)) == (
        "date,dau,wau,mau,stickiness\n2024-01-01,0,0,0,\n2024-01-02,1,1,1,1.0\n")
    assert to_csv(registry.run("lifecycle", store, page_views)) == (
        "period,new,returning,resurrecting,dormant\n2024-01-01,0,0,0,0\n2024-01-02,1,0,0,0\n")  # u2 signed up with it
    assert to_csv(registry.run("new_users", store, q("2024-01-01", "2024-01-02", plan="pro"))) == (
        "period,new_users,cumulative_users\n2024-01-01,0,0\n2024-01-02,0,0\n")


# -- the rest on an empty range -------------------------------------------------------------------

@pytest.mark.parametrize("name,expected", [
    ("new_users", frame(NEW, [("2023-06-01", 0, 0), ("2023-06-02", 0, 0)])),  # everyone signed up in December
    ("sessions", frame(SESSIONS, [("2023-06-01", 0, 0, None, None, None, None), ("2023-06-02", 0, 0, None, None, None, None)])),
    ("active_user_list", frame(PEOPLE, [])),
    ("funnel_candidates", frame(CANDIDATES, [])),
    ("api_usage", frame(API, [])),
])
def test_on_an_empty_range(module_store, name, expected):
    store = module_store("sessions", users=SESSION_USERS, events=SESSION_EVENTS)
    assert_frame_equal(registry.run(name, store, q("2023-06-01", "2023-06-02")), expected)
