"""A staff member's data scope (Query.scoped): every metric counts only the users of the
allowed countries and plans, a filter narrows within the scope, and the user page neither
finds nor shows a user outside it.

One small store: five users in DE, AT and US on the plans free and pro. Every expectation
is worked out by hand from the rows below; each scoped figure sits next to the unscoped one
so the users the scope removes are visible.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import polars as pl
import pytest
from conftest import build_store, d, q
from polars.testing import assert_frame_equal

from metrics import registry
from pulse.export import to_csv
from pulse.query import QueryError

MONEY = pl.Decimal(18, 2)
TS = pl.Datetime("us")

USERS = [
    {"user_id": "u1", "email": "anna@example.com", "name": "Anna Berg", "signup_at": "2024-01-02 09:00",
     "country": "DE", "plan": "pro"},
    {"user_id": "u2", "email": "ben@example.com", "name": "Ben Gruber", "signup_at": "2024-01-05 09:00",
     "country": "AT", "plan": "free"},
    {"user_id": "u3", "email": "cara@example.com", "name": "Cara Smith", "signup_at": "2024-01-03 09:00",
     "country": "US", "plan": "pro"},
    {"user_id": "u4", "email": "dan@example.com", "name": "Dan Jones", "signup_at": "2024-01-10 09:00",
     "country": "US", "plan": "free"},
    {"user_id": "u5", "email": "eva@example.com", "name": "Eva Klein", "signup_at": "2024-01-12 09:00",
     "country": "DE", "plan": "pro"},
]
EVENTS = [
    {"event_id": "e1", "user_id": "u1", "ts": "2024-01-02 10:00", "event_type": "login"},
    {"event_id": "e2", "user_id": "u1", "ts": "2024-01-09 10:00", "event_type": "login"},
    {"event_id": "e3", "user_id": "u2", "ts": "2024-01-09 11:00", "event_type": "login"},
    {"event_id": "e4", "user_id": "u3", "ts": "2024-01-03 10:00", "event_type": "login"},
    {"event_id": "e5", "user_id": "u3", "ts": "2024-01-10 10:00", "event_type": "login"},
    {"event_id": "e6", "user_id": "u4", "ts": "2024-01-11 10:00", "event_type": "login"},
    {"event_id": "e7", "user_id": "u5", "ts": "2024-01-13 10:00", "event_type": "login"},
]
TRANSACTIONS = [
    {"transaction_id": "t1", "user_id": "u1", "ts": "2024-01-05 12:00", "kind": "purchase", "amount": "100"},
    {"transaction_id": "t2", "user_id": "u2", "ts": "2024-01-09 12:00", "kind": "purchase", "amount": "40"},
    {"transaction_id": "t3", "user_id": "u3", "ts": "2024-01-05 14:00", "kind": "purchase", "amount": "200"},
    {"transaction_id": "t4", "user_id": "u4", "ts": "2024-01-11 12:00", "kind": "purchase", "amount": "60", "status": "failed"},
    {"transaction_id": "t5", "user_id": "u1", "ts": "2024-01-10 12:00", "kind": "refund", "amount": "25", "refund_of": "t1"},
    {"transaction_id": "t6", "user_id": "u5", "ts": "2024-01-12 12:00", "kind": "purchase", "amount": "10"},
    {"transaction_id": "t7", "user_id": "u3", "ts": "2024-01-13 12:00", "kind": "purchase", "amount": "30"},
]
SUBSCRIPTIONS = [
    {"subscription_id": "s1", "user_id": "u1", "plan": "pro", "mrr": "20", "started_at": "2023-12-01 00:00"},
    # Ends on Jan 20: in the MRR of mid-January, churned by the end of January.
    {"subscription_id": "s2", "user_id": "u3", "plan": "pro", "mrr": "50", "started_at": "2023-12-15 00:00",
     "ended_at": "2024-01-20 00:00"},
    {"subscription_id": "s3", "user_id": "u5", "plan": "pro", "mrr": "30", "started_at": "2024-02-10 00:00"},
]

# Two whole weeks, Monday Jan 1 - Sunday Jan 14.
WEEKS = ("2024-01-01", "2024-01-14", "week")
# Kpis: Jan 8-14 against Jan 1-7.
KPI_RANGE = ("2024-01-08", "2024-01-14")
DE_AT = {"countries": ("DE", "AT")}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One store for the whole module: the tests only read it."""
    return build_store(tmp_path_factory.mktemp("scope") / "pulse.duckdb", users=USERS, events=EVENTS,
                       transactions=TRANSACTIONS, subscriptions=SUBSCRIPTIONS)


# -- expected frames ------------------------------------------------------------------------


def active_frame(rows: list[tuple[str, int]]) -> pl.DataFrame:
    return pl.DataFrame([(d(p), n) for p, n in rows], schema={"period": pl.Date, "active_users": pl.Int64}, orient="row")


def new_users_frame(rows: list[tuple[str, int, int]]) -> pl.DataFrame:
    return pl.DataFrame([(d(p), n, c) for p, n, c in rows],
                        schema={"period": pl.Date, "new_users": pl.Int64, "cumulative_users": pl.Int64}, orient="row")


def revenue_frame(rows: list[tuple]) -> pl.DataFrame:
    """(period, orders, buyers, gross, refunds, net, aov, failed, failed_rate), money as text."""
    return pl.DataFrame(
        [(d(r[0]), r[1], r[2], Decimal(r[3]), Decimal(r[4]), Decimal(r[5]), None if r[6] is None else Decimal(r[6]), r[7], r[8])
         for r in rows],
        schema={"period": pl.Date, "orders": pl.Int64, "buyers": pl.Int64, "gross_revenue": MONEY, "refunds": MONEY,
                "net_revenue": MONEY, "avg_order_value": MONEY, "failed_payments": pl.Int64, "failed_rate": pl.Float64},
        orient="row",
    )


def kpi_frame(rows: list[tuple[str, str, str, float | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"kpi": [r[0] for r in rows], "value": [Decimal(r[1]) for r in rows],
         "previous": [Decimal(r[2]) for r in rows], "change": [r[3] for r in rows]},
        schema={"kpi": pl.String, "value": MONEY, "previous": MONEY, "change": pl.Float64},
    )


MRR_SCHEMA = {"month": pl.Date, "mrr": MONEY, "arr": MONEY, "customers": pl.Int64, "arpu": MONEY, "new_mrr": MONEY,
              "reactivation_mrr": MONEY, "expansion_mrr": MONEY, "contraction_mrr": MONEY, "churned_mrr": MONEY,
              "net_new_mrr": MONEY}


def mrr_frame(rows: list[tuple]) -> pl.DataFrame:
    """(month, mrr, arr, customers, arpu, new, reactivation, expansion, contraction, churned, net_new)."""
    return pl.DataFrame(
        [(d(r[0]), *(Decimal(v) if isinstance(v, str) else v for v in r[1:])) for r in rows],
        schema=MRR_SCHEMA, orient="row",
    )


def value_frame(rows: list[tuple]) -> pl.DataFrame:
    """(user_id, orders, total_spent, first, last, aov, recency_days, frequency)."""
    return pl.DataFrame(
        [(r[0], r[1], Decimal(r[2]), d(r[3]), d(r[4]), Decimal(r[5]), r[6], r[7]) for r in rows],
        schema={"user_id": pl.String, "orders": pl.Int64, "total_spent": MONEY, "first_purchase": pl.Date,
                "last_purchase": pl.Date, "avg_order_value": MONEY, "recency_days": pl.Int64, "frequency": pl.Float64},
        orient="row",
    )


def search_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        [(*r[:5], datetime.fromisoformat(r[5]), datetime.fromisoformat(r[6])) for r in rows],
        schema={"user_id": pl.String, "email": pl.String, "name": pl.String, "country": pl.String, "plan": pl.String,
                "signup_at": TS, "last_seen": TS},
        orient="row",
    )


# -- 1. five and more metrics under the scope DE, AT, each against the unscoped result ----------


def test_active_users_under_a_country_scope(store):
    query = q(*WEEKS)
    assert_frame_equal(registry.run("active_users", store, query), active_frame([
        ("2024-01-01", 2),  # u1 (Jan 2), u3 (Jan 3)
        ("2024-01-08", 5),  # u1, u2, u3, u4, u5
    ]))
    assert_frame_equal(registry.run("active_users", store, query.scoped(**DE_AT)), active_frame([
        ("2024-01-01", 1),  # u1; the US u3 is out of scope
        ("2024-01-08", 3),  # u1, u2 (AT), u5
    ]))


def test_new_users_under_a_country_scope(store):
    query = q(*WEEKS)
    assert_frame_equal(registry.run("new_users", store, query), new_users_frame([
        ("2024-01-01", 3, 3),  # u1, u3, u2
        ("2024-01-08", 2, 5),  # u4, u5
    ]))
    assert_frame_equal(registry.run("new_users", store, query.scoped(**DE_AT)), new_users_frame([
        ("2024-01-01", 2, 2),  # u1, u2
        ("2024-01-08", 1, 3),  # u5
    ]))


def test_revenue_under_a_country_scope(store):
    query = q(*WEEKS)
    assert_frame_equal(registry.run("revenue", store, query), revenue_frame([
        # t1 100 + t3 200, two buyers
        ("2024-01-01", 2, 2, "300", "0", "300", "150", 0, 0.0),
        # t2 40 + t6 10 + t7 30; t5 refunds 25; t4 failed: 1 / (1 + 3)
        ("2024-01-08", 3, 3, "80", "25", "55", "26.67", 1, 0.25),
    ]))
    assert_frame_equal(registry.run("revenue", store, query.scoped(**DE_AT)), revenue_frame([
        ("2024-01-01", 1, 1, "100", "0", "100", "100", 0, 0.0),  # t1 only
        ("2024-01-08", 2, 2, "50", "25", "25", "25", 0, 0.0),    # t2 + t6, the refund t5; the US t4 and t7 are gone
    ]))


def test_kpis_under_a_country_scope(store):
    query = q(*KPI_RANGE)
    assert_frame_equal(registry.run("kpis", store, query), kpi_frame([
        ("total_users", "5", "3", 2 / 3),            # all five; u1, u2, u3 by Jan 7
        ("active_users", "5", "2", 1.5),             # everyone; u1, u3
        ("new_users", "2", "3", -1 / 3),             # u4, u5; u1, u2, u3
        ("mrr", "70", "70", 0.0),                    # s1 20 + s2 50 at both ends
        ("net_revenue", "55", "300", -245 / 300),    # 80 - 25; 100 + 200
        ("transactions", "3", "2", 0.5),             # t2, t6, t7; t1, t3
        ("failed_payments", "1", "0", None),         # t4; none
    ]))
    assert_frame_equal(registry.run("kpis", store, query.scoped(**DE_AT)), kpi_frame([
        ("total_users", "3", "2", 0.5),              # u1, u2, u5; u1, u2
        ("active_users", "3", "1", 2.0),             # u1, u2, u5; u1
        ("new_users", "1", "2", -0.5),               # u5; u1, u2
        ("mrr", "20", "20", 0.0),                    # s1 only (s2 is the US u3's)
        ("net_revenue", "25", "100", -0.75),         # 40 + 10 - 25; 100
        ("transactions", "2", "1", 1.0),             # t2, t6; t1
        ("failed_payments", "0", "0", None),         # the failed t4 is the US u4's
    ]))


def test_mrr_under_a_country_scope(store):
    query = q("2024-01-01", "2024-02-29", "month")
    assert_frame_equal(registry.run("mrr", store, query), mrr_frame([
        # December ended at 70 (s1 + s2); s2 ends Jan 20: churned 50
        ("2024-01-01", "20", "240", 1, "20", "0", "0", "0", "0", "50", "-50"),
        # s3 (u5) is new: 20 + 30
        ("2024-02-01", "50", "600", 2, "25", "30", "0", "0", "0", "0", "30"),
    ]))
    assert_frame_equal(registry.run("mrr", store, query.scoped(**DE_AT)), mrr_frame([
        # the churn of the US u3's s2 is out of scope: nothing moves in January
        ("2024-01-01", "20", "240", 1, "20", "0", "0", "0", "0", "0", "0"),
        ("2024-02-01", "50", "600", 2, "25", "30", "0", "0", "0", "0", "30"),
    ]))


def test_customer_value_under_a_country_scope(store):
    query = q(*KPI_RANGE)  # as of Jan 14
    assert_frame_equal(registry.run("customer_value", store, query), value_frame([
        # 100 - 25 refunded; Jan 5 -> Jan 14 is 9 days, 10 counted: 1 x 30 / 10
        ("u1", 1, "75", "2024-01-05", "2024-01-05", "100", 9, 3.0),
        ("u2", 1, "40", "2024-01-09", "2024-01-09", "40", 5, 5.0),      # 30 / 6
        ("u3", 2, "230", "2024-01-05", "2024-01-13", "115", 1, 6.0),    # 200 + 30; 2 x 30 / 10
        ("u5", 1, "10", "2024-01-12", "2024-01-12", "10", 2, 10.0),     # 30 / 3; u4 only failed
    ]))
    assert_frame_equal(registry.run("customer_value", store, query.scoped(**DE_AT)), value_frame([
        ("u1", 1, "75", "2024-01-05", "2024-01-05", "100", 9, 3.0),
        ("u2", 1, "40", "2024-01-09", "2024-01-09", "40", 5, 5.0),
        ("u5", 1, "10", "2024-01-12", "2024-01-12", "10", 2, 10.0),
    ]))


# -- 2. a scope by plan, a scope with a filter inside it and one outside it ---------------------


def test_revenue_under_a_plan_scope(store):
    # free: u2 (AT) and u4 (US)
    assert_frame_equal(registry.run("revenue", store, q(*WEEKS).scoped(plans=("free",))), revenue_frame([
        ("2024-01-01", 0, 0, "0", "0", "0", None, 0, None),
        ("2024-01-08", 1, 1, "40", "0", "40", "40", 1, 0.5),  # t2; t4 failed: 1 / (1 + 1)
    ]))


def test_active_users_under_a_country_and_plan_scope(store):
    # DE or AT, and pro: u1, u5 (u2 is free, u3 in the US)
    assert_frame_equal(registry.run("active_users", store, q(*WEEKS).scoped(countries=("DE", "AT"), plans=("pro",))),
                       active_frame([("2024-01-01", 1), ("2024-01-08", 2)]))


def test_a_filter_inside_the_scope_gives_the_intersection(store):
    # country=DE within DE, AT: u1 and u5
    query = q(*WEEKS, country="DE").scoped(**DE_AT)
    assert_frame_equal(registry.run("revenue", store, query), revenue_frame([
        ("2024-01-01", 1, 1, "100", "0", "100", "100", 0, 0.0),   # t1
        ("2024-01-08", 1, 1, "10", "25", "-15", "10", 0, 0.0),    # t6, and u1's refund t5
    ]))
    assert_frame_equal(registry.run("new_users", store, query), new_users_frame([
        ("2024-01-01", 1, 1),  # u1
        ("2024-01-08", 1, 2),  # u5
    ]))
    # A plan filter within a country scope: AT or DE, and free: u2 only.
    assert_frame_equal(registry.run("active_users", store, q(*WEEKS, plan="free").scoped(**DE_AT)),
                       active_frame([("2024-01-01", 0), ("2024-01-08", 1)]))


def test_a_filter_outside_the_scope_gives_zeros(store):
    assert_frame_equal(registry.run("revenue", store, q(*WEEKS, country="US").scoped(**DE_AT)), revenue_frame([
        ("2024-01-01", 0, 0, "0", "0", "0", None, 0, None),
        ("2024-01-08", 0, 0, "0", "0", "0", None, 0, None),
    ]))
    assert_frame_equal(registry.run("active_users", store, q(*WEEKS, country="US").scoped(**DE_AT)),
                       active_frame([("2024-01-01", 0), ("2024-01-08", 0)]))
    assert_frame_equal(registry.run("kpis", store, q(*KPI_RANGE, country="US").scoped(**DE_AT)), kpi_frame([
        (kpi, "0", "0", None) for kpi in
        ("total_users", "active_users", "new_users", "mrr", "net_revenue", "transactions", "failed_payments")
    ]))


# -- 3. the CSV of a scoped metric ---------------------------------------------------------------


def test_scoped_revenue_exports_as_exact_csv(store):
    assert to_csv(registry.run("revenue", store, q(*WEEKS).scoped(**DE_AT))) == (
        "period,orders,buyers,gross_revenue,refunds,net_revenue,avg_order_value,failed_payments,failed_rate\n"
        "2024-01-01,1,1,100.00,0.00,100.00,100.00,0,0.0\n"
        "2024-01-08,2,2,50.00,25.00,25.00,25.00,0,0.0\n"
    )


def test_scoped_kpis_export_as_exact_csv(store):
    assert to_csv(registry.run("kpis", store, q(*KPI_RANGE).scoped(**DE_AT))) == (
        "kpi,value,previous,change\n"
        "total_users,3.00,2.00,0.5\n"
        "active_users,3.00,1.00,2.0\n"
        "new_users,1.00,2.00,-0.5\n"
        "mrr,20.00,20.00,0.0\n"
        "net_revenue,25.00,100.00,-0.75\n"
        "transactions,2.00,1.00,1.0\n"
        "failed_payments,0.00,0.00,\n"
    )


# -- 4. the user page: lookups and search within the scope ----------------------------------------


def test_user_profile_outside_the_scope_is_refused(store):
    query = q(*KPI_RANGE, user_id="u3").scoped(**DE_AT)
    with pytest.raises(QueryError) as refused:
        registry.run("user_profile", store, query)
    assert str(refused.value) == "There is no user 'u3' in the store within your data scope; search by id, email or name."
    # Every user-page metric looks the user up the same way.
    with pytest.raises(QueryError) as refused:
        registry.run("user_hours", store, query)
    assert str(refused.value) == "There is no user 'u3' in the store within your data scope; search by id, email or name."


def test_user_profile_outside_a_plan_scope_is_refused(store):
    with pytest.raises(QueryError) as refused:
        registry.run("user_profile", store, q(*KPI_RANGE, user_id="u2").scoped(plans=("pro",)))
    assert str(refused.value) == "There is no user 'u2' in the store within your data scope; search by id, email or name."


def test_user_profile_inside_the_scope_is_shown_whatever_the_filters(store):
    # The filter bar's country=US does not hide the chosen user; only the scope does.
    out = registry.run("user_profile", store, q(*KPI_RANGE, user_id="u2", country="US").scoped(**DE_AT))
    expected = pl.DataFrame(
        [("u2", "ben@example.com", "Ben Gruber", datetime(2024, 1, 5, 9), "AT", None, None, "free", False,
          datetime(2024, 1, 9, 11), datetime(2024, 1, 9, 11), 1,
          # one session over Jan 9 - 14, 6 days: 1 x 7 / 6; a one-event session lasts 0 s
          7 / 6, 0.0,
          Decimal("40"), 1, Decimal("40"), Decimal("0"))],
        schema={"user_id": pl.String, "email": pl.String, "name": pl.String, "signup_at": TS, "country": pl.String,
                "timezone": pl.String, "auth_provider": pl.String, "plan": pl.String, "marketing_opt_in": pl.Boolean,
                "first_seen": TS, "last_seen": TS, "active_days": pl.Int64, "sessions_per_week": pl.Float64,
                "avg_session_s": pl.Float64, "total_spent": MONEY, "orders": pl.Int64, "avg_monthly_spend": MONEY,
                "current_mrr": MONEY},
        orient="row",
    )
    assert_frame_equal(out, expected)


def test_user_search_lists_only_users_in_the_scope(store):
    anna = ("u1", "anna@example.com", "Anna Berg", "DE", "pro", "2024-01-02 09:00", "2024-01-09 10:00")
    ben = ("u2", "ben@example.com", "Ben Gruber", "AT", "free", "2024-01-05 09:00", "2024-01-09 11:00")
    cara = ("u3", "cara@example.com", "Cara Smith", "US", "pro", "2024-01-03 09:00", "2024-01-10 10:00")
    dan = ("u4", "dan@example.com", "Dan Jones", "US", "free", "2024-01-10 09:00", "2024-01-11 10:00")
    eva = ("u5", "eva@example.com", "Eva Klein", "DE", "pro", "2024-01-12 09:00", "2024-01-13 10:00")
    query = q(*KPI_RANGE, text="@example.com")
    assert_frame_equal(registry.run("user_search", store, query), search_frame([anna, ben, cara, dan, eva]))
    assert_frame_equal(registry.run("user_search", store, query.scoped(**DE_AT)), search_frame([anna, ben, eva]))
    assert_frame_equal(registry.run("user_search", store, query.scoped(plans=("free",))), search_frame([ben, dan]))
    # An exact id outside the scope finds nobody.
    assert registry.run("user_search", store, q(*KPI_RANGE, text="u3").scoped(**DE_AT)).rows() == []
    # "an" starts Anna's name and email and is inside Dan's; Dan is in the US.
    assert_frame_equal(registry.run("user_search", store, q(*KPI_RANGE, text="an")), search_frame([anna, dan]))
    assert to_csv(registry.run("user_search", store, q(*KPI_RANGE, text="an").scoped(**DE_AT))) == (
        "user_id,email,name,country,plan,signup_at,last_seen\n"
        "u1,anna@example.com,Anna Berg,DE,pro,2024-01-02 09:00:00,2024-01-09 10:00:00\n"
    )
