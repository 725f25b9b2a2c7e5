"""The Explore page (AppTest): the default question, two series with a formula and a
breakdown kept in the link, and each way of showing it."""

from __future__ import annotations

import json

import pytest
from conftest import build_store, open_page

USERS = [{"user_id": "u1", "signup_at": "2026-01-01 09:00", "country": "DE", "plan": "pro"},
         {"user_id": "u2", "signup_at": "2026-01-01 09:00", "country": "AT", "plan": "free"}]
EVENTS = [
    {"event_id": "e1", "user_id": "u1", "ts": "2026-01-02 10:00", "event_type": "page_view", "device_type": "desktop",
     "page_path": "/pricing"},
    {"event_id": "e2", "user_id": "u2", "ts": "2026-01-02 11:00", "event_type": "page_view", "device_type": "mobile",
     "page_path": "/"},
    {"event_id": "e3", "user_id": "u1", "ts": "2026-01-03 10:00", "event_type": "feature_use", "device_type": "desktop",
     "event_name": "export_pdf"},
]
RANGE = {"range": "custom", "start": "2026-01-02", "end": "2026-01-03"}


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "pulse.duckdb"
    build_store(path, users=USERS, events=EVENTS)
    return path


def test_the_default_question_is_unique_users_of_any_event(store_path, monkeypatch):
    at = open_page(store_path, monkeypatch, "explore", **RANGE)
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert table["value"].tolist() == [2.0, 1.0]  # u1 and u2 on the 2nd, u1 on the 3rd


@pytest.mark.parametrize("chart", ["line", "bar", "stacked", "number", "table"])
def test_two_series_a_formula_and_a_breakdown_from_the_link(store_path, monkeypatch, chart):
    series = json.dumps([{"event": "page_view"}, {"event": "page_view", "math": "unique_users"}])
    at = open_page(store_path, monkeypatch, "explore", **RANGE, series=series, formula="A / B", breakdown="device_type",
                   chart=chart)
    assert not at.exception, at.exception
    table = at.dataframe[-1].value
    rows = sorted(zip(table["series"], table["breakdown_value"], table["period"].astype(str), table["value"]))
    # One desktop and one mobile page view on the 2nd, by one user each; none on the 3rd.
    assert [r for r in rows if r[2].startswith("2026-01-02")] == [
        ("A", "desktop", "2026-01-02", 1.0), ("A", "mobile", "2026-01-02", 1.0),
        ("A / B", "desktop", "2026-01-02", 1.0), ("A / B", "mobile", "2026-01-02", 1.0),
        ("B", "desktop", "2026-01-02", 1.0), ("B", "mobile", "2026-01-02", 1.0)]
    kept = at.query_params["series"]
    # The link now spells each series out whole.
    assert json.loads(kept[0] if isinstance(kept, list) else kept) == [
        {"source": "events", "event": "page_view", "math": "total"},
        {"source": "events", "event": "page_view", "math": "unique_users"}]
