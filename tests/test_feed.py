"""live_feed on literal rows: each kind of item, the large-payment threshold, the currency,
the end of the range, filters and the data scope, newest first."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import polars as pl
from conftest import q
from polars.testing import assert_frame_equal

from metrics import registry

USERS = [
    {"user_id": "u1", "email": "ann@example.com", "signup_at": "2026-01-01 09:00", "country": "DE", "plan": "pro"},
    {"user_id": "u2", "email": "bob@example.com", "signup_at": "2026-01-02 09:00", "country": "AT", "plan": "free"},
    {"user_id": "u3", "email": "cy@example.com", "signup_at": "2026-01-09 09:00", "country": "DE", "plan": "free"},
]
TRANSACTIONS = [
    {"transaction_id": "t1", "user_id": "u1", "ts": "2026-01-03 10:00", "kind": "purchase", "status": "succeeded",
     "amount": "250.00", "currency": "USD", "product_name": "Annual"},        # large
    {"transaction_id": "t2", "user_id": "u1", "ts": "2026-01-03 11:00", "kind": "purchase", "status": "succeeded",
     "amount": "20.00", "currency": "USD", "product_name": "Addon"},         # small: not in the feed
    {"transaction_id": "t3", "user_id": "u2", "ts": "2026-01-04 10:00", "kind": "subscription", "status": "failed",
     "amount": "9.00", "currency": "USD", "plan": "pro"},                    # failed
    {"transaction_id": "t4", "user_id": "u1", "ts": "2026-01-05 10:00", "kind": "refund", "status": "succeeded",
     "amount": "20.00", "currency": "USD", "refund_of": "t2"},               # refund
    {"transaction_id": "t5", "user_id": "u2", "ts": "2026-01-05 12:00", "kind": "purchase", "status": "succeeded",
     "amount": "900.00", "currency": "EUR"},                                 # another currency: left out
]
SUBSCRIPTIONS = [
    {"subscription_id": "s1", "user_id": "u2", "plan": "pro", "mrr": "29.00", "started_at": "2025-12-01 00:00",
     "ended_at": "2026-01-06 08:00", "cancel_reason": "too expensive"},
]
EVENTS = [
    {"event_id": "e1", "user_id": "u2", "ts": "2026-01-07 10:00", "event_type": "error", "event_name": "HTTP 500"},
    {"event_id": "e2", "user_id": "u1", "ts": "2026-01-07 11:00", "event_type": "page_view"},
]
TS = pl.Datetime("us")


def feed(store, end="2026-01-07", **options):
    return registry.run("live_feed", store, q("2026-01-01", end, **options))


def test_every_kind_newest_first_up_to_the_end_of_the_range(make_store):
    store = make_store(users=USERS, transactions=TRANSACTIONS, subscriptions=SUBSCRIPTIONS, events=EVENTS)
    expected = pl.DataFrame({
        "ts": [datetime(2026, 1, 7, 10), datetime(2026, 1, 6, 8), datetime(2026, 1, 5, 10), datetime(2026, 1, 4, 10),
               datetime(2026, 1, 3, 10), datetime(2026, 1, 2, 9), datetime(2026, 1, 1, 9)],
        "kind": ["error", "cancellation", "refund", "failed_payment", "large_payment", "signup", "signup"],
        "user_id": ["u2", "u2", "u1", "u2", "u1", "u2", "u1"],
        "email": ["bob@example.com", "bob@example.com", "ann@example.com", "bob@example.com", "ann@example.com",
                  "bob@example.com", "ann@example.com"],
        "detail": ["HTTP 500", "pro: too expensive", "refund", "pro", "Annual", "free", "pro"],
        "amount": [None, Decimal("29.00"), Decimal("20.00"), Decimal("9.00"), Decimal("250.00"), None, None],
    }, schema_overrides={"ts": TS, "amount": pl.Decimal(18, 2)})
    # u3 signs up on the 9th, after the range: not yet in the feed.
    assert_frame_equal(feed(store), expected)
    assert feed(store, limit=2)["kind"].to_list() == ["error", "cancellation"]
    # With the threshold at 20, the small purchase is large too (at least, not more than).
    assert feed(store, large="20")["detail"].to_list().count("Addon") == 1
    assert feed(store, end="2026-01-10")["user_id"][0] == "u3"


def test_filters_and_the_data_scope_apply(make_store):
    store = make_store(users=USERS, transactions=TRANSACTIONS, subscriptions=SUBSCRIPTIONS, events=EVENTS)
    assert feed(store, country="DE")["user_id"].unique().to_list() == ["u1"]
    scoped = registry.run("live_feed", store, q("2026-01-01", "2026-01-07").scoped(("AT",)))
    assert set(scoped["user_id"]) == {"u2"} and scoped.height == 4
