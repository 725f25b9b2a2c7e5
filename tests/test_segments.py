"""segment_users: the recipients of an email segment, narrowed by filters, scope and options.

One small store, --end Wednesday 2024-01-24 unless a test says otherwise. Weeks start on
Monday: the week of --end is Jan 22 - 28, the one before Jan 15 - 21. at_risk_users
compares Dec 28 - Jan 10 (prev_14) with Jan 11 - Jan 24 (last_14). Every expected row is
one of the users below as of --end, worked out by hand from the literal rows.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import build_store, d, q
from polars.testing import assert_frame_equal

from cli.main import main
from metrics import registry
from pulse.query import QueryError

MONEY = pl.Decimal(18, 2)
TS = pl.Datetime("us")

USERS = [
    {"user_id": "u1", "email": "ann@example.com", "name": "Ann Lee", "signup_at": "2024-01-02 09:00", "country": "DE",
     "timezone": "Europe/Berlin", "auth_provider": "google", "plan": "pro", "marketing_opt_in": True},
    {"user_id": "u2", "email": "bob@example.com", "name": "Bob Stone", "signup_at": "2024-01-04 09:00", "country": "US",
     "timezone": "America/New_York", "auth_provider": "email", "plan": "free"},
    {"user_id": "u3", "email": "cara@example.com", "name": "Cara Diaz", "signup_at": "2024-01-22 09:00", "country": "DE",
     "auth_provider": "github", "plan": "free", "marketing_opt_in": True},
    {"user_id": "u4", "email": "dan@example.com", "name": "Dan Roth", "signup_at": "2024-01-08 09:00", "country": "AT",
     "timezone": "Europe/Vienna", "auth_provider": "google", "plan": "pro"},
    # Never seen: no events at all.
    {"user_id": "u5", "email": "eva@example.com", "name": "Eva Moss", "signup_at": "2023-12-01 09:00", "country": "US",
     "plan": "pro"},
    {"user_id": "u6", "email": "finn@example.com", "name": "Finn Berg", "signup_at": "2024-01-10 07:00", "country": "DE",
     "timezone": "Europe/Berlin", "auth_provider": "email", "plan": "free", "marketing_opt_in": True},
]
EVENTS = [
    {"event_id": "e1", "user_id": "u1", "ts": "2024-01-02 10:00", "event_type": "login", "device_type": "desktop"},
    {"event_id": "e2", "user_id": "u1", "ts": "2024-01-03 10:00", "event_type": "feature_use", "event_name": "export",
     "device_type": "mobile"},
    {"event_id": "e3", "user_id": "u1", "ts": "2024-01-04 10:00", "event_type": "page_view", "device_type": "desktop"},
    {"event_id": "e4", "user_id": "u1", "ts": "2024-01-05 10:00", "event_type": "page_view", "device_type": "desktop"},
    {"event_id": "e5", "user_id": "u1", "ts": "2024-01-22 10:00", "event_type": "login", "device_type": "desktop"},
    {"event_id": "e6", "user_id": "u2", "ts": "2024-01-16 09:00", "event_type": "login", "device_type": "mobile"},
    {"event_id": "e7", "user_id": "u2", "ts": "2024-01-23 09:00", "event_type": "page_view", "device_type": "desktop"},
    # After --end: not a use of export by then, and not u2's last_seen.
    {"event_id": "e8", "user_id": "u2", "ts": "2024-01-25 09:00", "event_type": "feature_use", "event_name": "export",
     "device_type": "desktop"},
    {"event_id": "e9", "user_id": "u3", "ts": "2024-01-22 11:00", "event_type": "feature_use", "event_name": "export",
     "device_type": "desktop"},
    {"event_id": "e10", "user_id": "u4", "ts": "2024-01-09 10:00", "event_type": "login", "device_type": "desktop"},
    {"event_id": "e11", "user_id": "u4", "ts": "2024-01-15 10:00", "event_type": "feature_use", "event_name": "import",
     "device_type": "desktop"},
    # The week after --end's week.
    {"event_id": "e12", "user_id": "u4", "ts": "2024-01-29 10:00", "event_type": "login", "device_type": "desktop"},
    {"event_id": "e13", "user_id": "u6", "ts": "2024-01-10 08:00", "event_type": "login", "device_type": "tablet"},
    # Named export, but a custom event, not a feature_use.
    {"event_id": "e14", "user_id": "u6", "ts": "2024-01-10 09:00", "event_type": "custom", "event_name": "export",
     "device_type": "tablet"},
    # Friday Jan 26: after --end, but inside --end's week.
    {"event_id": "e15", "user_id": "u6", "ts": "2024-01-26 10:00", "event_type": "login", "device_type": "tablet"},
    # A user known only from events: signed up (as far as we know) with it, country from it.
    {"event_id": "e16", "user_id": "anon-9", "ts": "2024-01-20 12:00", "event_type": "login", "country_code": "FR"},
]
TRANSACTIONS = [
    {"transaction_id": "t1", "user_id": "u1", "ts": "2024-01-05 12:00", "kind": "purchase", "amount": "100"},
    {"transaction_id": "t2", "user_id": "u1", "ts": "2024-01-10 12:00", "kind": "refund", "amount": "30", "refund_of": "t1"},
    {"transaction_id": "t3", "user_id": "u1", "ts": "2024-01-06 12:00", "kind": "purchase", "amount": "50", "currency": "EUR"},
    {"transaction_id": "t4", "user_id": "u1", "ts": "2024-01-07 12:00", "kind": "purchase", "amount": "20", "status": "failed"},
    {"transaction_id": "t5", "user_id": "u3", "ts": "2024-01-23 10:00", "kind": "purchase", "amount": "10"},
    {"transaction_id": "t6", "user_id": "u4", "ts": "2024-01-25 12:00", "kind": "purchase", "amount": "200"},
]
SUBSCRIPTIONS = [
    {"subscription_id": "s1", "user_id": "u1", "plan": "pro", "mrr": "29", "started_at": "2024-01-02 09:00"},
    {"subscription_id": "s2", "user_id": "u2", "plan": "pro", "mrr": "49", "started_at": "2024-01-04 09:00",
     "ended_at": "2024-01-20 00:00"},
    # Ends at the very instant --end ends: still active at the end of --end.
    {"subscription_id": "s3", "user_id": "u3", "plan": "starter", "mrr": "15", "started_at": "2024-01-22 10:00",
     "ended_at": "2024-01-25 00:00"},
    {"subscription_id": "s4", "user_id": "u4", "plan": "pro", "mrr": "99", "started_at": "2024-01-25 12:00"},
]
TABLES = {"users": USERS, "events": EVENTS, "transactions": TRANSACTIONS, "subscriptions": SUBSCRIPTIONS}

END = "2024-01-24"
DAY = (END, END)
WEEK = ("2024-01-22", END, "week")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One store for the module: the tests only read it."""
    return build_store(tmp_path_factory.mktemp("segments") / "pulse.duckdb", **TABLES)


SCHEMA = {"user_id": pl.String, "email": pl.String, "name": pl.String, "plan": pl.String, "country": pl.String,
          "signup_at": TS, "last_seen": TS, "total_spent": MONEY, "mrr": MONEY, "marketing_opt_in": pl.Boolean,
          "timezone": pl.String, "auth_provider": pl.String}


def segment(rows: list[tuple]) -> pl.DataFrame:
    """Rows (user_id, email, name, plan, country, signup_at, last_seen, total_spent, mrr, opt_in, timezone, provider)."""
    def typed(r: tuple) -> tuple:
        signup, seen = (None if t is None else datetime.fromisoformat(t) for t in r[5:7])
        return (*r[:5], signup, seen, Decimal(r[7]), Decimal(r[8]), *r[9:])
    return pl.DataFrame([typed(r) for r in rows], schema=SCHEMA, orient="row")


# Each user as of --end. last_seen is their last event up to the end of Jan 24 (UTC).
ANON = ("anon-9", None, None, None, "FR", "2024-01-20 12:00", "2024-01-20 12:00", "0", "0", False, None, None)
# total_spent 70 = 100 - 30 refunded; the EUR purchase and the failed one do not count. mrr: s1.
ANN = ("u1", "ann@example.com", "Ann Lee", "pro", "DE", "2024-01-02 09:00", "2024-01-22 10:00", "70", "29", True,
       "Europe/Berlin", "google")
# s2 ended on Jan 20: no MRR at the end of --end.
BOB = ("u2", "bob@example.com", "Bob Stone", "free", "US", "2024-01-04 09:00", "2024-01-23 09:00", "0", "0", False,
       "America/New_York", "email")
CARA = ("u3", "cara@example.com", "Cara Diaz", "free", "DE", "2024-01-22 09:00", "2024-01-22 11:00", "10", "15", True,
        None, "github")
# The Jan 25 purchase, subscription and the Jan 29 event are after --end.
DAN = ("u4", "dan@example.com", "Dan Roth", "pro", "AT", "2024-01-08 09:00", "2024-01-15 10:00", "0", "0", False,
       "Europe/Vienna", "google")
EVA = ("u5", "eva@example.com", "Eva Moss", "pro", "US", "2023-12-01 09:00", None, "0", "0", False, None, None)
# The Jan 26 event is after --end.
FINN = ("u6", "finn@example.com", "Finn Berg", "free", "DE", "2024-01-10 07:00", "2024-01-10 09:00", "0", "0", True,
        "Europe/Berlin", "email")
EVERYONE = [ANON, ANN, BOB, CARA, DAN, EVA, FINN]


def segment_users(store, *args, **options) -> pl.DataFrame:
    return registry.run("segment_users", store, q(*args, **options))


# -- everyone, and the figures as of --end --------------------------------------------------


def test_without_conditions_every_user_is_a_recipient(store):
    assert_frame_equal(segment_users(store, *DAY), segment(EVERYONE))
    # --start and the interval do not matter.
    assert_frame_equal(segment_users(store, "2023-06-01", END, "month"), segment(EVERYONE))


def test_total_spent_and_mrr_are_the_user_pages(store):
    out = segment_users(store, *DAY, user_ids="u1,u3")
    assert_frame_equal(out, segment([ANN, CARA]))
    for user_id, spent, mrr in out.select("user_id", "total_spent", "mrr").iter_rows():
        profile = registry.run("user_profile", store, q(*DAY, user_id=user_id))
        assert (profile["total_spent"][0], profile["current_mrr"][0]) == (spent, mrr)


def test_mrr_and_spend_follow_the_end_date(store):
    # Jan 10: Bob's s2 (Jan 4 - Jan 20) is active, 49; Cara has signed up later, yet is a user
    # of the store with nothing by then. Bob's first event is on Jan 16.
    assert_frame_equal(segment_users(store, "2024-01-10", "2024-01-10", user_ids="u2,u3"), segment([
        ("u2", "bob@example.com", "Bob Stone", "free", "US", "2024-01-04 09:00", None, "0", "49", False,
         "America/New_York", "email"),
        ("u3", "cara@example.com", "Cara Diaz", "free", "DE", "2024-01-22 09:00", None, "0", "0", True, None, "github"),
    ]))
    # Jan 25: s3 ended at the end of Jan 24, so Cara has no MRR now; Bob was seen on Jan 25.
    assert_frame_equal(segment_users(store, "2024-01-25", "2024-01-25", user_ids="u2,u3"), segment([
        ("u2", "bob@example.com", "Bob Stone", "free", "US", "2024-01-04 09:00", "2024-01-25 09:00", "0", "0", False,
         "America/New_York", "email"),
        ("u3", "cara@example.com", "Cara Diaz", "free", "DE", "2024-01-22 09:00", "2024-01-22 11:00", "10", "0", True,
         None, "github"),
    ]))


def test_a_user_never_seen_has_no_last_seen_and_is_neither_before_nor_after(store):
    assert_frame_equal(segment_users(store, *DAY, user_ids="u5"), segment([EVA]))
    assert_frame_equal(segment_users(store, *DAY, user_ids="u5", last_seen_before="2199-12-31"), segment([]))
    assert_frame_equal(segment_users(store, *DAY, user_ids="u5", last_seen_after="1970-01-01"), segment([]))


def test_last_seen_and_spend_end_at_local_midnight_of_the_end_date(make_store):
    store = make_store(
        timezone="America/New_York",
        users=[{"user_id": "x1", "email": "x@example.com", "signup_at": "2024-01-02 15:00"}],
        events=[{"event_id": "e1", "user_id": "x1", "ts": "2024-01-23 03:00", "event_type": "login"}],  # Jan 22, 22:00 local
        transactions=[
            {"transaction_id": "t1", "user_id": "x1", "ts": "2024-01-23 04:00", "kind": "purchase", "amount": "5"},  # Jan 22 local
            {"transaction_id": "t2", "user_id": "x1", "ts": "2024-01-23 06:00", "kind": "purchase", "amount": "7"},  # Jan 23 local
        ],
    )
    x1 = ("x1", "x@example.com", None, None, None, "2024-01-02 15:00", "2024-01-23 03:00", "5", "0", False, None, None)
    # last_seen stays UTC as stored; its local day, Jan 22, is before Jan 23.
    assert_frame_equal(segment_users(store, "2024-01-22", "2024-01-22", last_seen_before="2024-01-23"), segment([x1]))
    assert_frame_equal(segment_users(store, "2024-01-22", "2024-01-22", last_seen_after="2024-01-21"), segment([x1]))
    assert_frame_equal(segment_users(store, "2024-01-22", "2024-01-22", last_seen_after="2024-01-22"), segment([]))


# -- one option at a time ------------------------------------------------------------------


def test_user_ids(store):
    # ghost is not in the store; rows come by user_id whatever the order asked.
    assert_frame_equal(segment_users(store, *DAY, user_ids="u3, u1,ghost"), segment([ANN, CARA]))


@pytest.mark.parametrize("status, expected", [
    # Cara signed up in --end's week and was active in it.
    ("new", [CARA]),
    # Bob: active Jan 16 (the week before) and Jan 23.
    ("returning", [BOB]),
    # Ann: active the week of Jan 1, not the week before, and on Jan 22. Finn: active the
    # week of Jan 8 and on Jan 26 — after --end, but the lifecycle counts the whole week.
    ("resurrecting", [ANN, FINN]),
    # Dan: active Jan 15, not in --end's week (Jan 29 is the week after). anon-9: only Jan 20.
    ("dormant", [ANON, DAN]),
])
def test_lifecycle_in_the_week_of_the_end(store, status, expected):
    assert_frame_equal(segment_users(store, *WEEK, lifecycle=status), segment(expected))


def test_lifecycle_lists_the_users_the_lifecycle_chart_counts(store):
    chart = registry.run("lifecycle", store, q(*WEEK))
    assert chart.row(0) == (d("2024-01-22"), 1, 1, 2, 2)
    assert [segment_users(store, *WEEK, lifecycle=s).height for s in ("new", "returning", "resurrecting", "dormant")] == [1, 1, 2, 2]


def test_last_seen_before_is_strict(store):
    # Ann and Cara were last seen on Jan 22 itself; Eva never.
    assert_frame_equal(segment_users(store, *DAY, last_seen_before="2024-01-22"), segment([ANON, DAN, FINN]))


def test_last_seen_after_is_strict(store):
    assert_frame_equal(segment_users(store, *DAY, last_seen_after="2024-01-22"), segment([BOB]))


def test_signed_up_before_is_strict(store):
    # Bob signed up on Jan 4 itself.
    assert_frame_equal(segment_users(store, *DAY, signed_up_before="2024-01-04"), segment([ANN, EVA]))


def test_signed_up_after_is_strict(store):
    # Finn signed up on Jan 10 itself; anon-9 with their first event, Jan 20.
    assert_frame_equal(segment_users(store, *DAY, signed_up_after="2024-01-10"), segment([ANON, CARA]))


@pytest.mark.parametrize("amount, expected", [
    ("70", [ANN]),  # at least: exactly 70 counts
    ("70.01", []),
    ("10", [ANN, CARA]),
    ("0", EVERYONE),  # a user who never paid spent 0
])
def test_min_spent_is_at_least(store, amount, expected):
    assert_frame_equal(segment_users(store, *DAY, min_spent=amount), segment(expected))


def test_at_risk(store):
    # Ann: 4 active days Jan 2-5 (prev_14), 1 on Jan 22 (last_14): 2 x 1 < 4. Finn: 1 (Jan 10)
    # then 0, as Jan 26 is after --end. Dan: 1 (Jan 9) then 1 (Jan 15), not fewer than half.
    out = segment_users(store, *DAY, at_risk="true")
    assert_frame_equal(out, segment([ANN, FINN]))
    assert sorted(registry.run("at_risk_users", store, q(*DAY))["user_id"]) == out["user_id"].to_list()
    assert_frame_equal(segment_users(store, *DAY, at_risk="false"), segment(EVERYONE))


def test_used_feature(store):
    # Bob used export only after --end; Finn's "export" is a custom event.
    assert_frame_equal(segment_users(store, *DAY, used_feature="export"), segment([ANN, CARA]))
    assert_frame_equal(segment_users(store, *DAY, used_feature="import"), segment([DAN]))


def test_not_used_feature(store):
    assert_frame_equal(segment_users(store, *DAY, not_used_feature="export"), segment([ANON, BOB, DAN, EVA, FINN]))


# -- filters and the data scope -------------------------------------------------------------


def test_country_filter(store):
    assert_frame_equal(segment_users(store, *DAY, country="de"), segment([ANN, CARA, FINN]))


def test_plan_filter(store):
    assert_frame_equal(segment_users(store, *DAY, plan="pro"), segment([ANN, DAN, EVA]))


def test_device_type_filter_keeps_users_who_ever_used_the_device(store):
    # Ann used a mobile once (Jan 3), Bob on Jan 16.
    assert_frame_equal(segment_users(store, *DAY, device_type="mobile"), segment([ANN, BOB]))
    # Finn's tablet; his Jan 26 event is after --end, but Jan 10 was on a tablet too.
    assert_frame_equal(segment_users(store, *DAY, device_type="tablet"), segment([FINN]))


def test_data_scope(store):
    assert_frame_equal(registry.run("segment_users", store, q(*DAY).scoped(countries=("DE", "AT"))),
                       segment([ANN, CARA, DAN, FINN]))
    # anon-9 has no plan, so no plan scope lets them in.
    assert_frame_equal(registry.run("segment_users", store, q(*DAY).scoped(plans=("free",))), segment([BOB, CARA, FINN]))
    # A filter narrows within the scope and cannot widen it; user_ids cannot either.
    assert_frame_equal(registry.run("segment_users", store, q(*DAY, country="US").scoped(countries=("DE", "AT"))),
                       segment([]))
    assert_frame_equal(registry.run("segment_users", store, q(*DAY, user_ids="u1,u2").scoped(countries=("DE", "AT"))),
                       segment([ANN]))


# -- combinations: every condition must hold ------------------------------------------------


def test_country_and_lifecycle(store):
    assert_frame_equal(segment_users(store, *WEEK, country="DE", lifecycle="resurrecting"), segment([ANN, FINN]))


def test_scope_at_risk_and_a_feature(store):
    # Both at risk and in scope; only Ann used export.
    query = q(*DAY, at_risk="true", used_feature="export").scoped(countries=("DE", "AT"))
    assert_frame_equal(registry.run("segment_users", store, query), segment([ANN]))


def test_device_and_last_seen_after(store):
    # Ann used a mobile but was last seen on Jan 22 itself.
    assert_frame_equal(segment_users(store, *DAY, device_type="mobile", last_seen_after="2024-01-22"), segment([BOB]))


def test_plan_signup_and_not_used_feature(store):
    # pro: Ann (used export), Dan, Eva (signed up in December).
    assert_frame_equal(segment_users(store, *DAY, plan="pro", signed_up_after="2024-01-03", not_used_feature="export"),
                       segment([DAN]))


def test_ids_spend_and_signup(store):
    # Cara spent 10 but signed up on Jan 22, not before it.
    assert_frame_equal(segment_users(store, *DAY, user_ids="u1,u3,u4", min_spent="10", signed_up_before="2024-01-22"),
                       segment([ANN]))


# -- wrong values: one sentence --------------------------------------------------------------


@pytest.mark.parametrize("options, message", [
    ({"lifecycle": "gone"}, "Unknown lifecycle status 'gone'; use one of: new, returning, resurrecting, dormant."),
    ({"at_risk": "maybe"}, "Option at_risk='maybe' is neither true nor false; use at_risk=true to keep only users at risk."),
    ({"user_ids": " , "}, "Give at least one user id to user_ids, comma-separated: user_ids=u1,u2."),
    ({"last_seen_before": "2024-02-30"}, "The option last_seen_before '2024-02-30' is not a date; use YYYY-MM-DD, e.g. 2024-03-01."),
    ({"signed_up_after": "1900-01-01"},
     "The option signed_up_after 1900-01-01 is outside the days Pulse supports, 1970-01-01 to 2199-12-31."),
    ({"min_spent": "lots"}, "Option min_spent='lots' is not an amount; use a number such as 9.99."),
    ({"colour": "red"}, "Unknown option 'colour' for segment_users; its options are: at_risk, country, device_type, "
                        "last_seen_after, last_seen_before, lifecycle, min_spent, not_used_feature, plan, signed_up_after, "
                        "signed_up_before, used_feature, user_ids."),
])
def test_a_wrong_option_is_one_sentence(store, options, message):
    with pytest.raises(QueryError) as refused:
        segment_users(store, *DAY, **options)
    assert str(refused.value) == message


# -- the command line -------------------------------------------------------------------------


@pytest.fixture
def env(tmp_path):
    return {"PULSE_STORE": str(tmp_path / "pulse.duckdb"), "PULSE_CONFIG": str(tmp_path / "none.toml")}


def test_export_prints_the_segment_as_csv(env):
    build_store(Path(env["PULSE_STORE"]), **TABLES)
    result = CliRunner().invoke(main, ["export", "segment_users", "--end", END, "--option", "plan=pro"], env=env,
                                catch_exceptions=False)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        "user_id,email,name,plan,country,signup_at,last_seen,total_spent,mrr,marketing_opt_in,timezone,auth_provider\n"
        "u1,ann@example.com,Ann Lee,pro,DE,2024-01-02 09:00:00,2024-01-22 10:00:00,70.00,29.00,true,Europe/Berlin,google\n"
        "u4,dan@example.com,Dan Roth,pro,AT,2024-01-08 09:00:00,2024-01-15 10:00:00,0.00,0.00,false,Europe/Vienna,google\n"
        "u5,eva@example.com,Eva Moss,pro,US,2023-12-01 09:00:00,,0.00,0.00,false,,\n"
    )


def test_export_refuses_a_wrong_option_in_one_line(env):
    build_store(Path(env["PULSE_STORE"]), **TABLES)
    result = CliRunner().invoke(main, ["export", "segment_users", "--end", END, "--option", "lifecycle=gone"], env=env,
                                catch_exceptions=False)
    assert (result.exit_code, result.stderr, result.stdout) == (
        2, "pulse: Unknown lifecycle status 'gone'; use one of: new, returning, resurrecting, dormant.\n", "")
