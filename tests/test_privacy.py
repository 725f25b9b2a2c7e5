"""Personal data requests: export everything stored about a user, or erase it and log who asked."""

from __future__ import annotations

import json

import polars as pl
import pytest
from conftest import build_store

from pulse.privacy import export_user, forget_user
from pulse.store import StoreError

TABLES = {
    "users": [
        {"user_id": "u1", "email": "ann@example.com", "name": "Ann", "signup_at": "2024-01-02 09:00", "country": "DE",
         "marketing_opt_in": True},
        {"user_id": "u2", "signup_at": "2024-01-03 09:00"},
    ],
    "events": [
        {"event_id": "e1", "user_id": "u1", "ts": "2024-01-03 10:00", "event_type": "feature_use", "event_name": "export",
         "device_type": "mobile", "properties": '{"category": "reports"}'},
        {"event_id": "e2", "user_id": "u2", "ts": "2024-01-03 11:00", "event_type": "login"},
    ],
    "transactions": [
        {"transaction_id": "t1", "user_id": "u1", "ts": "2024-01-10 10:00", "kind": "purchase", "amount": "19.99",
         "category": "compute"},
        {"transaction_id": "t2", "user_id": "u2", "ts": "2024-01-10 11:00", "kind": "purchase", "amount": "5"},
    ],
    "subscriptions": [
        {"subscription_id": "s1", "user_id": "u1", "plan": "pro", "mrr": "29", "started_at": "2024-01-15 09:00"},
    ],
}


@pytest.fixture
def store(tmp_path):
    store = build_store(tmp_path / "pulse.duckdb", **TABLES)
    with store.writer("a file with a bad row") as writer:
        writer.quarantine("events", pl.DataFrame({
            "source": ["events.csv"], "row_number": [7], "rule": ["ts is required"],
            "raw": ['{"event_id": "e9", "user_id": "u1", "ts": ""}'],
        }))
    return store


def test_export_user_holds_every_stored_row_as_json(store):
    document = export_user(store, "u1")
    json.dumps(document)  # serialisable as it is
    assert document["user_id"] == "u1"
    assert document["tables"]["users"] == [{
        "user_id": "u1", "email": "ann@example.com", "name": "Ann", "signup_at": "2024-01-02T09:00:00", "country": "DE",
        "timezone": None, "auth_provider": None, "plan": None, "marketing_opt_in": True,
    }]
    assert document["tables"]["events"] == [{
        "event_id": "e1", "user_id": "u1", "ts": "2024-01-03T10:00:00", "event_type": "feature_use", "event_name": "export",
        "page_path": None, "session_id": None, "device_type": "mobile", "browser": None, "os": None, "country_code": None,
        "referrer": None, "properties": {"category": "reports"},
    }]
    assert document["tables"]["transactions"] == [{
        "transaction_id": "t1", "user_id": "u1", "ts": "2024-01-10T10:00:00", "kind": "purchase", "status": "succeeded",
        "amount": "19.9900", "currency": "USD", "product_id": None, "product_name": None, "category": "compute",
        "provider": None, "payment_method": None, "plan": None, "refund_of": None,
    }]
    assert document["tables"]["subscriptions"] == [{
        "subscription_id": "s1", "user_id": "u1", "plan": "pro", "mrr": "29.0000", "started_at": "2024-01-15T09:00:00",
        "ended_at": None, "cancel_reason": None,
    }]
    [quarantined] = document["tables"]["quarantine"]
    assert {k: quarantined[k] for k in ("table_name", "source", "row_number", "rule", "raw")} == {
        "table_name": "events", "source": "events.csv", "row_number": 7, "rule": "ts is required",
        "raw": {"event_id": "e9", "user_id": "u1", "ts": ""},
    }


def test_export_of_an_unknown_user_is_a_clear_error(store):
    with pytest.raises(StoreError, match="There is no user 'nobody' in the store: nothing to export."):
        export_user(store, "nobody")


def test_forget_user_erases_every_row_and_logs_who_asked(store):
    hashed, removed = forget_user(store, "u1", actor="dpo@example.com")
    assert removed == {"users": 1, "events": 1, "transactions": 1, "subscriptions": 1, "quarantine": 1}
    for table in ("users", "events", "transactions", "subscriptions", "user_days", "feature_days", "sessions", "people"):
        assert store.scalar(f"SELECT count(*) FROM {table} WHERE user_id = 'u1'") == 0, table
    assert store.scalar("SELECT count(*) FROM quarantine WHERE raw LIKE '%u1%'") == 0
    # The other user is untouched, derived tables included.
    assert store.scalar("SELECT count(*) FROM people WHERE user_id = 'u2'") == 1
    assert store.scalar("SELECT count(*) FROM transactions WHERE user_id = 'u2'") == 1
    entry = store.load_log()[-1]
    assert entry["erased_user"] == hashed
    assert store.scalar("SELECT list(id_hash) FROM erased_users") == [hashed]
    assert {k: entry[k] for k in ("source", "outcome", "actor", "removed")} == {
        "source": f"forget {hashed}", "outcome": "erased", "actor": "dpo@example.com", "removed": removed,
    }
    assert entry["started"] <= entry["finished"]


def test_forgetting_an_unknown_user_changes_nothing(store):
    version, log = store.version(), store.load_log()
    with pytest.raises(StoreError, match="There is no user 'nobody' in the store: nothing was erased."):
        forget_user(store, "nobody", actor="dpo@example.com")
    assert store.version() == version
    assert store.load_log() == log
