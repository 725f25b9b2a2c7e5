"""kpis: the overview's headline figures against the previous range of equal length."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
from conftest import q
from polars.testing import assert_frame_equal

from metrics import registry
from pulse.export import to_csv

USERS = [
    {"user_id": "u1", "signup_at": "2024-01-02 09:00", "country": "DE"},
    {"user_id": "u2", "signup_at": "2024-01-09 09:00", "country": "US"},
    {"user_id": "u3", "signup_at": "2024-01-20 09:00", "country": "US"},
]
EVENTS = [
    {"event_id": "e1", "user_id": "u1", "ts": "2024-01-03 10:00", "event_type": "login"},
    {"event_id": "e2", "user_id": "u1", "ts": "2024-01-10 10:00", "event_type": "login"},
    {"event_id": "e3", "user_id": "u2", "ts": "2024-01-09 10:00", "event_type": "login"},
]
TRANSACTIONS = [
    {"transaction_id": "t0", "user_id": "u1", "ts": "2024-01-05 10:00", "kind": "purchase", "amount": "20"},
    {"transaction_id": "t1", "user_id": "u1", "ts": "2024-01-10 10:00", "kind": "purchase", "amount": "100"},
    {"transaction_id": "t2", "user_id": "u2", "ts": "2024-01-11 10:00", "kind": "purchase", "amount": "50", "status": "failed"},
    {"transaction_id": "t3", "user_id": "u2", "ts": "2024-01-12 10:00", "kind": "purchase", "amount": "50"},
    {"transaction_id": "t4", "user_id": "u1", "ts": "2024-01-13 10:00", "kind": "refund", "amount": "30", "refund_of": "t1"},
    # Another currency never mixes into revenue.
    {"transaction_id": "t5", "user_id": "u2", "ts": "2024-01-10 10:00", "kind": "purchase", "amount": "999", "currency": "EUR"},
]
SUBSCRIPTIONS = [
    {"subscription_id": "s1", "user_id": "u1", "plan": "pro", "mrr": "29", "started_at": "2023-12-01 00:00"},
    # Ends before the range's end: not in the MRR at the end.
    {"subscription_id": "s2", "user_id": "u2", "plan": "pro", "mrr": "99", "started_at": "2024-01-09 00:00", "ended_at": "2024-01-14 12:00"},
    # Starts exactly at the instant the range ends: not yet counted.
    {"subscription_id": "s3", "user_id": "u3", "plan": "enterprise", "mrr": "199", "started_at": "2024-01-15 00:00"},
]


def expected(rows: list[tuple[str, str, str, float | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "kpi": [r[0] for r in rows],
            "value": [Decimal(r[1]) for r in rows],
            "previous": [Decimal(r[2]) for r in rows],
            "change": [r[3] for r in rows],
        },
        schema={"kpi": pl.String, "value": pl.Decimal(18, 2), "previous": pl.Decimal(18, 2), "change": pl.Float64},
    )


def test_kpis_against_the_previous_range(make_store):
    store = make_store(users=USERS, events=EVENTS, transactions=TRANSACTIONS, subscriptions=SUBSCRIPTIONS)
    # Range Jan 8-14, previous range Jan 1-7.
    out = registry.run("kpis", store, q("2024-01-08", "2024-01-14"))
    assert_frame_equal(out, expected([
        ("total_users", "2", "1", 1.0),        # u1, u2 signed up by Jan 14; u1 by Jan 7
        ("active_users", "2", "1", 1.0),       # u1 + u2; u1
        ("new_users", "1", "1", 0.0),          # u2; u1
        ("mrr", "29", "29", 0.0),              # s1 only at both ends
        ("net_revenue", "120", "20", 5.0),     # 100 + 50 - 30 refund; 20. (120 - 20) / 20
        ("transactions", "2", "1", 1.0),       # t1, t3; t0
        ("failed_payments", "1", "0", None),   # t2; none, so no change can be computed
    ]))


def test_kpis_with_a_country_filter(make_store):
    store = make_store(users=USERS, events=EVENTS, transactions=TRANSACTIONS, subscriptions=SUBSCRIPTIONS)
    out = registry.run("kpis", store, q("2024-01-08", "2024-01-14", country="us"))
    assert_frame_equal(out, expected([
        ("total_users", "1", "0", None),
        ("active_users", "1", "0", None),
        ("new_users", "1", "0", None),
        ("mrr", "0", "0", None),
        ("net_revenue", "50", "0", None),
        ("transactions", "1", "0", None),
        ("failed_payments", "1", "0", None),
    ]))


def test_kpis_on_an_empty_range_are_zero(make_store):
    store = make_store(users=USERS, events=EVENTS)
    out = registry.run("kpis", store, q("2023-06-01", "2023-06-30"))
    assert_frame_equal(out, expected([(k, "0", "0", None) for k in
                                      ("total_users", "active_users", "new_users", "mrr", "net_revenue", "transactions", "failed_payments")]))


def test_kpis_export_as_exact_csv(make_store):
    store = make_store(users=USERS, events=EVENTS, transactions=TRANSACTIONS, subscriptions=SUBSCRIPTIONS)
    assert to_csv(registry.run("kpis", store, q("2024-01-08", "2024-01-14"))) == (
        "kpi,value,previous,change\n"
        "total_users,2.00,1.00,1.0\n"
        "active_users,2.00,1.00,1.0\n"
        "new_users,1.00,1.00,0.0\n"
        "mrr,29.00,29.00,0.0\n"
        "net_revenue,120.00,20.00,5.0\n"
        "transactions,2.00,1.00,1.0\n"
        "failed_payments,1.00,0.00,\n"
    )
