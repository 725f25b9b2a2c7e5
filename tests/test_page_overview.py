"""The whole app (router, filter bar, freshness) with the Overview page, through AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from conftest import build_store, shown
from streamlit.testing.v1 import AppTest
from test_overview_metrics import EVENTS, SUBSCRIPTIONS, TRANSACTIONS, USERS

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def app(tmp_path, monkeypatch):
    """app(store=True, **url) -> AppTest of app.py after one run, with these URL parameters."""

    def run(store: bool = True, **url: str) -> AppTest:
        path = tmp_path / "pulse.duckdb"
        if store:
            build_store(path, users=USERS, events=EVENTS, transactions=TRANSACTIONS, subscriptions=SUBSCRIPTIONS)
        monkeypatch.setenv("PULSE_STORE", str(path))
        monkeypatch.setenv("PULSE_CONFIG", str(tmp_path / "none.toml"))
        st.cache_resource.clear()
        st.cache_data.clear()
        at = AppTest.from_file(APP, default_timeout=60)
        for key, value in url.items():
            at.query_params[key] = value
        at.run()
        assert not at.exception, at.exception
        return at

    return run


def test_overview_shows_the_kpis_of_the_linked_range(app):
    at = app(range="custom", start="2024-01-08", end="2024-01-14")
    assert [t.value for t in at.title] == ["Overview"]
    assert {m.label: (m.value, m.delta) for m in at.metric} == {
        "Total users": ("2", "+100.0% vs previous"),
        "Active users": ("2", "+100.0% vs previous"),
        "New users": ("1", "+0.0% vs previous"),
        "MRR (at end)": ("$29.00", "+0.0% vs previous"),
        "Net revenue": ("$120.00", "+500.0% vs previous"),
        "Transactions": ("2", "+100.0% vs previous"),
        "Failed payments": ("1", ""),
    }
    assert len(at.get("vega_lite_chart")) == 3
    assert "Days in UTC · money in USD" in at.sidebar.caption[0].value


def test_a_range_without_activity_says_where_the_data_is(app):
    at = app(range="custom", start="2020-01-01", end="2020-01-31")
    assert [i.value for i in at.info] == [
        "Nobody was active or signed up between 2020-01-01 and 2020-01-31. "
        "The data covers 2024-01-03 to 2024-01-10: pick a range inside it."
    ]
    assert len(at.get("vega_lite_chart")) == 0


def test_a_bad_link_is_a_warning_not_an_error(app):
    at = app(range="custom", start="yesterday", end="2024-01-14")
    assert any("is not a date" in shown(w.value) for w in at.sidebar.warning)
    assert [t.value for t in at.title] == ["Overview"]


def test_an_unknown_device_in_a_link_is_a_warning(app):
    at = app(device_type="fridge")
    assert [shown(w.value) for w in at.sidebar.warning] == [
        "Unknown device_type 'fridge'; use one of: desktop, mobile, tablet, other. Showing every device."]
    assert [t.value for t in at.title] == ["Overview"]


def test_a_country_nobody_has_is_a_warning(app):
    at = app(country="ZZ", range="custom", start="2024-01-08", end="2024-01-14")
    assert [shown(w.value) for w in at.sidebar.warning] == ["The link's country 'ZZ' matches no one in the store; showing every country."]
    assert at.metric[0].value == "2"


def test_a_link_with_dates_alone_means_those_dates(app):
    at = app(start="2024-01-08", end="2024-01-14")
    assert at.caption[0].value.startswith("2024-01-08 – 2024-01-14")


def test_without_a_store_the_app_says_how_to_get_data(app):
    at = app(store=False)
    assert [t.value for t in at.title] == ["Welcome to Pulse"]
    assert "pulse demo" in at.markdown[0].value
