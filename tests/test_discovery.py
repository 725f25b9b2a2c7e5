"""property_keys and field_values: what the trend builder offers, on a literal store."""

from __future__ import annotations

import polars as pl
from conftest import q
from polars.testing import assert_frame_equal

from metrics import discovery, registry

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


def test_a_range_of_more_events_than_the_sample_reads_the_sample_and_scales(make_store, monkeypatch):
    # A sample of at most one event: 3 events in the range keep buckets below 1/3 of
    # 2^31 − 1 = 2,147,483,647, i.e. below 715,827,882. An event's bucket is its time in
    # microseconds t: (t % 2,147,483,647) × 48,271 % 2,147,483,647.
    #   e1 2024-01-01 10:00, t = 1,704,103,200,000,000: bucket   440,051,452 (kept)
    #   e2 2024-01-01 11:00, t = 1,704,106,800,000,000: bucket 1,663,336,212
    #   e3 2024-01-02 10:00, t = 1,704,189,600,000,000: bucket 1,881,598,281
    # e1 stands for 2,147,483,647 / 715,827,882 = 3.000000001 events: 3.
    monkeypatch.setattr(discovery, "SAMPLE_ROWS", 1)
    store = make_store(users=USERS, events=EVENTS)
    keys = registry.run("property_keys", store, q("2024-01-01", "2024-01-02"))
    assert_frame_equal(keys, pl.DataFrame({
        "key": ["beta", "category", "duration"], "type": ["bool", "text", "number"], "events": [3, 3, 3],
        "top_values": ['["true"]', '["x"]', '["10"]'],
    }))
    values = registry.run("field_values", store, q("2024-01-01", "2024-01-02"))
    assert_frame_equal(values, pl.DataFrame({
        "field": ["event_type", "page_path", "device_type", "country", "plan", "signup_month", "marketing_opt_in"],
        "value": ["page_view", "/a", "desktop", "DE", "pro", "2023-12", "false"],
        "events": [3] * 7,
    }))
