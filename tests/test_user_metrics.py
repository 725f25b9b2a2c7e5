"""One user: search, profile, hours, spending, subscriptions and the timeline."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import polars as pl
import pytest
from conftest import build_store, q
from polars.testing import assert_frame_equal

from metrics import registry
from pulse.export import to_csv
from pulse.query import QueryError

MONEY = pl.Decimal(18, 2)
TS = pl.Datetime("us")

USERS = [
    {"user_id": "u1", "email": "ann@example.com", "name": "Ann Lee", "signup_at": "2024-01-02 09:00", "country": "DE",
     "timezone": "Europe/Berlin", "auth_provider": "google", "plan": "pro", "marketing_opt_in": True},
    {"user_id": "u2", "email": "bob@example.com", "name": "Bob Annan", "signup_at": "2024-01-04 09:00", "country": "US"},
    {"user_id": "u3", "email": "carol@annex.io", "name": "Carol", "signup_at": "2024-01-05 09:00"},
]
EVENTS = [
    # Wednesday Jan 3: one session of two events (10 minutes), then a second session at 11:00.
    {"event_id": "e1", "user_id": "u1", "ts": "2024-01-03 10:00", "event_type": "page_view", "page_path": "/",
     "device_type": "desktop"},
    {"event_id": "e2", "user_id": "u1", "ts": "2024-01-03 10:10", "event_type": "feature_use", "event_name": "export",
     "device_type": "desktop"},
    {"event_id": "e3", "user_id": "u1", "ts": "2024-01-03 11:00", "event_type": "login", "device_type": "mobile"},
    # Monday Jan 8.
    {"event_id": "e4", "user_id": "u1", "ts": "2024-01-08 09:00", "event_type": "page_view", "page_path": "/pricing"},
    {"event_id": "e5", "user_id": "u2", "ts": "2024-01-08 09:00", "event_type": "login"},
    # A user known only from events.
    {"event_id": "e6", "user_id": "anon-77", "ts": "2024-01-09 09:00", "event_type": "login"},
]
TRANSACTIONS = [
    {"transaction_id": "t1", "user_id": "u1", "ts": "2024-01-10 10:00", "kind": "purchase", "amount": "100",
     "category": "compute", "provider": "acme", "product_name": "GPU hours", "payment_method": "card"},
    {"transaction_id": "t2", "user_id": "u1", "ts": "2024-02-02 10:00", "kind": "refund", "amount": "30", "refund_of": "t1"},
    {"transaction_id": "t3", "user_id": "u1", "ts": "2024-01-12 10:00", "kind": "purchase", "amount": "20",
     "status": "failed", "category": "storage"},
    {"transaction_id": "t4", "user_id": "u1", "ts": "2024-01-15 09:00", "kind": "subscription", "amount": "29",
     "category": "service", "provider": "pulse", "plan": "pro"},
    {"transaction_id": "t5", "user_id": "u1", "ts": "2024-01-20 10:00", "kind": "purchase", "amount": "50", "currency": "EUR"},
    {"transaction_id": "t6", "user_id": "u2", "ts": "2024-01-20 10:00", "kind": "purchase", "amount": "70",
     "category": "compute"},
]
SUBSCRIPTIONS = [
    {"subscription_id": "s1", "user_id": "u1", "plan": "trial", "mrr": "0", "started_at": "2024-01-02 09:00",
     "ended_at": "2024-01-15 09:00"},
    # Ends exactly at the instant February ends: still counted as February's MRR.
    {"subscription_id": "s1", "user_id": "u1", "plan": "pro", "mrr": "29", "started_at": "2024-01-15 09:00",
     "ended_at": "2024-03-01 00:00", "cancel_reason": "budget"},
]
TABLES = {"users": USERS, "events": EVENTS, "transactions": TRANSACTIONS, "subscriptions": SUBSCRIPTIONS}
JAN_FEB = ("2024-01-01", "2024-02-29")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One store for the module: the tests only read it."""
    return build_store(tmp_path_factory.mktemp("user") / "pulse.duckdb", **TABLES)


def search_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        [(*r[:5], *(None if t is None else datetime.fromisoformat(t) for t in r[5:])) for r in rows],
        schema={"user_id": pl.String, "email": pl.String, "name": pl.String, "country": pl.String, "plan": pl.String,
                "signup_at": TS, "last_seen": TS},
        orient="row",
    )


ANN = ("u1", "ann@example.com", "Ann Lee", "DE", "pro", "2024-01-02 09:00", "2024-01-08 09:00")
BOB = ("u2", "bob@example.com", "Bob Annan", "US", None, "2024-01-04 09:00", "2024-01-08 09:00")
CAROL = ("u3", "carol@annex.io", "Carol", None, None, "2024-01-05 09:00", None)


def test_user_search_matches_id_email_or_name_ignoring_case(store):
    out = registry.run("user_search", store, q(*JAN_FEB, text="ANN"))
    # Ann's email starts with the text; Bob's name and Carol's email only contain it.
    assert_frame_equal(out, search_frame([ANN, BOB, CAROL]))


def test_user_search_puts_an_exact_id_first_and_finds_users_known_only_from_events(store):
    assert_frame_equal(registry.run("user_search", store, q(*JAN_FEB, text="u2")), search_frame([BOB]))
    anon = registry.run("user_search", store, q(*JAN_FEB, text="anon"))
    # Signed up, as far as we know, with their first event.
    assert_frame_equal(anon, search_frame([("anon-77", None, None, None, None, "2024-01-09 09:00", "2024-01-09 09:00")]))
    assert to_csv(registry.run("user_search", store, q(*JAN_FEB, text="bob@"))) == (
        "user_id,email,name,country,plan,signup_at,last_seen\n"
        "u2,bob@example.com,Bob Annan,US,,2024-01-04 09:00:00,2024-01-08 09:00:00\n"
    )


def test_user_search_needs_text(store):
    with pytest.raises(QueryError, match="Type part of a user's id"):
        registry.run("user_search", store, q(*JAN_FEB, text=" "))


PROFILE_SCHEMA = {
    "user_id": pl.String, "email": pl.String, "name": pl.String, "signup_at": TS, "country": pl.String,
    "timezone": pl.String, "auth_provider": pl.String, "plan": pl.String, "marketing_opt_in": pl.Boolean,
    "first_seen": TS, "last_seen": TS, "active_days": pl.Int64, "sessions_per_week": pl.Float64,
    "avg_session_s": pl.Float64, "total_spent": MONEY, "orders": pl.Int64, "avg_monthly_spend": MONEY, "current_mrr": MONEY,
}
ANN_PROFILE = ["u1", "ann@example.com", "Ann Lee", datetime(2024, 1, 2, 9), "DE", "Europe/Berlin", "google", "pro", True,
               datetime(2024, 1, 3, 10), datetime(2024, 1, 8, 9)]


def profile_frame(values: list) -> pl.DataFrame:
    return pl.DataFrame([tuple(values)], schema=PROFILE_SCHEMA, orient="row")


def test_user_profile_as_of_the_end(store):
    out = registry.run("user_profile", store, q(*JAN_FEB, user_id="u1"))
    assert_frame_equal(out, profile_frame(ANN_PROFILE + [
        2,                     # active on Jan 3 and Jan 8
        3 * 7 / 58,            # 3 sessions over Jan 3 .. Feb 29 (58 days), per week
        200.0,                 # (600 + 0 + 0) / 3 seconds
        Decimal("99"),         # 100 + 29 - 30 refunded; the failed and the euro rows are not spent
        2,                     # t1, t4
        Decimal("49.50"),      # 99 over January and February
        Decimal("29"),         # the pro period ends exactly when February ends: still counted
    ]))


def test_user_profile_earlier_in_time(store):
    out = registry.run("user_profile", store, q("2024-01-01", "2024-01-10", user_id="u1"))
    assert_frame_equal(out, profile_frame(ANN_PROFILE + [
        2, 3 * 7 / 8, 200.0, Decimal("100"), 1, Decimal("100"),
        Decimal("0"),          # on the trial: no MRR
    ]))


def test_user_profile_of_a_user_with_no_activity_or_money(store):
    out = registry.run("user_profile", store, q(*JAN_FEB, user_id="u3"))
    assert_frame_equal(out, profile_frame(["u3", "carol@annex.io", "Carol", datetime(2024, 1, 5, 9), None, None, None, None,
                                           False, None, None, 0, None, None, Decimal("0"), 0, Decimal("0"), Decimal("0")]))


def test_user_metrics_need_a_known_user(store):
    with pytest.raises(QueryError, match="There is no user 'nobody' in the store"):
        registry.run("user_profile", store, q(*JAN_FEB, user_id="nobody"))
    with pytest.raises(QueryError, match="Say which user"):
        registry.run("user_hours", store, q(*JAN_FEB))


def hours_frame(cells: dict[tuple[int, int], int]) -> pl.DataFrame:
    return pl.DataFrame(
        [(w, h, cells.get((w, h), 0)) for w in range(7) for h in range(24)],
        schema={"weekday": pl.Int64, "hour": pl.Int64, "events": pl.Int64}, orient="row",
    )


def test_user_hours_has_all_168_cells(store):
    out = registry.run("user_hours", store, q(*JAN_FEB, user_id="u1"))
    # Wednesday (2) at 10 and 11, Monday (0) at 9.
    assert_frame_equal(out, hours_frame({(2, 10): 2, (2, 11): 1, (0, 9): 1}))


def test_user_hours_follow_the_reporting_timezone(make_store):
    store = make_store(timezone="Europe/Berlin", **TABLES)
    out = registry.run("user_hours", store, q(*JAN_FEB, user_id="u1"))
    assert_frame_equal(out, hours_frame({(2, 11): 2, (2, 12): 1, (0, 10): 1}))


def spending_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame([(r[0], r[1], Decimal(r[2])) for r in rows],
                        schema={"value": pl.String, "orders": pl.Int64, "amount": MONEY}, orient="row")


def test_user_spending_by_category_counts_refunds_under_the_refunded_order(store):
    out = registry.run("user_spending", store, q(*JAN_FEB, user_id="u1", dimension="category"))
    # The refund of t1 has no category of its own: it comes off compute.
    assert_frame_equal(out, spending_frame([("compute", 1, "70"), ("service", 1, "29")]))


def test_user_spending_by_provider(store):
    out = registry.run("user_spending", store, q(*JAN_FEB, user_id="u1", dimension="provider"))
    assert_frame_equal(out, spending_frame([("acme", 1, "70"), ("pulse", 1, "29")]))


def test_user_spending_by_month_shows_every_month(store):
    out = registry.run("user_spending", store, q("2024-01-01", "2024-03-31", user_id="u1", dimension="month"))
    # The refund lands in February, the month it was paid back.
    assert_frame_equal(out, spending_frame([("2024-01-01", 2, "129"), ("2024-02-01", 0, "-30"), ("2024-03-01", 0, "0")]))
    assert to_csv(out) == "value,orders,amount\n2024-01-01,2,129.00\n2024-02-01,0,-30.00\n2024-03-01,0,0.00\n"


def test_user_subscriptions(store):
    out = registry.run("user_subscriptions", store, q(*JAN_FEB, user_id="u1"))
    expected = pl.DataFrame(
        [("s1", "trial", Decimal("0"), datetime(2024, 1, 2, 9), datetime(2024, 1, 15, 9), None),
         ("s1", "pro", Decimal("29"), datetime(2024, 1, 15, 9), datetime(2024, 3, 1), "budget")],
        schema={"subscription_id": pl.String, "plan": pl.String, "mrr": MONEY, "started_at": TS, "ended_at": TS,
                "cancel_reason": pl.String},
        orient="row",
    )
    assert_frame_equal(out, expected)
    # Nothing had started by the end of Jan 1.
    assert_frame_equal(registry.run("user_subscriptions", store, q("2024-01-01", "2024-01-01", user_id="u1")), expected.clear())


def timeline_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame([(datetime.fromisoformat(r[0]), r[1], r[2], None if r[3] is None else Decimal(r[3])) for r in rows],
                        schema={"ts": TS, "type": pl.String, "detail": pl.String, "amount": MONEY}, orient="row")


TIMELINE = [
    ("2024-02-02 10:00", "refund", "Refund of t1", "30"),
    # Another currency: named in the detail, never in the amount column.
    ("2024-01-20 10:00", "purchase", "Purchase · 50.00 EUR", None),
    # Same instant: ties by type.
    ("2024-01-15 09:00", "plan_change", "trial → pro", "29"),
    ("2024-01-15 09:00", "purchase", "Subscription payment · pro · service · pulse", "29"),
    ("2024-01-12 10:00", "failed_payment", "Purchase · storage", "20"),
    ("2024-01-10 10:00", "purchase", "Purchase · GPU hours · compute · acme · card", "100"),
    ("2024-01-08 09:00", "event", "Page view: /pricing", None),
    ("2024-01-08 09:00", "session", "Session 3: 1 event over 0 s, entered at /pricing", None),
    ("2024-01-03 11:00", "event", "Sign-in (mobile)", None),
    ("2024-01-03 11:00", "session", "Session 2: 1 event over 0 s, mobile", None),
    ("2024-01-03 10:10", "event", "Feature use: export (desktop)", None),
    ("2024-01-03 10:00", "event", "Page view: / (desktop)", None),
    ("2024-01-03 10:00", "session", "Session 1: 2 events over 600 s, desktop, entered at /", None),
    ("2024-01-02 09:00", "plan_change", "Started trial", "0"),
]


def test_user_timeline_newest_first(store):
    # The pro period ends on Mar 1, after the range: not shown.
    out = registry.run("user_timeline", store, q(*JAN_FEB, user_id="u1"))
    assert_frame_equal(out, timeline_frame(TIMELINE))


def test_user_timeline_shows_the_end_of_a_plan(store):
    out = registry.run("user_timeline", store, q("2024-03-01", "2024-03-31", user_id="u1"))
    assert_frame_equal(out, timeline_frame([("2024-03-01 00:00", "plan_change", "Ended pro (budget)", None)]))


def test_user_timeline_filtered_by_type_and_paged(store):
    out = registry.run("user_timeline", store, q(*JAN_FEB, user_id="u1", types="purchase,refund", limit="2", offset="1"))
    assert_frame_equal(out, timeline_frame([TIMELINE[1], TIMELINE[3]]))
    assert to_csv(out) == (
        "ts,type,detail,amount\n"
        "2024-01-20 10:00:00,purchase,Purchase · 50.00 EUR,\n"
        "2024-01-15 09:00:00,purchase,Subscription payment · pro · service · pulse,29.00\n"
    )


def test_user_timeline_rejects_an_unknown_type(store):
    with pytest.raises(QueryError, match="Unknown timeline type 'emails'"):
        registry.run("user_timeline", store, q(*JAN_FEB, user_id="u1", types="event,emails"))


def test_user_metrics_export_as_exact_csv(store):
    assert to_csv(registry.run("user_profile", store, q(*JAN_FEB, user_id="u1"))) == (
        "user_id,email,name,signup_at,country,timezone,auth_provider,plan,marketing_opt_in,first_seen,last_seen,"
        "active_days,sessions_per_week,avg_session_s,total_spent,orders,avg_monthly_spend,current_mrr\n"
        "u1,ann@example.com,Ann Lee,2024-01-02 09:00:00,DE,Europe/Berlin,google,pro,true,2024-01-03 10:00:00,"
        "2024-01-08 09:00:00,2,0.362069,200.0,99.00,2,49.50,29.00\n"
    )
    hours = to_csv(registry.run("user_hours", store, q(*JAN_FEB, user_id="u1"))).splitlines()
    assert hours[0] == "weekday,hour,events" and len(hours) == 169
    assert hours[1 + 2 * 24 + 10] == "2,10,2"
    assert to_csv(registry.run("user_subscriptions", store, q(*JAN_FEB, user_id="u1"))) == (
        "subscription_id,plan,mrr,started_at,ended_at,cancel_reason\n"
        "s1,trial,0.00,2024-01-02 09:00:00,2024-01-15 09:00:00,\n"
        "s1,pro,29.00,2024-01-15 09:00:00,2024-03-01 00:00:00,budget\n"
    )
