"""The whole app (router, filter bar, freshness) on the Data page, through AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from conftest import build_store
from streamlit.testing.v1 import AppTest

from loaders.load import load_files
from loaders.validate import LoadError
from pulse.store import Store

APP = str(Path(__file__).resolve().parent.parent / "app.py")
USERS = [{"user_id": "u1", "signup_at": "2024-01-02 09:00"}]
EVENTS = [{"event_id": "e1", "user_id": "u1", "ts": "2024-01-03 10:00", "event_type": "login"}]
BAD_EVENTS = ("event_id,user_id,ts,event_type,page_path\n"
              "x1,u1,yesterday,login,\n"
              "x2,,2024-01-06T10:00:00Z,login,\n"
              "x3,u1,2024-01-06T10:00:00Z,clik,\n"
              "x4,u1,tomorrow,login,\n")
BAD_USERS = "user_id,signup_at,country\nu7,2024-01-02T09:00:00Z,Germany\n"


@pytest.fixture
def store_path(tmp_path):
    """A store with one user and one event, and nothing set aside yet."""
    path = tmp_path / "pulse.duckdb"
    build_store(path, users=USERS, events=EVENTS)
    return path


@pytest.fixture
def bad_loads(store_path, tmp_path):
    """Two loads with bad rows (four events, then one user) and one that failed; their results by table."""
    store, results = Store(store_path), {}
    for table, text in (("events", BAD_EVENTS), ("users", BAD_USERS)):
        (tmp_path / f"{table}.csv").write_text(text)
        results[table] = load_files(store, table, [tmp_path / f"{table}.csv"])
    with pytest.raises(LoadError):
        load_files(store, "events", [tmp_path / "missing.csv"])
    return results


@pytest.fixture
def data_page(store_path, tmp_path, monkeypatch):
    """data_page() -> AppTest of app.py switched to the Data page, after one run."""
    monkeypatch.setenv("PULSE_STORE", str(store_path))
    monkeypatch.setenv("PULSE_CONFIG", str(tmp_path / "none.toml"))

    def run() -> AppTest:
        st.cache_resource.clear()
        st.cache_data.clear()
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        at.switch_page("pages/data.py").run()
        assert not at.exception, at.exception
        assert not at.error, [e.value for e in at.error]
        return at

    return run


def table_with(at: AppTest, column: str):
    """The first table on the page that has this column, as pandas."""
    return next(t.value for t in at.dataframe if column in t.value.columns)


def test_the_sections_render(bad_loads, data_page):
    at = data_page()
    assert [t.value for t in at.title] == ["Data"]
    assert [h.value for h in at.subheader] == ["Store", "Loads", "Quarantine"]
    assert table_with(at, "subscriptions").to_dict("records") == [
        {"users": 1, "events": 1, "transactions": 0, "subscriptions": 0, "quarantine": 5}]
    log = table_with(at, "outcome")
    assert log["outcome"].tolist() == ["failed", "ok", "ok"]
    assert log["quarantined"].tolist() == [0, 1, 4]
    assert log["error"][0].endswith("missing.csv: the file does not exist.")
    assert table_with(at, "rows").to_dict("records") == [
        {"table_name": "events", "rule": "bad timestamp in ts", "rows": 2},
        {"table_name": "events", "rule": "missing user_id", "rows": 1},
        {"table_name": "events", "rule": "unknown event_type 'clik'", "rows": 1},
        {"table_name": "users", "rule": "bad country code", "rows": 1},
    ]
    rows = table_with(at, "row_number")
    assert list(zip(rows["table_name"], rows["row_number"], rows["rule"], strict=True)) == [
        ("events", 1, "bad timestamp in ts"), ("events", 2, "missing user_id"), ("events", 3, "unknown event_type 'clik'"),
        ("events", 4, "bad timestamp in ts"), ("users", 1, "bad country code"),
    ]
    # The first row's raw text, shown as JSON (never as markdown).
    assert [j.value for j in at.json] == ['{"event_id":"x1","user_id":"u1","ts":"yesterday","event_type":"login","page_path":""}']
    assert [b.label for b in at.get("download_button")] == ["Download CSV"] * 4 + ["Download every matching row"]


def test_the_filters_offer_what_is_there_and_narrow_the_rows(bad_loads, data_page, tmp_path):
    at = data_page()
    assert at.selectbox(key="quarantine-table").options == ["All", "events", "users"]
    assert at.selectbox(key="quarantine-rule").options == [
        "All", "bad country code", "bad timestamp in ts", "missing user_id", "unknown event_type 'clik'"]
    # Loads are named by when they started and what they read, the newest first.
    loads = at.selectbox(key="quarantine-load").options
    assert [name.split(" · ")[1] for name in loads[1:]] == [f"users from {tmp_path / 'users.csv'}",
                                                            f"events from {tmp_path / 'events.csv'}"]

    at.selectbox(key="quarantine-rule").set_value("bad timestamp in ts").run()
    rows = table_with(at, "row_number")
    assert rows["row_number"].tolist() == [1, 4] and set(rows["rule"]) == {"bad timestamp in ts"}

    at.selectbox(key="quarantine-table").set_value("users").run()
    assert [i.value for i in at.info] == ["No quarantined row matches these choices."]
    assert not at.exception

    at.selectbox(key="quarantine-rule").set_value("All").run()
    at.selectbox(key="quarantine-load").set_value(bad_loads["users"].load_id).run()
    rows = table_with(at, "row_number")
    assert rows["rule"].tolist() == ["bad country code"]
    assert [j.value for j in at.json] == ['{"user_id":"u7","signup_at":"2024-01-02T09:00:00Z","country":"Germany"}']


def test_an_empty_quarantine_says_so(data_page):
    at = data_page()
    assert [s.value for s in at.success] == ["The quarantine is empty: every row loaded so far kept the data contract."]
    assert not any("row_number" in t.value.columns for t in at.dataframe)
    # Nothing was loaded through a loader, so the log is empty too, and says so.
    assert "Nothing has been loaded yet" in at.info[0].value


def test_a_failed_load_shows_at_once_and_a_corrupt_log_line_breaks_nothing(store_path, tmp_path, data_page):
    assert data_page().info[0].value.startswith("Nothing has been loaded yet")
    store = Store(store_path)
    with pytest.raises(LoadError):
        load_files(store, "users", [tmp_path / "nowhere.csv"])
    with open(store.log_path, "a") as log:
        log.write('{"source": "events from cut.csv", "sta\n')
    # A failed load does not change the store (the caches' key): the log is read afresh anyway.
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/data.py").run()
    assert not at.exception
    assert table_with(at, "outcome")[["outcome", "source"]].values.tolist() == [
        ["unreadable", "line 2 of the load log"], ["failed", f"users from {tmp_path / 'nowhere.csv'}"]]
