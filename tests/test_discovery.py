"""property_keys and field_values: what the trend builder offers, on a literal store."""

from __future__ import annotations

import polars as pl
from conftest import q
from polars.testing import assert_frame_equal

from metrics import registry

USERS = [{"user_id": "u1", "signup_at": "2023-12-01 00:00", "country": "DE", "plan": "pro"},
         {"user_id": "u2", "signup_at": "2023-12-01 00:00", "country": "FR"}]
EVENTS = [
    {"event_id": "e1", "user_id": "u1", "ts": "2024-01-01 10:00", "event_type": "page_view", "page_path": "/a",
     "device_type": "desktop", "properties": '{"duration": 10, "category": "x", "beta": true}'},
    {"event_id": "e2", "user_id": "u1", "ts": "2024-01-01 11:00", "event_type": "page_view", "page_path": "/a",
     "device_type": "desktop", "properties": '{"duration": "long", "category": "x"}'},
    {"event_id": "e3", "user_id": "u2", "ts": "2024-01-02 10:00", "event_type": "login",
     "properties": '{"duration": 7, "category": "y", "note": null}'},
    # Outside the range.
    {"event_id": "e4", "user_id": "u2", "ts": "2024-01-05 10:00", "event_type": "login", "properties": '{"old": 1}'},
]


def test_property_keys(make_store):
    store = make_store(users=USERS, events=EVENTS)
    out = registry.run("property_keys", store, q("2024-01-01", "2024-01-02"))
    assert_frame_equal(out, pl.DataFrame({
        # category x twice, y once; duration 10, "long", 7: numbers and text, so mixed; note is only null.
        "key": ["category", "duration", "beta"],
        "type": ["text", "mixed", "bool"],
        "events": [3, 3, 1],
        "top_values": ['["x","y"]', '["10","7","long"]', '["true"]'],
    }))


def test_field_values(make_store):
    store = make_store(users=USERS, events=EVENTS)
    out = registry.run("field_values", store, q("2024-01-01", "2024-01-02"))
    assert_frame_equal(out, pl.DataFrame({
        "field": ["event_type", "event_type", "page_path", "device_type", "country", "country", "plan",
                  "signup_month", "marketing_opt_in"],
        "value": ["page_view", "login", "/a", "desktop", "DE", "FR", "pro", "2023-12", "false"],
        # u1 has two events (DE, pro), u2 one (FR, no plan)
        "events": [2, 1, 2, 2, 2, 1, 2, 3, 3],
    }))


def test_the_filter_bar_applies(make_store):
    store = make_store(users=USERS, events=EVENTS)
    out = registry.run("field_values", store, q("2024-01-01", "2024-01-02", country="FR"))
    assert out.filter(pl.col("field") == "event_type").rows() == [("event_type", "login", 1)]
